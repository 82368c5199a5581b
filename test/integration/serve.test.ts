/**
 * `temporal-mlops serve` as the entry point of a Vertex AI custom serving container: the real CLI started with
 * the environment Vertex gives a serving container (AIP_MODE, AIP_HTTP_PORT, AIP_PREDICT_ROUTE,
 * AIP_HEALTH_ROUTE, AIP_STORAGE_URI with the registry's `.../versions/<n>/artifacts`, AIP_DEPLOYED_MODEL_ID) in
 * front of the fixtures' model server, its windows on a gs:// store (the suite's fake-gcs-server). Every
 * response carries a request id (the caller's own when given), skew-gate and shadow traffic is answered but not
 * logged, and the monitor's drift check on the logged traffic reports the shifted columns.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestSource } from '../../activities/ingest/ingest.js';
import { freePort } from '../../activities/platform/free-port.js';
import { computeDriftReport, latestClosedWindow } from '../../activities/monitor/monitoring.js';
import { openObjectStore, type ObjectStore } from '../../registry/object-store.js';
import type { DataSnapshot } from '../../sdk/run-types.js';
import type { PipelineSpec } from '../../sdk/spec/pipeline.js';
import type { ServedPrediction } from '../../activities/monitor/serving-log.js';
import { createTestBucket } from '../helpers/gcs.js';
import { eventually, FIXTURES, fixturePipeline } from '../helpers/harness.js';

const CLI = path.resolve('bin/temporal-mlops.js');
const MODEL = 'iris-served';
const WINDOW_MS = 3000;

let dir: string;
let store: ObjectStore;
let snapshot: DataSnapshot;
let spec: PipelineSpec;
const servers: ChildProcess[] = [];

/** Deterministic pseudo-random numbers, so the reference and the traffic are the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

function iris(random: () => number, shift: number) {
  return {
    sepal_length: +(5 + random() + shift).toFixed(3),
    sepal_width: +(3 + random() * 0.8).toFixed(3),
    petal_length: +(1.5 + random() * 2 + shift).toFixed(3),
    petal_width: +(0.3 + random()).toFixed(3),
  };
}

/**
 * Starts `temporal-mlops serve` with the environment Vertex gives a serving container, the artifacts (model.json)
 * mounted where AIP_STORAGE_URI says, named like the registry's version prefix. Resolves once healthy.
 */
async function startServed(model: string, version: number, modelJson: unknown, env: Record<string, string> = {}) {
  const artifacts = path.join(dir, 'models', model, 'versions', String(version), 'artifacts');
  await fs.mkdir(artifacts, { recursive: true });
  await fs.writeFile(path.join(artifacts, 'model.json'), JSON.stringify(modelJson));
  const port = await freePort();
  const server = spawn(
    process.execPath,
    [
      CLI,
      'serve',
      '--model',
      model,
      '--store',
      store.root,
      '--window',
      `${WINDOW_MS}ms`,
      '--flush',
      '200ms',
      '--host',
      '127.0.0.1',
      '--',
      'python3',
      path.join(FIXTURES, 'serve_fixture.py'),
    ],
    {
      env: {
        ...process.env,
        ...env,
        AIP_MODE: 'PREDICTION',
        AIP_HTTP_PORT: String(port),
        AIP_PREDICT_ROUTE: '/predict',
        AIP_HEALTH_ROUTE: '/health',
        AIP_STORAGE_URI: pathToFileURL(artifacts).href,
        AIP_DEPLOYED_MODEL_ID: '1234567890',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  servers.push(server);
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    () =>
      fetch(`${url}/health`)
        .then((r) => (r.ok ? true : undefined))
        .catch(() => undefined),
    30_000,
    `${model} healthy`,
  );
  return url;
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'serve-'));
  store = openObjectStore(`gs://${await createTestBucket('mlops-serve')}/registry`);
  // The reference: 300 rows around the training distribution, through ingest like a pipeline run.
  const random = rng(7);
  const csv = path.join(dir, 'reference.csv');
  const rows = Array.from({ length: 300 }, () => iris(random, 0));
  await fs.writeFile(
    csv,
    ['sepal_length,sepal_width,petal_length,petal_width,species']
      .concat(rows.map((r) => `${Object.values(r).join(',')},setosa`))
      .join('\n') + '\n',
  );
  spec = fixturePipeline({ name: MODEL, ingest: { ...fixturePipeline().spec.ingest, source: csv } }).spec;
  snapshot = await ingestSource(openObjectStore(pathToFileURL(path.join(dir, 'store')).href), {
    pipeline: MODEL,
    runKey: 'r1',
    ingest: spec.ingest,
  });
});

afterAll(async () => {
  for (const server of servers)
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }
  await fs.rm(dir, { recursive: true, force: true });
});

/** Waits for the start of a window, so that what is sent next lands in one window. */
async function windowStart(): Promise<void> {
  await new Promise((r) => setTimeout(r, WINDOW_MS - (Date.now() % WINDOW_MS) + 50));
}

/** The newest closed window of `model` once it holds `count` predictions. */
function closedWindow(model: string, count: number): Promise<string> {
  return eventually(
    async () => {
      const w = await latestClosedWindow(store, model, WINDOW_MS);
      return w && (await windowLines(model, w)).length >= count ? w : undefined;
    },
    WINDOW_MS * 3 + 10_000,
    `the closed window of ${model} with ${count} predictions`,
  );
}

async function predict(url: string, instances: unknown[], headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ instances }),
  });
  expect(res.status).toBe(200);
  return { id: res.headers.get('x-mlops-request-id'), body: (await res.json()) as { predictions: unknown[] } };
}

async function windowLines(model: string, window: string): Promise<ServedPrediction[]> {
  const keys = (await store.list(`monitoring/${model}/windows/${window}/`)).sort();
  const lines: ServedPrediction[] = [];
  for (const key of keys)
    for (const line of (await store.get(key))!.data.toString().split('\n'))
      if (line.trim()) lines.push(JSON.parse(line) as ServedPrediction);
  return lines;
}

describe('temporal-mlops serve in a Vertex-style container', () => {
  it('names the missing flag or command', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(process.execPath, [CLI, 'serve', ...args], (err, _out, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
        );
      });
    expect(await run(['--', 'python3', 'x.py'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--model NAME/),
    });
    expect(await run(['--model', MODEL])).toMatchObject({ code: 2, stderr: expect.stringMatching(/after "--"/) });
    expect(await run(['--model', MODEL, '--window', 'soon', '--', 'x'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--window soon is not a duration/),
    });
  });

  it('logs every prediction with its request id and version, skips gate traffic, and the monitor finds the drift', async () => {
    const url = await startServed(MODEL, 3, { output: 'label', threshold: 12 });
    await windowStart();
    const traffic = rng(11);
    const sent: { id: string; instances: unknown[]; predictions: unknown[] }[] = [];
    for (let i = 0; i < 40; i++) {
      const instances = Array.from({ length: 5 }, () => iris(traffic, 1.5));
      const own: Record<string, string> = i === 0 ? { 'x-mlops-request-id': 'caller-chosen-id' } : {};
      const { id, body } = await predict(url, instances, own);
      expect(id).toMatch(i === 0 ? /^caller-chosen-id$/ : /^[0-9a-f-]{36}$/);
      sent.push({ id: id!, instances, predictions: body.predictions });
    }
    // Answered, with an id, but not logged.
    for (const traffic of ['skew-gate', 'shadow']) {
      const { id, body } = await predict(url, [iris(rng(1), 0)], { 'x-mlops-traffic': traffic });
      expect(id).toBeTruthy();
      expect(body.predictions).toHaveLength(1);
    }
    // A bad request is the model server's to answer (400), and is not logged either.
    const bad = await fetch(`${url}/predict`, { method: 'POST', body: JSON.stringify({ rows: [] }) });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-mlops-request-id')).toBeTruthy();

    const window = await closedWindow(MODEL, 200);
    const lines = await windowLines(MODEL, window);
    const expected = sent.flatMap((s) =>
      s.instances.map((features, i) => ({
        id: `${s.id}/${i}`,
        model: MODEL,
        version: 3,
        features,
        prediction: s.predictions[i],
      })),
    );
    expect(lines.map(({ ts: _ts, ...rest }) => rest)).toEqual(expected);
    for (const l of lines) expect(Date.parse(l.ts)).toBeGreaterThanOrEqual(Date.parse(window));

    const report = await computeDriftReport(store, { model: MODEL, version: 3, snapshot, spec }, window);
    expect(report.rows).toBe(200);
    const drifted = report.columns.filter((c) => c.drifted).map((c) => c.column);
    expect(drifted.sort()).toEqual(['petal_length', 'sepal_length']);
    expect(report.drifted).toBe(true); // 2 of 4 columns: share 0.5
    // No predictions.jsonl in this version's artifacts: prediction drift says why it compared nothing.
    expect(report.predictions).toMatchObject({
      drifted: false,
      skipped: expect.stringMatching(/no predictions.jsonl/),
    });
  });

  it('prediction drift: a candidate whose predictions shift while its inputs do not', async () => {
    // A scores model; the candidate's container reads the first two features into each other's place.
    const model = { output: 'scores', numeric: Object.keys(iris(rng(1), 0)), mean: [5.5, 3.4, 2.5, 0.8] };
    Object.assign(model, { std: [0.29, 0.23, 0.58, 0.29], weights: [0.5, -1, 1.5, -2], threshold: 0.5 });
    const [good, swapped] = await Promise.all([
      startServed('iris-pred-good', 1, model),
      startServed('iris-pred-swapped', 1, model, { FIXTURE_SERVE_FAULT: 'swap-features' }),
    ]);
    // The training job's offline predictions on 300 evaluation rows: the correct model's answers, asked as the
    // skew gate asks (not logged).
    const evaluation = rng(21);
    const rows = Array.from({ length: 300 }, () => iris(evaluation, 0));
    const { body } = await predict(good, rows, { 'x-mlops-traffic': 'skew-gate' });
    const jsonl = rows.map((instance, key) => JSON.stringify({ key, instance, prediction: body.predictions[key] }));
    for (const name of ['iris-pred-good', 'iris-pred-swapped'])
      await store.put(`models/${name}/versions/1/artifacts/predictions.jsonl`, jsonl.join('\n') + '\n');

    // The same unshifted traffic to both.
    await windowStart();
    const traffic = rng(31);
    for (let i = 0; i < 40; i++) {
      const instances = Array.from({ length: 5 }, () => iris(traffic, 0));
      await Promise.all([predict(good, instances), predict(swapped, instances)]);
    }
    const reports = await Promise.all(
      ['iris-pred-good', 'iris-pred-swapped'].map(async (name) =>
        computeDriftReport(store, { model: name, version: 1, snapshot, spec }, await closedWindow(name, 200)),
      ),
    );
    for (const r of reports) {
      expect(r.rows).toBe(200);
      expect(r.columns.filter((c) => c.drifted)).toEqual([]); // the inputs did not move
      expect(r.predictions).toMatchObject({ offlineRows: 300, servedRows: 200 });
      expect(r.predictions!.columns.map((c) => c.column)).toEqual(['prediction', 'prediction.score']);
    }
    expect(reports[0]!.predictions!.drifted).toBe(false);
    expect(reports[1]!.predictions!.drifted).toBe(true);
    const score = reports[1]!.predictions!.columns.find((c) => c.column === 'prediction.score')!;
    expect(score).toMatchObject({ test: 'ks', drifted: true });
    expect(score.score).toBeLessThan(0.001);
  });
});
