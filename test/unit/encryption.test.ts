/** The AES-256-GCM payload codec (key ids, rotation, tampering, key configuration) and the codec server's HTTP face. */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  encryptionFromEnv,
  KEY_ID_METADATA,
  parseKeyList,
} from '../../sdk/encryption.js';
import { startCodecServer, type CodecServer } from '../../sdk/codec-server.js';
import type { PipelineError } from '../../sdk/errors.js';

const key = () => randomBytes(32).toString('base64');
const [k1, k2] = [key(), key()];
const value = { approver: 'ana@acme.com', comment: 'AUC +0.4pt', metrics: { auc: 0.9123 } };
const payload = (): Payload => defaultPayloadConverter.toPayload(value)!;
const text = (p: Payload) => Buffer.from(p.data ?? []).toString('latin1');
const meta = (p: Payload, k: string) => Buffer.from(p.metadata?.[k] ?? []).toString();

function thrown(fn: () => unknown): PipelineError {
  try {
    fn();
  } catch (err) {
    return err as PipelineError;
  }
  throw new Error('expected a throw');
}

describe('EncryptionCodec', () => {
  it('seals a payload so nothing of it is readable, names its key, and opens it back to the same value', async () => {
    const codec = new EncryptionCodec([{ id: 'k1', key: k1 }]);
    const [sealed] = await codec.encode([payload()]);
    expect(meta(sealed!, 'encoding')).toBe(ENCRYPTED_ENCODING);
    expect(meta(sealed!, KEY_ID_METADATA)).toBe('k1');
    for (const clear of ['ana@acme.com', 'AUC', '0.9123', 'json/plain']) expect(text(sealed!)).not.toContain(clear);
    const [opened] = await codec.decode([sealed!]);
    expect(defaultPayloadConverter.fromPayload(opened!)).toEqual(value);
    // A fresh IV per payload: the same value never seals to the same bytes.
    const [again] = await codec.encode([payload()]);
    expect(Buffer.from(again!.data!).equals(Buffer.from(sealed!.data!))).toBe(false);
  });

  it('after a rotation new payloads use the new key and old ones still open; without the old key it says which', async () => {
    const before = new EncryptionCodec([{ id: 'k1', key: k1 }]);
    const [old] = await before.encode([payload()]);
    const rotated = new EncryptionCodec([
      { id: 'k2', key: k2 },
      { id: 'k1', key: k1 },
    ]);
    const [fresh] = await rotated.encode([payload()]);
    expect(meta(fresh!, KEY_ID_METADATA)).toBe('k2');
    const opened = await rotated.decode([old!, fresh!]);
    expect(opened.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([value, value]);
    const retired = new EncryptionCodec([{ id: 'k2', key: k2 }]);
    await expect(retired.decode([old!])).rejects.toMatchObject({
      code: 'EncryptionFailed',
      message: expect.stringMatching(/encrypted with key "k1", which is not among this process's keys \(k2\)/),
    });
  });

  it('refuses a payload relabelled with another key id, or altered, and a key of the wrong size', async () => {
    const codec = new EncryptionCodec([
      { id: 'k2', key: k2 },
      { id: 'k1', key: k1 },
    ]);
    const [sealed] = await codec.encode([payload()]);
    const relabelled = { ...sealed!, metadata: { ...sealed!.metadata, [KEY_ID_METADATA]: Buffer.from('k1') } };
    await expect(codec.decode([relabelled])).rejects.toThrow(/does not open with the key of that id/);
    const data = Buffer.from(sealed!.data!);
    data[20] = data[20]! ^ 1;
    await expect(codec.decode([{ ...sealed!, data }])).rejects.toThrow(/or the payload was altered/);
    const short = thrown(() => new EncryptionCodec([{ id: 'k', key: randomBytes(16).toString('base64') }], 'X'));
    expect(short.message).toMatch(/X: key "k" is 16 bytes; AES-256 needs 32/);
  });

  it('payloads written before encryption was turned on pass through decode unchanged', async () => {
    const codec = new EncryptionCodec([{ id: 'k1', key: k1 }]);
    const plain = payload();
    expect(await codec.decode([plain])).toEqual([plain]);
  });

  it('reads keys from MLOPS_ENCRYPTION_KEYS or a keys file, first key sealing; key material never in errors', async () => {
    expect(parseKeyList(`# rotated 2026-12\nk2=${k2}\nk1=${k1}\n`).map((k) => k.id)).toEqual(['k2', 'k1']);
    expect(encryptionFromEnv({ MLOPS_ENCRYPTION_KEYS: `k2=${k2},k1=${k1}` })?.currentKeyId).toBe('k2');
    expect(encryptionFromEnv({})).toBeUndefined();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-keys-'));
    await fs.writeFile(path.join(dir, 'keys'), `k1=${k1}\n`, { mode: 0o600 });
    expect(encryptionFromEnv({ MLOPS_ENCRYPTION_KEYS_FILE: path.join(dir, 'keys') })?.keyIds).toEqual(['k1']);
    const missing = thrown(() => encryptionFromEnv({ MLOPS_ENCRYPTION_KEYS_FILE: path.join(dir, 'nope') }));
    expect(missing.message).toMatch(/Cannot read MLOPS_ENCRYPTION_KEYS_FILE .*nope: ENOENT/);
    const bad = thrown(() => encryptionFromEnv({ MLOPS_ENCRYPTION_KEYS: `k1=${k1.slice(0, 20)}` }));
    expect(bad).toMatchObject({ code: 'EncryptionFailed', message: expect.stringMatching(/MLOPS_ENCRYPTION_KEYS/) });
    expect(bad.message).not.toContain(k1.slice(0, 20));
  });
});

describe('codec server', () => {
  const codec = new EncryptionCodec([{ id: 'k1', key: k1 }]);
  const ui = 'http://127.0.0.1:18233';
  let server: CodecServer;
  let open: CodecServer;
  beforeAll(async () => {
    server = await startCodecServer({ codec, port: 0, allowedOrigins: [ui], token: 's3cret-token' });
    open = await startCodecServer({ codec, port: 0, allowedOrigins: [ui] });
  });
  afterAll(async () => {
    await server?.close();
    await open?.close();
  });
  const asJson = (p: Payload) => ({
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]),
    ),
    data: Buffer.from(p.data!).toString('base64'),
  });
  const post = (base: string, route: string, payloads: unknown[], headers: Record<string, string> = {}) =>
    fetch(`${base}${route}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Namespace': 'default', Origin: ui, ...headers },
      body: JSON.stringify({ payloads }),
    });

  it('encodes and decodes Payloads JSON at any path depth, with CORS for the UI origin', async () => {
    const encoded = await post(open.url, '/default/encode', [asJson(payload())]);
    expect(encoded.status).toBe(200);
    expect(encoded.headers.get('access-control-allow-origin')).toBe(ui);
    const sealed = ((await encoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] })
      .payloads;
    expect(Buffer.from(sealed[0]!.metadata.encoding!, 'base64').toString()).toBe(ENCRYPTED_ENCODING);
    expect(Buffer.from(sealed[0]!.data, 'base64').toString('latin1')).not.toContain('ana@acme.com');
    const decoded = await post(open.url, '/decode', sealed);
    const [back] = ((await decoded.json()) as { payloads: { data: string }[] }).payloads;
    expect(JSON.parse(Buffer.from(back!.data, 'base64').toString())).toEqual(value);
  });

  it('answers the browser preflight for the UI origin only', async () => {
    const preflight = (origin: string) =>
      fetch(`${open.url}/decode`, {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'content-type,x-namespace',
        },
      });
    const ok = await preflight(ui);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-headers')).toBe('content-type,x-namespace');
    expect(ok.headers.get('access-control-allow-methods')).toMatch(/POST/);
    const other = await preflight('https://evil.example');
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect((await post(open.url, '/decode', [], { Origin: 'https://evil.example' })).status).toBe(403);
  });

  it('with a token, refuses requests without the right bearer token', async () => {
    expect((await post(server.url, '/decode', [])).status).toBe(401);
    expect((await post(server.url, '/decode', [], { Authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await post(server.url, '/decode', [], { Authorization: 'Bearer s3cret-token' })).status).toBe(200);
  });

  it('a payload it cannot open is a 422 that names the key, not a crash', async () => {
    const [foreign] = await new EncryptionCodec([{ id: 'k9', key: k2 }]).encode([payload()]);
    const res = await post(open.url, '/decode', [asJson(foreign!)]);
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toMatch(/key "k9"/);
  });
});
