/**
 * Payload encryption: an AES-256-GCM `PayloadCodec` for everything a run writes to Temporal (inputs, results,
 * stage reports, approvers' names and comments, memos, heartbeats, failure messages). Temporal stores only
 * ciphertext; the worker, `PipelineClient`, the CLI and the codec server (for the Web UI) hold the keys.
 *
 * Keys rotate: each payload names the key that sealed it (`encryption-key-id` in its metadata), the first key
 * of the list seals new payloads, and every listed key opens old ones. Retire a key only once no run that may
 * still be read (replayed, shown, queried) was written with it.
 *
 * Not encrypted, by Temporal's design: search attributes (MlopsPipeline, MlopsModel, MlopsStage,
 * MlopsModelVersion), workflow ids and types, activity and signal names, task queues, timestamps. Keep secrets
 * and personal data out of those.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { PipelineError } from './errors.js';

/** The `encoding` of an encrypted payload. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata key naming the key a payload was sealed with. */
export const KEY_ID_METADATA = 'encryption-key-id';
const CIPHER_METADATA = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** One key: an id stored in each payload it seals, and 32 bytes (or their base64). */
export interface EncryptionKey {
  id: string;
  key: Uint8Array | string;
}

/** Keys for `EncryptionCodec`; the first seals, all open. */
export interface EncryptionOptions {
  keys: EncryptionKey[];
}

const fail = (message: string, cause?: unknown) =>
  new PipelineError('EncryptionFailed', message, undefined, cause === undefined ? undefined : { cause });

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const b64 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('base64');

/**
 * AES-256-GCM payload codec with key ids. The sealed bytes are IV (12) + ciphertext + tag (16); the key id is
 * authenticated too, so a payload relabelled with another key id does not open.
 *
 * @example
 * const codec = new EncryptionCodec([{ id: '2026-12', key: process.env.KEY_2026_12! }, { id: '2026-06', key: old }]);
 * const client = await PipelineClient.connect({ encryption: codec });
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly keys = new Map<string, Buffer>();
  /** The id of the key that seals new payloads. */
  readonly currentKeyId: string;

  constructor(keys: EncryptionKey[], where = 'the encryption keys') {
    if (keys.length === 0) throw fail(`${where}: no key given; list at least one as id=base64key`);
    for (const { id, key } of keys) {
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(id))
        throw fail(`${where}: key id "${id}" must be 1-64 letters, digits, ".", "_" or "-"`);
      if (this.keys.has(id)) throw fail(`${where}: key id "${id}" is listed twice`);
      const bytes = typeof key === 'string' ? Buffer.from(key.trim(), 'base64') : Buffer.from(key);
      if (bytes.length !== 32)
        throw fail(
          `${where}: key "${id}" is ${bytes.length} bytes; AES-256 needs 32 (base64 of 32 random bytes, e.g. \`openssl rand -base64 32\`)`,
        );
      this.keys.set(id, bytes);
    }
    this.currentKeyId = keys[0]!.id;
  }

  /** The ids of the keys this codec opens, the sealing one first. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.seal(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.open(p));
  }

  private seal(payload: Payload): Payload {
    const id = this.currentKeyId;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(id)!, iv);
    cipher.setAAD(encoder.encode(id));
    const plain = encoder.encode(
      JSON.stringify({
        metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
        data: b64(payload.data),
      }),
    );
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        encoding: encoder.encode(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: encoder.encode(id),
        [CIPHER_METADATA]: encoder.encode(CIPHER),
      },
      data: sealed,
    };
  }

  private open(payload: Payload): Payload {
    const encoding = payload.metadata?.encoding && decoder.decode(payload.metadata.encoding);
    // Payloads written before encryption was turned on stay readable.
    if (encoding !== ENCRYPTED_ENCODING) return payload;
    const idBytes = payload.metadata?.[KEY_ID_METADATA];
    const id = idBytes ? decoder.decode(idBytes) : '';
    const key = this.keys.get(id);
    if (!key)
      throw fail(
        `A payload was encrypted with key "${id}", which is not among this process's keys (${this.keyIds.join(', ')}): list the old key after the current one (MLOPS_ENCRYPTION_KEYS=new=...,${id}=...) until no run written with it is read`,
      );
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) throw fail(`A payload sealed with key "${id}" is truncated`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(encoder.encode(id));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      const inner = JSON.parse(decoder.decode(plain)) as { metadata: Record<string, string>; data: string };
      return {
        metadata: Object.fromEntries(
          Object.entries(inner.metadata).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))]),
        ),
        data: new Uint8Array(Buffer.from(inner.data, 'base64')),
      };
    } catch (err) {
      throw fail(
        `A payload sealed with key "${id}" does not open with the key of that id here: the key material differs from the one that wrote it, or the payload was altered`,
        err,
      );
    }
  }
}

/** Parses `id=base64key` entries separated by commas or new lines (`#` starts a comment). */
export function parseKeyList(text: string): EncryptionKey[] {
  return text
    .split(/[\n,]/)
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean)
    .map((entry) => {
      const at = entry.indexOf('=');
      if (at <= 0) throw fail(`encryption key entry "${entry.slice(0, 12)}..." must be id=base64key`);
      return { id: entry.slice(0, at).trim(), key: entry.slice(at + 1).trim() };
    });
}

/**
 * The codec configured by the environment, or undefined when encryption is off: `MLOPS_ENCRYPTION_KEYS`
 * (`id=base64key,...`) or `MLOPS_ENCRYPTION_KEYS_FILE` (a file with one `id=base64key` per line); the first key
 * seals. Key values never appear in errors.
 */
export function encryptionFromEnv(env: Record<string, string | undefined> = process.env): EncryptionCodec | undefined {
  if (env.MLOPS_ENCRYPTION_KEYS && env.MLOPS_ENCRYPTION_KEYS_FILE)
    throw fail('Both MLOPS_ENCRYPTION_KEYS and MLOPS_ENCRYPTION_KEYS_FILE are set: keep one');
  if (env.MLOPS_ENCRYPTION_KEYS)
    return new EncryptionCodec(parseKeyList(env.MLOPS_ENCRYPTION_KEYS), 'MLOPS_ENCRYPTION_KEYS');
  const file = env.MLOPS_ENCRYPTION_KEYS_FILE;
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw fail(`Cannot read MLOPS_ENCRYPTION_KEYS_FILE ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`, err);
  }
  return new EncryptionCodec(parseKeyList(text), `MLOPS_ENCRYPTION_KEYS_FILE ${file}`);
}

/** What `encryption` options accept: a codec, its keys, `false` to turn it off, or undefined for the environment. */
export type EncryptionSetting = EncryptionCodec | EncryptionOptions | false | undefined;

/** Resolves an `encryption` option: explicit codec or keys, else the environment; `false` turns it off. */
export function resolveEncryption(
  setting: EncryptionSetting,
  env: Record<string, string | undefined> = process.env,
): EncryptionCodec | undefined {
  if (setting === false) return undefined;
  if (setting instanceof EncryptionCodec) return setting;
  if (setting) return new EncryptionCodec(setting.keys, 'the encryption option');
  return encryptionFromEnv(env);
}
