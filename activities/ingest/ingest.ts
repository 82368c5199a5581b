/**
 * Ingest: check a CSV or Parquet source (one file, or a prefix or glob of shards, local or on GCS) against the
 * declared schema and snapshot it, immutable and content-addressed, with a typed Parquet copy, a reference
 * sample and a profile for monitoring. Bad data fails before anything is written, with a report naming file,
 * row and column. The data streams through DuckDB (`checks.ts`): memory stays bounded whatever the file size.
 *
 * Snapshot layout, `snapshots/<pipeline>/<sha256>/`:
 * - `data.csv` (CSV sources: the source bytes; shards concatenated under one header) or `data.parquet`
 *   (Parquet sources: the source bytes; shards merged) — what training jobs get as `MLOPS_DATA_URI`;
 * - `data.parquet` for CSV sources too: the typed columnar copy;
 * - `reference.parquet`: the monitor's reference (all rows up to 100,000, else a seeded sample);
 * - `manifest.json`: every shard's URI, generation, size and sha256; `profile.json`, written last.
 */
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { IngestSpec } from '../../sdk/spec/ingest.js';
import type { ColumnProfile, DataProblem, DataSnapshot } from '../../sdk/run-types.js';
import { gcsObject } from '../../registry/gcs-object-store.js';
import type { ObjectStore } from '../../registry/object-store.js';
import {
  addQuantiles,
  checkShards,
  firstRowFeatures,
  REFERENCE_SEED,
  writeMerged,
  writeReference,
  type CheckOutcome,
} from './checks.js';
import { DuckSession } from './duckdb.js';
import {
  checkUnchanged,
  dataValidationFailed,
  localShard,
  resolveSource,
  sourceDigest,
  type DataFormat,
  type LocalShard,
  type ResolvedSource,
} from './sources.js';

export interface IngestInput {
  pipeline: string;
  runKey: string;
  ingest: IngestSpec;
  store?: string;
}

/** Where ingest reports progress: the activity passes its logger and heartbeat; the CLI prints. */
export interface IngestHooks {
  log?: (message: string) => void;
  heartbeat?: () => void;
  /** Called once the shards are listed, before any is read (ingest starts its copy; tests change the source). */
  afterListing?: (source: ResolvedSource) => Promise<void>;
}

/** What checking a source found: the profile, and the problems (none means it would ingest). */
export interface CheckReport {
  source: string;
  format: DataFormat;
  shards: LocalShard[];
  sha256: string;
  bytes: number;
  rows: number;
  columns: string[];
  profile: Record<string, ColumnProfile>;
  problems: DataProblem[];
  /** Data that passes: its reference sample, written to staging (the profile's quantiles come from it). */
  reference?: { file: string; rows: number; sampled: boolean };
}

/** gs:// shards are downloaded this many at a time. */
const DOWNLOADS = 4;
/** A report keeps this many problems (the count says how many there were). */
const MAX_PROBLEMS = 100;

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Resolves, stages and checks a source, then runs `body` while the staged files and the DuckDB session are
 * still there. Local shards are hashed while DuckDB reads them; `gs://` shards are hashed as they download.
 */
async function withCheckedSource<T>(
  ingest: IngestSpec,
  hooks: IngestHooks,
  body: (ctx: { report: CheckReport; outcome: CheckOutcome; duck: DuckSession; staging: string }) => Promise<T>,
  options: { failOnProblems: boolean },
): Promise<T> {
  const log = hooks.log ?? (() => undefined);
  const resolved: ResolvedSource = await resolveSource(ingest.source, ingest.format);
  const totalBytes = resolved.shards.reduce((n, s) => n + s.bytes, 0);
  log(`ingest: ${ingest.source}: ${resolved.shards.length} ${resolved.format} shard(s), ${totalBytes} bytes`);
  await hooks.afterListing?.(resolved);
  const staging = await fs.mkdtemp(path.join(process.env.MLOPS_STAGING_DIR ?? os.tmpdir(), 'mlops-ingest-'));
  const beat = setInterval(() => hooks.heartbeat?.(), 5000);
  let duck: DuckSession | undefined;
  try {
    await fs.mkdir(path.join(staging, 'duckdb'));
    const remote = resolved.shards.filter((s) => s.uri.startsWith('gs://'));
    const downloaded = await mapLimit(remote, DOWNLOADS, (s, i) => localShard(s, staging, i));
    const local = new Map(downloaded.map((s) => [s.uri, s]));
    // Local files are read in place: hashing runs alongside DuckDB's pass instead of before it.
    const hashes = new Map(
      resolved.shards.filter((s) => !local.has(s.uri)).map((s) => [s.uri, localShard(s, staging, 0)] as const),
    );
    for (const p of hashes.values()) p.catch(() => undefined);
    const shards: LocalShard[] = resolved.shards.map((s) => local.get(s.uri) ?? { ...s, path: s.uri, sha256: '' });
    duck = await DuckSession.open({ tempDirectory: path.join(staging, 'duckdb') });
    const outcome = await checkShards(duck, resolved.format, shards, ingest, staging).catch(async (err: unknown) => {
      // A shard that vanished under DuckDB is the error to report, not how reading it failed.
      for (const s of shards) await checkUnchanged(s);
      throw err;
    });
    for (const [i, s] of shards.entries()) {
      const hashed = hashes.get(s.uri);
      if (hashed) shards[i] = await hashed;
      await checkUnchanged(shards[i]!);
    }
    const sha256 = sourceDigest(shards);
    const report: CheckReport = {
      source: ingest.source,
      format: resolved.format,
      shards,
      sha256,
      bytes: shards.reduce((n, s) => n + s.bytes, 0),
      rows: outcome.rows,
      columns: outcome.columns,
      profile: outcome.profile,
      problems: outcome.problems,
    };
    if (options.failOnProblems && outcome.problems.length > 0) throw failure(report);
    if (outcome.problems.length === 0) {
      const file = path.join(staging, 'reference.parquet');
      report.reference = { file, ...(await writeReference(duck, outcome, ingest, file)) };
      await addQuantiles(duck, report.profile, file);
    }
    return await body({ report, outcome, duck, staging });
  } finally {
    clearInterval(beat);
    duck?.close();
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/** The source as a report names it: the file itself, or the source with its shard count. */
function label(report: Pick<CheckReport, 'source' | 'shards'>): string {
  return report.shards.length === 1 ? report.shards[0]!.uri : `${report.source} (${report.shards.length} shards)`;
}

function failure(report: CheckReport): ApplicationFailure {
  const summary = report.problems
    .slice(0, 10)
    .map((p) => `${p.column ? `${p.column}: ` : ''}${p.message}`)
    .join('; ');
  return dataValidationFailed(
    `ingest: ${label(report)} failed ${report.problems.length} data check(s): ${summary}`,
    report.problems.slice(0, MAX_PROBLEMS),
    { source: label(report), sha256: report.sha256, rows: report.rows, problemCount: report.problems.length },
  );
}

/** Checks a source against an ingest spec without writing anything (`temporal-mlops data check`). */
export async function checkSource(ingest: IngestSpec, hooks: IngestHooks = {}): Promise<CheckReport> {
  return withCheckedSource(ingest, hooks, async ({ report }) => report, { failOnProblems: false });
}

function ignoreExists(err: Error): void {
  if (err.name !== 'PreconditionFailedError') throw err;
}

/**
 * Uploads a local file create-only, streaming. A file store gets a kernel copy, never a buffer of it; a file that
 * ingest wrote itself (`owned`: a staging file, deleted afterwards) is hard-linked instead, when the store is on
 * the same filesystem, so a gigabyte-sized Parquet copy costs no second write.
 */
async function putLocalFile(store: ObjectStore, key: string, file: string, owned = false): Promise<void> {
  const target = store.localPath(key);
  if (!target) {
    await store.putFile(key, file, { ifGeneration: 'absent' }).catch(ignoreExists);
    return;
  }
  await fs.mkdir(path.dirname(target), { recursive: true });
  // link() fails when the target exists: create-only, like the store's own puts.
  const link = (from: string) =>
    fs.link(from, target).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  if (owned) {
    const linked = await link(file).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'EXDEV' || err.code === 'EPERM') return false;
        throw err;
      },
    );
    if (linked) return;
  }
  const temp = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await fs.copyFile(file, temp);
    await link(temp);
  } finally {
    await fs.rm(temp, { force: true });
  }
}

/** CSV shards as one file under the first shard's header (the checks made sure all headers are equal). */
async function concatenateCsv(shards: readonly LocalShard[], target: string): Promise<void> {
  const out = createWriteStream(target);
  let lastByte = 0x0a;
  for (const [i, shard] of shards.entries()) {
    if (lastByte !== 0x0a) out.write('\n');
    let skipping = i > 0;
    for await (const chunk of createReadStream(shard.path, { highWaterMark: 1 << 20 })) {
      let data = chunk as Buffer;
      if (skipping) {
        const eol = data.indexOf(0x0a);
        if (eol < 0) continue;
        data = data.subarray(eol + 1);
        skipping = false;
      }
      if (data.length === 0) continue;
      lastByte = data[data.length - 1]!;
      if (!out.write(data)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
  }
  out.end();
  await new Promise<void>((resolve, reject) => out.once('finish', resolve).once('error', reject));
}

/**
 * Starts copying a single local source file next to where a file store will keep it (its `data.csv` or
 * `data.parquet`) while the source is checked: the biggest copy of the snapshot then overlaps DuckDB's pass
 * instead of following it. Resolves to the copy, or to undefined when there is nothing to copy ahead or copying
 * failed (the snapshot then copies as usual).
 */
function copyAhead(store: ObjectStore, pipeline: string, source: ResolvedSource): Promise<string | undefined> {
  const [shard, ...more] = source.shards;
  const dir = store.localPath(`snapshots/${pipeline}`);
  if (!dir || !shard || more.length > 0 || shard.uri.startsWith('gs://')) return Promise.resolve(undefined);
  const copy = path.join(dir, `.data.${source.format}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  return fs
    .mkdir(dir, { recursive: true })
    .then(() => fs.copyFile(shard.uri, copy))
    .then(
      () => copy,
      () => fs.rm(copy, { force: true }).then(() => undefined),
    );
}

/** Checks and snapshots a source into `store`; the activity and the benchmark call it. */
export async function ingestSource(
  store: ObjectStore,
  input: IngestInput,
  hooks: IngestHooks = {},
): Promise<DataSnapshot> {
  const log = hooks.log ?? (() => undefined);
  let copying: Promise<string | undefined> = Promise.resolve(undefined);
  const afterListing = async (source: ResolvedSource) => {
    await hooks.afterListing?.(source);
    copying = copyAhead(store, input.pipeline, source);
  };
  try {
    return await snapshotCheckedSource(store, input, { ...hooks, afterListing }, () => copying, log);
  } finally {
    const copy = await copying;
    if (copy) await fs.rm(copy, { force: true });
  }
}

async function snapshotCheckedSource(
  store: ObjectStore,
  input: IngestInput,
  hooks: IngestHooks,
  copiedAhead: () => Promise<string | undefined>,
  log: (message: string) => void,
): Promise<DataSnapshot> {
  return withCheckedSource(
    input.ingest,
    hooks,
    async ({ report, outcome, duck, staging }) => {
      const prefix = `snapshots/${input.pipeline}/${report.sha256}`;
      log(`ingest: ${label(report)}: ${report.rows} rows pass every check (sha256 ${report.sha256.slice(0, 12)})`);
      // Content-addressed: what is already there holds the same data, so only missing objects are written.
      const existing = new Set(await store.list(`${prefix}/`));
      /** `file` resolves to the file to store, and whether ingest wrote it (a staging file it may link). */
      const put = async (name: string, file: () => Promise<{ path: string; owned: boolean }>) => {
        if (existing.has(`${prefix}/${name}`)) return;
        const { path: local, owned } = await file();
        await putLocalFile(store, `${prefix}/${name}`, local, owned);
      };
      const single = report.shards.length === 1;
      const first = report.shards[0]!;
      // A downloaded gs:// shard is a staging copy; a local shard is the source itself.
      const downloaded = first.path !== first.uri;
      const ahead = await copiedAhead();
      // The copy holds the bytes that were hashed only if the file did not change while it was made.
      if (ahead) await checkUnchanged(first);
      if (report.format === 'csv') {
        await put('data.csv', async () => {
          if (ahead) return { path: ahead, owned: true };
          if (single) return { path: first.path, owned: downloaded };
          const file = path.join(staging, 'data.csv');
          await concatenateCsv(report.shards, file);
          return { path: file, owned: true };
        });
      }
      await put('data.parquet', async () => {
        // A CSV's typed part is ingest's own file; a Parquet shard is the source's.
        if (single && report.format === 'parquet' && ahead) return { path: ahead, owned: true };
        if (single) return { path: outcome.parquet[0]!, owned: report.format === 'csv' || downloaded };
        const file = path.join(staging, 'data.parquet');
        await writeMerged(duck, outcome, input.ingest, file);
        return { path: file, owned: true };
      });
      const { file: referenceFile, ...reference } = report.reference!;
      await put('reference.parquet', async () => ({ path: referenceFile, owned: true }));
      const manifest = {
        source: input.ingest.source,
        format: report.format,
        sha256: report.sha256,
        bytes: report.bytes,
        shards: report.shards.map((s) => ({ uri: s.uri, generation: s.generation, bytes: s.bytes, sha256: s.sha256 })),
      };
      await store
        .put(`${prefix}/manifest.json`, JSON.stringify(manifest, null, 2), { ifGeneration: 'absent' })
        .catch(ignoreExists);
      const profile = {
        sha256: report.sha256,
        rows: report.rows,
        format: report.format,
        columns: report.profile,
        reference: { ...reference, of: report.rows, seed: REFERENCE_SEED },
      };
      // Last: a snapshot with a profile is complete.
      await store
        .put(`${prefix}/profile.json`, JSON.stringify(profile, null, 2), { ifGeneration: 'absent' })
        .catch(ignoreExists);
      const dataKey = `${prefix}/${report.format === 'csv' ? 'data.csv' : 'data.parquet'}`;
      log(`ingest: snapshot ${store.uri(dataKey)} with ${report.rows} rows, ${report.columns.length} columns`);
      return {
        uri: store.uri(dataKey),
        sha256: report.sha256,
        bytes: report.bytes,
        rows: report.rows,
        columns: report.columns,
        profileUri: store.uri(`${prefix}/profile.json`),
        sampleFeatures: await firstRowFeatures(duck, outcome, input.ingest),
        format: report.format,
        parquetUri: store.uri(`${prefix}/data.parquet`),
        referenceUri: store.uri(`${prefix}/reference.parquet`),
        shards: report.shards.length,
        manifestUri: store.uri(`${prefix}/manifest.json`),
      };
    },
    { failOnProblems: true },
  );
}

/** The ingest activity. */
export async function ingestData(store: ObjectStore, input: IngestInput): Promise<DataSnapshot> {
  const ctx = Context.current();
  return ingestSource(store, input, { log: (m) => ctx.log.info(m), heartbeat: () => ctx.heartbeat() });
}

/**
 * Reads a whole object into memory: a `gs://bucket/object`, a `file://` URI or a local path. For small
 * objects only (reports, a small snapshot); stream big ones with `downloadTo` from `./sources.js`.
 */
export async function readSource(source: string): Promise<{ data: Buffer; label: string }> {
  if (source.startsWith('gs://')) {
    const { store, key } = gcsObject(source);
    if (!key || key.endsWith('/')) {
      throw ApplicationFailure.nonRetryable(`${source} must name an object: gs://bucket/path/data.csv`, 'InvalidSpec');
    }
    const found = await store.get(key);
    if (!found) throw notFound(source);
    return { data: found.data, label: source };
  }
  const file = source.startsWith('file://') ? fileURLToPath(source) : path.resolve(source);
  try {
    return { data: await fs.readFile(file), label: file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(file);
    throw err;
  }
}

function notFound(what: string): ApplicationFailure {
  return dataValidationFailed(
    `${what} does not exist`,
    [{ kind: 'source', file: what, message: `not found: ${what}` }],
    {
      source: what,
    },
  );
}
