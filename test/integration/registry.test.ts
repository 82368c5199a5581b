/**
 * The registry on both object stores: `file://` and `gs://` (fake-gcs-server, started by the suite).
 * Concurrency: 50 registrations of one model get versions 1..50; 20 alias moves leave a consistent alias
 * and a complete, chained deployment log.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Storage } from '@google-cloud/storage';
import { beforeAll, describe, expect, it } from 'vitest';
import { deploymentLog, getAlias, liveAt, moveAlias, rollback } from '../../registry/aliases.js';
import { openObjectStore, PreconditionFailedError, type ObjectStore } from '../../registry/object-store.js';
import { listVersions, readManifest, registerModel } from '../../registry/registry.js';
import { lineage } from '../helpers/lineage.js';

const run = promisify(execFile);
let modelDir: string;
beforeAll(async () => {
  modelDir = await fs.mkdtemp(path.join(os.tmpdir(), 'model-'));
  await fs.writeFile(path.join(modelDir, 'model.json'), '{"w": [1, 2, 3]}');
  await fs.mkdir(path.join(modelDir, 'assets'));
  await fs.writeFile(path.join(modelDir, 'assets', 'vocab.txt'), 'a\nb\n');
  await fs.writeFile(path.join(modelDir, 'metrics.json'), '{"auc": 0.9}');
});

async function newStore(kind: 'file' | 'gs'): Promise<ObjectStore> {
  if (kind === 'file') return openObjectStore(await fs.mkdtemp(path.join(os.tmpdir(), 'registry-')));
  const bucket = `mlops-test-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  await new Storage({ apiEndpoint: process.env.MLOPS_GCS_API_ENDPOINT, projectId: 'local' }).createBucket(bucket);
  return openObjectStore(`gs://${bucket}/registry`);
}

describe.each(['file', 'gs'] as const)('registry on %s://', (kind) => {
  let store: ObjectStore;
  beforeAll(async () => {
    store = await newStore(kind);
  });
  /** The `temporal-mlops models` CLI against this store. */
  const cli = (...args: string[]) =>
    run(process.execPath, ['bin/temporal-mlops.js', 'models', ...args, '--store', store.root]);

  it('stores objects with create-only and generation preconditions', async () => {
    const gen = await store.put('x/a.json', '{"n":1}', { ifGeneration: 'absent' });
    await expect(store.put('x/a.json', '{"n":2}', { ifGeneration: 'absent' })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    await expect(store.put('x/a.json', '{"n":2}', { ifGeneration: 'not-the-generation' })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    await store.put('x/a.json', '{"n":3}', { ifGeneration: gen });
    expect((await store.get('x/a.json'))?.data.toString()).toBe('{"n":3}');
    expect(await store.get('x/missing.json')).toBeUndefined();
    expect(await store.list('x/')).toEqual(['x/a.json']);
    expect(store.uri('x/a.json')).toMatch(
      kind === 'gs' ? /^gs:\/\/mlops-test-.*\/registry\/x\/a\.json$/ : /^file:\/\/.*\/x\/a\.json$/,
    );
  });

  it('50 concurrent registrations of one model get versions 1..50, each with its artifacts and manifest', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        registerModel(store, { model: 'm50', description: '', lineage: lineage(`run-${i}`, modelDir) }),
      ),
    );
    expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await listVersions(store, 'm50')).toHaveLength(50);
    const manifest = await readManifest(store, 'm50', 17);
    expect(manifest.artifacts.map((a) => a.path).sort()).toEqual(['assets/vocab.txt', 'metrics.json', 'model.json']);
    expect(manifest.artifacts.find((a) => a.path === 'model.json')?.sha256).toMatch(/^[0-9a-f]{64}$/);
    // A retry of the same run gets the same version back, not a new one.
    const again = await registerModel(store, {
      model: 'm50',
      description: '',
      lineage: lineage(manifest.lineage.runId, modelDir),
    });
    expect(again.version).toBe(17);
  });

  it('versions are immutable: a second manifest write fails', async () => {
    await expect(
      store.put('models/m50/versions/1/manifest.json', '{}', { ifGeneration: 'absent' }),
    ).rejects.toBeInstanceOf(PreconditionFailedError);
  });

  it('20 concurrent alias moves leave a consistent alias and a complete, chained deployment log', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        moveAlias(store, 'm50', 'champion', { action: 'deploy', to: i + 1, by: 'ci@acme.com', reason: `move ${i}` }),
      ),
    );
    const log = await deploymentLog(store, 'm50', 'champion');
    expect(log.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const bySeq = [...log].sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < bySeq.length; i++) expect(bySeq[i]!.from).toBe(bySeq[i - 1]!.to);
    expect(new Set(bySeq.map((e) => e.to)).size).toBe(20); // every move is in the log exactly once
    const alias = await getAlias(store, 'm50', 'champion');
    expect(alias).toMatchObject({ version: bySeq.at(-1)!.to, seq: 20 });
  });

  it('answers "what was live when" across three deployments and a rollback', async () => {
    const t = (iso: string) => `2026-01-0${iso}T12:00:00.000Z`;
    await moveAlias(store, 'live', 'champion', { action: 'deploy', to: 1, by: 'a@acme.com', reason: 'v1', at: t('1') });
    await moveAlias(store, 'live', 'champion', { action: 'deploy', to: 2, by: 'a@acme.com', reason: 'v2', at: t('2') });
    await moveAlias(store, 'live', 'champion', { action: 'deploy', to: 3, by: 'a@acme.com', reason: 'v3', at: t('3') });
    const back = await rollback(store, 'live', { by: 'oncall@acme.com', reason: 'error rate 4%' });
    expect(back).toMatchObject({ action: 'rollback', from: 3, to: 2 });
    expect(await liveAt(store, 'live', new Date('2025-12-31T00:00:00Z'))).toBeUndefined();
    expect((await liveAt(store, 'live', new Date('2026-01-01T18:00:00Z')))?.to).toBe(1);
    expect((await liveAt(store, 'live', new Date('2026-01-02T18:00:00Z')))?.to).toBe(2);
    expect((await liveAt(store, 'live', new Date('2026-01-03T18:00:00Z')))?.to).toBe(3);
    expect((await liveAt(store, 'live', new Date()))?.to).toBe(2);

    const { stdout: at2 } = await cli('live', 'live', '--at', '2026-01-02T18:00:00Z');
    expect(at2).toMatch(
      /^live v2 was live at 2026-01-02T18:00:00.000Z: deploy at 2026-01-02T12:00:00.000Z by a@acme.com \(v2\), until 2026-01-03T12:00:00.000Z/,
    );
    const { stdout: now } = await cli('live', 'live');
    expect(now).toMatch(/live v2 was live at .*: rollback at .* by oncall@acme.com \(error rate 4%\), still live/);
  });

  it('the models CLI lists models and prints the lineage of a version', async () => {
    const { stdout: list } = await cli('list');
    expect(list).toMatch(/m50 {2}50 version\(s\), latest v50, champion v\d+/);
    const { stdout: lineageText } = await cli('lineage', 'm50@champion');
    expect(lineageText).toMatch(/^m50 v\d+ {2}\(pending-approval/);
    expect(lineageText).toMatch(/data: {7}file:\/\/\/data.csv\n {12}sha256 a{64}, 1 rows/);
    expect(lineageText).toMatch(/params: {5}\{"depth":3\}/);
    expect(lineageText).toMatch(/artifacts: {2}assets\/vocab.txt \(4 B, sha256 /);
    const missing = await cli('show', 'nope@3').catch((e: { code: number; stderr: string }) => e);
    expect(missing).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/No manifest at .*models\/nope\/versions\/3\/manifest.json/),
    });
  });

  it('a corrupt or foreign manifest is an error naming the object', async () => {
    await store.put('models/bad/versions/1/manifest.json', '{"schema": "mlflow/1"}');
    await expect(readManifest(store, 'bad', 1)).rejects.toThrow(
      /models\/bad\/versions\/1\/manifest\.json is not a valid temporal-mlops manifest \(schema: /,
    );
    await store.put('models/bad/versions/2/manifest.json', '{"schema": ');
    await expect(readManifest(store, 'bad', 2)).rejects.toThrow(
      /models\/bad\/versions\/2\/manifest\.json is not valid JSON/,
    );
  });

  it('an upload killed mid-way leaves no manifest, and the next registration is clean', async () => {
    const big = await fs.mkdtemp(path.join(os.tmpdir(), 'big-model-'));
    for (let i = 0; i < 40; i++)
      await fs.writeFile(path.join(big, `shard-${String(i).padStart(2, '0')}.bin`), Buffer.alloc(256 * 1024, i));
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/register-process.ts', store.root, big], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // Kill it once a few shards are up: the claim exists, the manifest does not.
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(async () => {
        const shards = (await store.list('models/killed/versions/1/artifacts/')).length;
        if (shards >= 3) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 20);
      child.once('exit', (code) => {
        clearInterval(timer);
        if (code !== null) reject(new Error(`register-process finished (exit ${code}) before it could be killed`));
      });
    });
    await new Promise((r) => setTimeout(r, 200));
    expect((await store.list('models/killed/versions/1/')).some((k) => k.endsWith('manifest.json'))).toBe(false);
    await expect(readManifest(store, 'killed', 1)).rejects.toThrow(/No manifest/);
    const next = await registerModel(store, {
      model: 'killed',
      description: '',
      lineage: lineage('next-run', modelDir),
    });
    expect(next.version).toBe(2);
    expect((await readManifest(store, 'killed', 2)).artifacts).toHaveLength(3);
    // The interrupted run, retried (same workflow run), finishes its own version.
    const resumed = await registerModel(store, {
      model: 'killed',
      description: '',
      lineage: lineage('killed-run', big),
    });
    expect(resumed.version).toBe(1);
    expect((await readManifest(store, 'killed', 1)).artifacts).toHaveLength(40);
  });
});
