/**
 * Where ingest reads from: a local path or `file://` URI, a `gs://` object, or a prefix or glob of shards on
 * either (`gs://acme/churn/2026-11/*.parquet`, `file:///data/churn/`). Shards are listed once, in name order,
 * and pinned (GCS generation, local size and mtime), so a shard deleted or replaced while ingest reads fails the
 * ingest instead of mixing two versions. `gs://` objects are streamed to local staging files (DuckDB cannot load
 * its httpfs extension offline) and hashed on the way; local files are read where they are.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import type { DataProblem } from '../../sdk/run-types.js';
import { defaultStorage } from '../../registry/gcs-object-store.js';

/** The file formats ingest reads. */
export type DataFormat = 'csv' | 'parquet';

/** One file of a source, as listed. */
export interface Shard {
  /** `gs://bucket/key` or an absolute local path: how problems name it. */
  uri: string;
  /** GCS generation read (pinned at listing), for objects. */
  generation?: string;
  /** Size at listing. */
  bytes: number;
  /** Local files: modification time at listing, checked again after reading. */
  mtimeMs?: number;
}

/** A source resolved to its shards, in the stable (name) order their bytes are hashed in. */
export interface ResolvedSource {
  source: string;
  format: DataFormat;
  shards: Shard[];
}

/** A shard readable on this machine, with the digest of its bytes. */
export interface LocalShard extends Shard {
  path: string;
  sha256: string;
}

const EXTENSIONS: Record<string, DataFormat> = { '.csv': 'csv', '.parquet': 'parquet', '.pq': 'parquet' };

/** The format a file name implies, if any. */
export function formatOfName(name: string): DataFormat | undefined {
  return EXTENSIONS[path.extname(name).toLowerCase()];
}

/** `DataValidationFailed`, not retried: the data has to change before ingest can pass. */
export function dataValidationFailed(
  message: string,
  problems: DataProblem[],
  details: Record<string, unknown> = {},
): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'DataValidationFailed', { ...details, problems });
}

function sourceProblem(source: string, message: string): ApplicationFailure {
  return dataValidationFailed(`ingest.source ${source}: ${message}`, [{ kind: 'source', file: source, message }], {
    source,
  });
}

const GLOB = /[*?[]/;

/** `*` and `?` within one path segment, `**` across segments, `[...]` a character class. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = glob.indexOf(']', i);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, '^')}]`;
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Keeps the data files of a listing (no `_SUCCESS`, `.crc`, folder markers) and settles the format. */
function pickShards<T extends { name: string }>(
  source: string,
  entries: T[],
  format: DataFormat | undefined,
): { format: DataFormat; entries: T[] } {
  const data = entries.filter((e) => {
    const base = e.name.split('/').at(-1) ?? '';
    return base !== '' && !base.startsWith('_') && !base.startsWith('.') && formatOfName(base) !== undefined;
  });
  const kept = format ? data.filter((e) => formatOfName(e.name) === format) : data;
  if (kept.length === 0) {
    throw sourceProblem(
      source,
      `no ${format ? format.toUpperCase() : 'CSV or Parquet'} files match (${entries.length} object(s) listed); an empty prefix is not a dataset`,
    );
  }
  const formats = new Set(kept.map((e) => formatOfName(e.name)!));
  if (formats.size > 1) {
    throw sourceProblem(source, 'mixes CSV and Parquet files: set ingest.format or narrow the glob');
  }
  return { format: format ?? [...formats][0]!, entries: kept.sort((a, b) => (a.name < b.name ? -1 : 1)) };
}

/** Lists a source's shards without reading them. */
export async function resolveSource(source: string, format?: DataFormat): Promise<ResolvedSource> {
  if (source.startsWith('gs://')) return resolveGcs(source, format);
  const file = source.startsWith('file://') ? fileURLToPath(source) : path.resolve(source);
  return resolveLocal(source, file, format);
}

async function resolveLocal(source: string, file: string, format?: DataFormat): Promise<ResolvedSource> {
  const globAt = file.search(GLOB);
  let base = file;
  let match: RegExp | undefined;
  if (globAt >= 0) {
    base = file.slice(0, file.lastIndexOf(path.sep, globAt) + 1);
    match = globToRegExp(file.slice(base.length).split(path.sep).join('/'));
  }
  const stat = await fs.stat(base).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw sourceProblem(source, `does not exist (${base})`);
    throw err;
  });
  if (!stat.isDirectory()) {
    if (match) throw sourceProblem(source, `${base} is not a directory`);
    return {
      source,
      format: format ?? formatOfName(file) ?? 'csv',
      shards: [{ uri: file, bytes: stat.size, mtimeMs: stat.mtimeMs }],
    };
  }
  const names = (await fs.readdir(base, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile())
    .map((d) =>
      path
        .relative(base, path.join(d.parentPath ?? d.path, d.name))
        .split(path.sep)
        .join('/'),
    )
    .filter((name) => !match || match.test(name));
  const picked = pickShards(
    source,
    names.map((name) => ({ name })),
    format,
  );
  const shards = await Promise.all(
    picked.entries.map(async ({ name }) => {
      const full = path.join(base, ...name.split('/'));
      const s = await fs.stat(full);
      return { uri: full, bytes: s.size, mtimeMs: s.mtimeMs };
    }),
  );
  return { source, format: picked.format, shards };
}

function isStatus(err: unknown, code: number): boolean {
  const e = err as { code?: unknown; status?: unknown };
  return e?.code === code || e?.status === code;
}

/** `gs://bucket/key` into its parts. */
export function parseGsUri(uri: string): { bucket: string; key: string } {
  const m = /^gs:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new Error(`"${uri}" is not a gs:// URI: write gs://bucket/path`);
  return { bucket: m[1]!, key: m[2]! };
}

async function resolveGcs(source: string, format?: DataFormat): Promise<ResolvedSource> {
  const { bucket, key } = parseGsUri(source);
  const b = defaultStorage().bucket(bucket);
  const globAt = key.search(GLOB);
  const list = async (prefix: string) => {
    const [files] = await b.getFiles({ prefix, autoPaginate: true }).catch((err: unknown) => {
      if (isStatus(err, 404)) throw sourceProblem(source, `bucket ${bucket} does not exist`);
      throw err;
    });
    return files.map((f) => ({
      name: f.name,
      generation: String(f.metadata.generation),
      bytes: Number(f.metadata.size ?? 0),
    }));
  };
  const toShards = (picked: { format: DataFormat; entries: Awaited<ReturnType<typeof list>> }): ResolvedSource => ({
    source,
    format: picked.format,
    shards: picked.entries.map((e) => ({ uri: `gs://${bucket}/${e.name}`, generation: e.generation, bytes: e.bytes })),
  });
  if (globAt >= 0) {
    const prefix = key.slice(0, key.lastIndexOf('/', globAt) + 1);
    const match = globToRegExp(key.slice(prefix.length));
    const listed = (await list(prefix)).filter((e) => match.test(e.name.slice(prefix.length)));
    return toShards(pickShards(source, listed, format));
  }
  if (key === '' || key.endsWith('/')) return toShards(pickShards(source, await list(key), format));
  try {
    const [meta] = await b.file(key).getMetadata();
    return {
      source,
      format: format ?? formatOfName(key) ?? 'csv',
      shards: [{ uri: source, generation: String(meta.generation), bytes: Number(meta.size ?? 0) }],
    };
  } catch (err) {
    if (!isStatus(err, 404)) throw err;
  }
  // No such object: a folder named without its trailing slash is still a prefix.
  const under = await list(`${key}/`);
  if (under.length === 0) throw sourceProblem(source, 'does not exist');
  return toShards(pickShards(source, under, format));
}

/** A pass-through stream that hashes and counts what flows through it. */
function hashing(): Transform & { digest: () => { sha256: string; bytes: number } } {
  const hash = createHash('sha256');
  let bytes = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  }) as Transform & { digest: () => { sha256: string; bytes: number } };
  t.digest = () => ({ sha256: hash.digest('hex'), bytes });
  return t;
}

/** The sha256 and size of a local file, streamed. */
export async function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

function vanished(shard: Shard, detail: string): ApplicationFailure {
  const message = `shard ${shard.uri} ${detail} while ingest was reading the source; nothing was snapshotted (run again once the data is stable)`;
  return dataValidationFailed(`ingest: ${message}`, [{ kind: 'source', file: shard.uri, message }], {
    source: shard.uri,
  });
}

/**
 * Makes a shard readable locally and hashes it: a local file is hashed where it is (call `checkUnchanged`
 * after reading it), a `gs://` object is streamed at its listed generation into `stagingDir`.
 */
export async function localShard(shard: Shard, stagingDir: string, index: number): Promise<LocalShard> {
  if (!shard.uri.startsWith('gs://')) {
    const digest = await hashFile(shard.uri).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw vanished(shard, 'was deleted');
      throw err;
    });
    return { ...shard, path: shard.uri, ...digest };
  }
  const { bucket, key } = parseGsUri(shard.uri);
  const ext = formatOfName(key) ? path.extname(key) : '';
  const file = path.join(stagingDir, `shard-${String(index).padStart(6, '0')}${ext}`);
  const hash = hashing();
  try {
    const object = defaultStorage()
      .bucket(bucket)
      .file(key, shard.generation ? { generation: Number(shard.generation) } : {});
    await pipeline(object.createReadStream(), hash, createWriteStream(file));
  } catch (err) {
    if (isStatus(err, 404)) throw vanished(shard, 'was deleted or replaced');
    throw new Error(`Reading ${shard.uri} failed: ${(err as Error).message}`, { cause: err });
  }
  return { ...shard, path: file, ...hash.digest() };
}

/** Fails when a local shard changed since it was listed (its bytes would no longer match its hash). */
export async function checkUnchanged(shard: LocalShard): Promise<void> {
  if (shard.uri.startsWith('gs://')) return;
  const s = await fs.stat(shard.path).catch(() => undefined);
  if (!s) throw vanished(shard, 'was deleted');
  if (s.size !== shard.bytes || s.mtimeMs !== shard.mtimeMs) throw vanished(shard, 'changed');
}

/**
 * The snapshot's content address: one shard → the sha256 of its bytes (so a file's snapshot keeps its own
 * hash); several → the sha256 of their `<sha256> <bytes>` lines in name order.
 */
export function sourceDigest(shards: readonly { sha256: string; bytes: number }[]): string {
  if (shards.length === 1) return shards[0]!.sha256;
  const hash = createHash('sha256');
  for (const s of shards) hash.update(`${s.sha256} ${s.bytes}\n`);
  return hash.digest('hex');
}

/** A readable stream of an object by URI: `gs://bucket/key`, `file://` or a local path. */
export function openObjectStream(uri: string): NodeJS.ReadableStream {
  if (uri.startsWith('gs://')) {
    const { bucket, key } = parseGsUri(uri);
    return defaultStorage().bucket(bucket).file(key).createReadStream();
  }
  return createReadStream(uri.startsWith('file://') ? fileURLToPath(uri) : uri, { highWaterMark: 1 << 20 });
}

/** Copies an object (by URI) to a local file, streaming; returns false when there is no such object. */
export async function downloadTo(uri: string, file: string): Promise<boolean> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await pipeline(openObjectStream(uri), createWriteStream(temp));
    await fs.rename(temp, file);
    return true;
  } catch (err) {
    await fs.rm(temp, { force: true });
    if (isStatus(err, 404) || (err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
