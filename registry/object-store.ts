/**
 * The object store behind snapshots and the registry. `file://` is the embedded default; `gs://` joins it
 * behind the same interface. Writes are atomic (temp file + rename) and conditional writes use generations,
 * so concurrent writers never lose an update.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { GcsObjectStore } from './gcs-object-store.js';

/** A stored object's bytes and its generation (changes on every write). */
export interface StoredObject {
  data: Buffer;
  generation: string;
}

/** `ifGeneration: 'absent'` creates only; a generation string overwrites only that version. */
export interface PutOptions {
  ifGeneration?: string | 'absent';
}

/** Thrown when a conditional write loses a race: re-read and try again. */
export class PreconditionFailedError extends Error {
  constructor(readonly uri: string) {
    super(`Precondition failed writing ${uri}: another writer changed it first`);
    this.name = 'PreconditionFailedError';
  }
}

export interface ObjectStore {
  /** `file:///abs/dir` or `gs://bucket/prefix`. */
  readonly root: string;
  uri(key: string): string;
  get(key: string): Promise<StoredObject | undefined>;
  put(key: string, data: Buffer | string, options?: PutOptions): Promise<string>;
  /** Keys under a prefix (recursive), sorted. */
  list(prefix: string): Promise<string[]>;
  /** Uploads a local file; returns its sha256. */
  putFile(key: string, localPath: string, options?: PutOptions): Promise<{ sha256: string; bytes: number }>;
  /** A local path for a stored object when the store is on this machine, else undefined. */
  localPath(key: string): string | undefined;
  /** Removes an object; absent is fine. */
  delete(key: string): Promise<void>;
}

function checkKey(key: string): string {
  if (key.startsWith('/') || key.split('/').some((part) => part === '..' || part === '')) {
    throw new Error(`Invalid object key "${key}": use relative keys without empty or ".." segments`);
  }
  return key;
}

/** Object store in a local directory. Generations are content hashes; conditional writes hold a lock dir. */
export class FileObjectStore implements ObjectStore {
  readonly root: string;
  constructor(readonly dir: string) {
    this.root = pathToFileURL(dir).href;
  }

  uri(key: string): string {
    return pathToFileURL(this.localPath(key)).href;
  }

  localPath(key: string): string {
    return path.join(this.dir, checkKey(key));
  }

  async get(key: string): Promise<StoredObject | undefined> {
    try {
      const data = await fs.readFile(this.localPath(key));
      return { data, generation: generationOf(data) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.localPath(key), { force: true });
  }

  async put(key: string, data: Buffer | string, options: PutOptions = {}): Promise<string> {
    const target = this.localPath(key);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    await fs.mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    await fs.writeFile(temp, bytes);
    try {
      if (options.ifGeneration === 'absent') {
        // link() fails with EEXIST when the target exists: an atomic create-only.
        await fs.link(temp, target).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'EEXIST') throw new PreconditionFailedError(this.uri(key));
          throw err;
        });
      } else if (options.ifGeneration !== undefined) {
        await this.withLock(target, async () => {
          const current = await this.get(key);
          if (!current || current.generation !== options.ifGeneration) throw new PreconditionFailedError(this.uri(key));
          await fs.rename(temp, target);
        });
      } else {
        await fs.rename(temp, target);
      }
    } finally {
      await fs.rm(temp, { force: true });
    }
    return generationOf(bytes);
  }

  async putFile(key: string, localPath: string, options?: PutOptions): Promise<{ sha256: string; bytes: number }> {
    const data = await fs.readFile(localPath);
    await this.put(key, data, options);
    return { sha256: sha256Hex(data), bytes: data.length };
  }

  async list(prefix: string): Promise<string[]> {
    const base = path.join(this.dir, prefix);
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const entry of entries) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (!entry.name.includes('.tmp-') && !entry.name.endsWith('.lock'))
          out.push(path.relative(this.dir, full).split(path.sep).join('/'));
      }
    };
    await walk(base);
    return out.sort();
  }

  private async withLock<T>(target: string, run: () => Promise<T>): Promise<T> {
    const lock = `${target}.lock`;
    for (let i = 0; ; i++) {
      try {
        await fs.mkdir(lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // A lock older than 30 s belongs to a writer that died mid-write.
        const age = await fs.stat(lock).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > 30_000) await fs.rm(lock, { recursive: true, force: true });
        await sleep(Math.min(5 + i * 5, 100));
      }
    }
    try {
      return await run();
    } finally {
      await fs.rm(lock, { recursive: true, force: true });
    }
  }
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function generationOf(data: Buffer): string {
  return sha256Hex(data).slice(0, 32);
}

/** Opens the store named by a URI: `gs://bucket/prefix`, `file:///abs/dir` or a plain directory path. */
export function openObjectStore(uri: string): ObjectStore {
  if (uri.startsWith('file://')) return new FileObjectStore(fileURLToPath(uri));
  if (uri.startsWith('gs://')) return new GcsObjectStore(uri);
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(uri))
    throw new Error(`Object store ${uri}: unsupported scheme; use gs:// or file://`);
  return new FileObjectStore(path.resolve(uri));
}

/** Reads and parses a JSON object, or undefined when absent. */
export async function getJson<T>(
  store: ObjectStore,
  key: string,
): Promise<{ value: T; generation: string } | undefined> {
  const obj = await store.get(key);
  if (!obj) return undefined;
  try {
    return { value: JSON.parse(obj.data.toString('utf8')) as T, generation: obj.generation };
  } catch (err) {
    throw new Error(`${store.uri(key)} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Read-modify-write with a generation precondition, retried when another writer wins.
 * `update` receives the current value (undefined when absent) and returns the new one.
 */
export async function updateJson<T>(
  store: ObjectStore,
  key: string,
  update: (current: T | undefined) => T,
): Promise<T> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const current = await getJson<T>(store, key);
    const next = update(current?.value);
    try {
      await store.put(key, JSON.stringify(next, null, 2), { ifGeneration: current?.generation ?? 'absent' });
      return next;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      await sleep(5 + Math.random() * 20 * (attempt + 1));
    }
  }
  throw new Error(`Could not update ${store.uri(key)}: too many concurrent writers`);
}

/** Local path of a `file://` URI (or the path itself). */
export function localPathOf(uri: string): string {
  return uri.startsWith('file://') ? fileURLToPath(uri) : uri;
}
