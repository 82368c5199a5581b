/**
 * `gs://bucket/prefix` object store on Google Cloud Storage (`@google-cloud/storage` 7, Application Default
 * Credentials). Conditional writes use `ifGenerationMatch` (0 = create only); uploads are verified by the
 * client (crc32c). Set `MLOPS_GCS_API_ENDPOINT` to use an emulator.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Storage, type Bucket } from '@google-cloud/storage';
import { PreconditionFailedError, type ObjectStore, type PutOptions, type StoredObject } from './object-store.js';

function isStatus(err: unknown, code: number): boolean {
  // Multipart uploads report `.code`, resumable ones `.status`; both occur.
  const e = err as { code?: unknown; status?: unknown };
  return e?.code === code || e?.status === code;
}

async function sha256File(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

let sharedStorage: Storage | undefined;

/** One Storage client per process: it pools connections and caches credentials. */
export function defaultStorage(): Storage {
  sharedStorage ??= new Storage(
    process.env.MLOPS_GCS_API_ENDPOINT
      ? { apiEndpoint: process.env.MLOPS_GCS_API_ENDPOINT, projectId: process.env.GOOGLE_CLOUD_PROJECT ?? 'local' }
      : {},
  );
  return sharedStorage;
}

/** The bucket's store and the object key of `gs://bucket/key` (a key ending in `/` names a prefix). */
export function gcsObject(uri: string): { store: GcsObjectStore; key: string } {
  const m = /^gs:\/\/([^/]+)\/(.*)$/.exec(uri);
  if (!m) throw new Error(`"${uri}" does not name an object: write gs://bucket/path`);
  return { store: new GcsObjectStore(`gs://${m[1]}`), key: m[2]! };
}

export class GcsObjectStore implements ObjectStore {
  readonly root: string;
  private readonly bucket: Bucket;
  private readonly prefix: string;

  constructor(uri: string, storage = defaultStorage()) {
    const m = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220})(?:\/(.*))?$/.exec(uri);
    if (!m) throw new Error(`"${uri}" is not a gs:// URI: write gs://bucket or gs://bucket/prefix`);
    this.bucket = storage.bucket(m[1]!);
    this.prefix = (m[2] ?? '').replace(/\/+$/, '');
    this.root = `gs://${m[1]}${this.prefix ? `/${this.prefix}` : ''}`;
  }

  private name(key: string): string {
    if (key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '')) {
      throw new Error(`Invalid object key "${key}": use relative keys without empty or ".." segments`);
    }
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  uri(key: string): string {
    return `${this.root}/${key}`;
  }

  localPath(): undefined {
    return undefined;
  }

  async get(key: string): Promise<StoredObject | undefined> {
    const file = this.bucket.file(this.name(key));
    try {
      const [meta] = await file.getMetadata();
      const generation = String(meta.generation);
      const [data] = await this.bucket.file(this.name(key), { generation }).download();
      return { data, generation };
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw new Error(`Reading ${this.uri(key)} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.bucket.file(this.name(key)).delete();
    } catch (err) {
      if (isStatus(err, 404)) return;
      throw new Error(`Deleting ${this.uri(key)} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async put(key: string, data: Buffer | string, options: PutOptions = {}): Promise<string> {
    const file = this.bucket.file(this.name(key));
    // GCS generations are integers; anything else cannot match the object's.
    if (
      options.ifGeneration !== undefined &&
      options.ifGeneration !== 'absent' &&
      !/^\d+$/.test(options.ifGeneration)
    ) {
      throw new PreconditionFailedError(this.uri(key));
    }
    const ifGenerationMatch = options.ifGeneration === 'absent' ? 0 : options.ifGeneration;
    try {
      await file.save(typeof data === 'string' ? Buffer.from(data) : data, {
        resumable: false,
        validation: 'crc32c',
        contentType: key.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        ...(ifGenerationMatch !== undefined ? { preconditionOpts: { ifGenerationMatch } } : {}),
      });
      return String(file.metadata.generation);
    } catch (err) {
      if (isStatus(err, 412)) throw new PreconditionFailedError(this.uri(key));
      throw new Error(`Writing ${this.uri(key)} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  async putFile(key: string, localPath: string, options: PutOptions = {}): Promise<{ sha256: string; bytes: number }> {
    const digest = await sha256File(localPath);
    const ifGenerationMatch = options.ifGeneration === 'absent' ? 0 : options.ifGeneration;
    try {
      await this.bucket.upload(localPath, {
        destination: this.name(key),
        resumable: digest.bytes > 8 << 20,
        validation: 'crc32c',
        metadata: { metadata: { sha256: digest.sha256 } },
        ...(ifGenerationMatch !== undefined ? { preconditionOpts: { ifGenerationMatch } } : {}),
      });
    } catch (err) {
      if (isStatus(err, 412)) throw new PreconditionFailedError(this.uri(key));
      throw new Error(`Uploading ${localPath} to ${this.uri(key)} failed: ${(err as Error).message}`, { cause: err });
    }
    return digest;
  }

  async list(prefix: string): Promise<string[]> {
    const base = this.prefix ? `${this.prefix}/` : '';
    const [files] = await this.bucket.getFiles({ prefix: base + prefix, autoPaginate: true });
    return files.map((f) => f.name.slice(base.length)).sort();
  }
}
