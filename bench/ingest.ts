/**
 * Ingest speed and memory: N rows × 20 numeric + 1 categorical + an integer target, as CSV and as Parquet (the
 * same data), our full ingest (hash, checks, profile, typed Parquet copy, reference sample, snapshot into a
 * file store) against DuckDB's own scan-and-profile of the same file in the same run: `SUMMARIZE` (its built-in
 * profile) and one aggregate query computing what our profile holds (counts, missing, min, max, mean, std,
 * quantiles, category counts). Each measurement runs in a fresh process, so peak RSS is its own; the three
 * alternate `--reps` times (default 2) and the fastest of each counts, so a busy machine skews them alike.
 * Usage: npm run bench:ingest [-- --rows 1000000,10000000 --reps 2]   (files: $MLOPS_BENCH_DIR or the temp dir)
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { ingestSource } from '../activities/ingest/ingest.js';
import { openObjectStore } from '../registry/object-store.js';
import { IngestSpecSchema } from '../sdk/spec/ingest.js';

const NUMERIC = 20;
const FEATURES = Array.from({ length: NUMERIC }, (_, i) => `f${i}`);
const REGIONS = ['north', 'south', 'east', 'west', 'central'];
const here = fileURLToPath(import.meta.url);

const spec = (source: string) =>
  IngestSpecSchema.parse({
    source,
    columns: {
      ...Object.fromEntries(FEATURES.map((f) => [f, { type: 'number' }])),
      region: { type: 'string', allowed: REGIONS },
      target: { type: 'integer', min: 0, max: 1 },
    },
    target: 'target',
  });

type Mode = 'ours' | 'summarize' | 'profile';
interface Measured {
  seconds: number;
  maxRssMiB: number;
}

/** One measurement, in this (child) process. */
async function child(mode: Mode, file: string, work: string): Promise<Measured> {
  const started = performance.now();
  if (mode === 'ours') {
    const store = openObjectStore(pathToFileURL(path.join(work, 'store')).href);
    await ingestSource(store, { pipeline: 'bench', runKey: 'bench', ingest: spec(file) });
  } else {
    const instance = await DuckDBInstance.create(':memory:', {
      threads: String(Number(process.env.MLOPS_DUCKDB_THREADS) || os.availableParallelism()),
      temp_directory: path.join(work, 'duckdb-tmp'),
    });
    const connection = await instance.connect();
    const scan = file.endsWith('.parquet') ? `read_parquet('${file}')` : `read_csv('${file}')`;
    const numeric = FEATURES.map(
      (f) =>
        `count(${f}), min(${f}), max(${f}), avg(${f}), stddev_pop(${f}), approx_quantile(${f}, [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99])`,
    ).join(', ');
    const sql =
      mode === 'summarize'
        ? `SUMMARIZE SELECT * FROM ${scan}`
        : `SELECT count(*), ${numeric}, count(target), min(target), max(target), avg(target), stddev_pop(target), count(region), histogram(region) FROM ${scan}`;
    await connection.runAndReadAll(sql);
    connection.closeSync();
    instance.closeSync();
  }
  return { seconds: (performance.now() - started) / 1000, maxRssMiB: process.resourceUsage().maxRSS / 1024 };
}

async function measure(mode: Mode, file: string, work: string): Promise<Measured> {
  await fs.rm(path.join(work, 'store'), { recursive: true, force: true });
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', here, '--child', mode, '--file', file, '--work', work],
    { maxBuffer: 1 << 24 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Measured;
}

/** The data, written by DuckDB from hashes of the row number: the same bytes every run. */
async function generate(rows: number, dir: string): Promise<{ csv: string; parquet: string }> {
  const csv = path.join(dir, `bench-${rows}.csv`);
  const parquet = path.join(dir, `bench-${rows}.parquet`);
  if (await fs.stat(parquet).catch(() => undefined)) return { csv, parquet };
  const instance = await DuckDBInstance.create(':memory:', { temp_directory: path.join(dir, 'duckdb-tmp') });
  const connection = await instance.connect();
  const cols = FEATURES.map((f, k) => `round((hash(i, ${k}) % 2000000) / 1000.0 - 1000, 3) AS ${f}`).join(', ');
  const regions = `[${REGIONS.map((r) => `'${r}'`).join(', ')}][1 + CAST(hash(i, 99) % 5 AS BIGINT)] AS region`;
  const table = `SELECT ${cols}, ${regions}, CAST(hash(i, 7) % 2 AS INTEGER) AS target FROM range(${rows}) t(i)`;
  await connection.run(`COPY (${table}) TO '${csv}' (FORMAT csv, HEADER)`);
  await connection.run(`COPY (SELECT * FROM read_csv('${csv}')) TO '${parquet}' (FORMAT parquet)`);
  connection.closeSync();
  instance.closeSync();
  return { csv, parquet };
}

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    child: { type: 'string' },
    file: { type: 'string' },
    work: { type: 'string' },
    keep: { type: 'boolean', default: false },
    reps: { type: 'string', default: '2' },
  },
});

if (values.child) {
  console.log(JSON.stringify(await child(values.child as Mode, values.file!, values.work!)));
} else {
  const dir = process.env.MLOPS_BENCH_DIR ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'ingest-bench-')));
  const threads = Number(process.env.MLOPS_DUCKDB_THREADS) || os.availableParallelism();
  const lines: string[] = [];
  for (const rows of values.rows.split(',').map(Number)) {
    console.log(`Generating ${rows.toLocaleString()} rows as CSV and Parquet in ${dir}...`);
    const files = await generate(rows, dir);
    const results: Record<string, Record<Mode, Measured> & { mb: number }> = {};
    for (const [format, file] of Object.entries(files)) {
      const mb = (await fs.stat(file)).size / 2 ** 20;
      const work = path.join(dir, `work-${format}`);
      await fs.mkdir(work, { recursive: true });
      console.log(`  ${format} (${mb.toFixed(0)} MB): ours, DuckDB SUMMARIZE, DuckDB profile query...`);
      const best: Partial<Record<Mode, Measured>> = {};
      for (let rep = 0; rep < Number(values.reps); rep++) {
        for (const mode of ['ours', 'profile', 'summarize'] as const) {
          const m = await measure(mode, file, work);
          if (!best[mode] || m.seconds < best[mode].seconds) best[mode] = m;
        }
      }
      results[format] = { mb, ...(best as Record<Mode, Measured>) };
      await fs.rm(work, { recursive: true, force: true });
    }
    for (const [format, r] of Object.entries(results)) {
      const f = (m: Measured) => `${m.seconds.toFixed(2)} s, ${m.maxRssMiB.toFixed(0)} MiB`;
      lines.push(
        `${rows.toLocaleString()} rows ${format.padEnd(7)} ${r.mb.toFixed(0).padStart(5)} MB | ours ${f(r.ours)} | DuckDB SUMMARIZE ${f(r.summarize)} | DuckDB profile query ${f(r.profile)} | time ours/SUMMARIZE ${(r.ours.seconds / r.summarize.seconds).toFixed(2)}x, ours/profile ${(r.ours.seconds / r.profile.seconds).toFixed(2)}x`,
      );
    }
    lines.push(
      `${rows.toLocaleString()} rows: our Parquet ingest is ${(results.csv!.ours.seconds / results.parquet!.ours.seconds).toFixed(1)}x faster than the same data as CSV`,
    );
    if (!values.keep) await fs.rm(files.csv).then(() => fs.rm(files.parquet));
  }
  console.log(`\ningest, ${NUMERIC} numeric + 1 categorical + target, DuckDB threads ${threads}, one process each:`);
  for (const l of lines) console.log(`  ${l}`);
  if (!values.keep && !process.env.MLOPS_BENCH_DIR) await fs.rm(dir, { recursive: true, force: true });
}
