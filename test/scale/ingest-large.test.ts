/**
 * A CSV bigger than V8's longest string (over 600 MB, generated here) ingests in a Node process whose heap is
 * capped at 512 MB, and its profile matches sums, extremes and counts kept while the file was written.
 */
import { execFile } from 'node:child_process';
import { createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { IngestSpecSchema } from '../../sdk/spec/ingest.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let dir: string | undefined;
afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

const NUMERIC = 20;
const ROWS = 3_000_000;
const CATS = ['north', 'south', 'east', 'west', 'central'];

/** Running count, extremes and (compensated) sum of one column, kept by the generator. */
class Running {
  n = 0;
  min = Infinity;
  max = -Infinity;
  private sum = 0;
  private c = 0;
  add(v: number): void {
    this.n++;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    const t = this.sum + v;
    this.c += Math.abs(this.sum) >= Math.abs(v) ? this.sum - t + v : v - t + this.sum;
    this.sum = t;
  }
  mean(): number {
    return (this.sum + this.c) / this.n;
  }
}

it(
  'ingests a >600 MB CSV under a 512 MB Node heap, with the profile computed while writing it',
  { timeout: 900_000 },
  async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingest-large-'));
    const csv = path.join(dir, 'large.csv');
    const out = createWriteStream(csv);
    const header = [...Array.from({ length: NUMERIC }, (_, i) => `f${i}`), 'region', 'target'];
    out.write(header.join(',') + '\n');
    const stats = Array.from({ length: NUMERIC + 1 }, () => new Running());
    // Second pass for std: Σ(v − mean)² needs the mean, so values are integers from an LCG replayed by seed.
    const sq = new Float64Array(NUMERIC + 1);
    const regions = new Map<string, number>();
    let seed = 12345;
    const lcg = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
    const cell = (k: number): number => (k % 2 === 0 ? lcg() % 1_000_000 : (lcg() % 2_000_000) / 1000 - 1000);
    const writeRows = async (collect: (row: number[], region: string) => void) => {
      let lines: string[] = [];
      for (let r = 0; r < ROWS; r++) {
        const row = Array.from({ length: NUMERIC }, (_, k) => cell(k));
        const region = CATS[lcg() % CATS.length]!;
        const target = lcg() % 2;
        row.push(target);
        collect(row, region);
        lines.push(`${row.slice(0, NUMERIC).join(',')},${region},${target}`);
        if (lines.length === 20_000) {
          if (!out.write(lines.join('\n') + '\n')) await new Promise<void>((res) => out.once('drain', () => res()));
          lines = [];
        }
      }
      if (lines.length) out.write(lines.join('\n') + '\n');
    };
    await writeRows((row, region) => {
      row.forEach((v, k) => stats[k]!.add(v));
      regions.set(region, (regions.get(region) ?? 0) + 1);
    });
    await new Promise<void>((res, rej) => out.end(() => res()).once('error', rej));
    seed = 12345;
    const means = stats.map((s) => s.mean());
    for (let r = 0; r < ROWS; r++) {
      for (let k = 0; k < NUMERIC; k++) sq[k] = sq[k]! + (cell(k) - means[k]!) ** 2;
      lcg();
      sq[NUMERIC] = sq[NUMERIC]! + ((lcg() % 2) - means[NUMERIC]!) ** 2;
    }
    const bytes = (await fs.stat(csv)).size;
    expect(bytes).toBeGreaterThan(600 * 2 ** 20);

    const spec = IngestSpecSchema.parse({
      source: csv,
      columns: {
        ...Object.fromEntries(header.slice(0, NUMERIC).map((f) => [f, { type: 'number' }])),
        region: { type: 'string', allowed: CATS },
        target: { type: 'integer', min: 0, max: 1 },
      },
      target: 'target',
    });
    const specFile = path.join(dir, 'spec.json');
    await fs.writeFile(specFile, JSON.stringify(spec));
    const storeUri = pathToFileURL(path.join(dir, 'store')).href;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--max-old-space-size=512',
        '--import',
        'tsx',
        path.join(here, '..', 'helpers', 'ingest-process.ts'),
        storeUri,
        'large',
        specFile,
      ],
      { maxBuffer: 1 << 26, env: { ...process.env, MLOPS_STAGING_DIR: dir } },
    );
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      snapshot: { rows: number; bytes: number; format: string };
      profile: {
        rows: number;
        columns: Record<
          string,
          {
            count: number;
            missing: number;
            min: number;
            max: number;
            mean: number;
            std: number;
            categories?: Record<string, number>;
          }
        >;
      };
      seconds: number;
      maxRssMiB: number;
      heapLimitMiB: number;
    };
    console.log(
      `${(bytes / 2 ** 20).toFixed(0)} MB CSV, ${ROWS} rows: ingested in ${result.seconds.toFixed(1)} s, peak RSS ${result.maxRssMiB.toFixed(0)} MiB (heap limit ${result.heapLimitMiB.toFixed(0)} MiB)`,
    );
    expect(result.heapLimitMiB).toBeLessThan(600);
    expect(result.snapshot).toMatchObject({ rows: ROWS, bytes, format: 'csv' });
    const names = [...header.slice(0, NUMERIC), 'target'];
    names.forEach((name, k) => {
      const got = result.profile.columns[name]!;
      const s = stats[k]!;
      expect(got).toMatchObject({ count: ROWS, missing: 0, min: s.min, max: s.max });
      expect(Math.abs(got.mean - means[k]!)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(means[k]!)));
      const std = Math.sqrt(sq[k]! / ROWS);
      expect(Math.abs(got.std - std)).toBeLessThanOrEqual(1e-9 * std);
    });
    expect(result.profile.columns.region!.categories).toEqual(Object.fromEntries(regions));
    expect(result.maxRssMiB).toBeLessThan(1024);
  },
);
