/**
 * `temporal-mlops collect` (the real CLI) receiving KServe's payload-logger CloudEvents. The events are built as
 * KServe's agent sends them (kserve/kserve pkg/logger/handler.go and worker.go, v0.15: CloudEvents 1.0 in HTTP
 * binary mode through sdk-go, `ce-type` org.kubeflow.serving.inference.request / .response, the same `ce-id` for
 * both halves, the extensions inferenceservicename, namespace, component, endpoint, metadata, annotations,
 * recordedtime), plus one pair in structured mode. They arrive shuffled and concurrently, some twice, one never
 * finds its pair, some are malformed: the windows hold exactly the paired predictions, and /stats counts the rest.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../activities/platform/free-port.js';
import type { CollectorStats } from '../../activities/monitor/collect.js';
import type { ServedPrediction } from '../../activities/monitor/serving-log.js';
import { openObjectStore, type ObjectStore } from '../../registry/object-store.js';
import { eventually } from '../helpers/harness.js';

const CLI = path.resolve('bin/temporal-mlops.js');
const COLUMNS = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const REQUEST = 'org.kubeflow.serving.inference.request';
const RESPONSE = 'org.kubeflow.serving.inference.response';

let dir: string;
let store: ObjectStore;
let collector: ChildProcess;
let url: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collect-'));
  store = openObjectStore(pathToFileURL(path.join(dir, 'store')).href);
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  collector = spawn(
    process.execPath,
    [
      CLI,
      'collect',
      '--store',
      store.root,
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--flush',
      '200ms',
      '--pair-timeout',
      '1500ms',
      '--columns',
      COLUMNS.join(','),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await eventually(
    () =>
      fetch(`${url}/health`)
        .then((r) => (r.ok ? true : undefined))
        .catch(() => undefined),
    30_000,
    'the collector listening',
  );
});

afterAll(async () => {
  if (collector && collector.exitCode === null) collector.kill('SIGKILL');
  await fs.rm(dir, { recursive: true, force: true });
});

interface Half {
  type: string;
  id: string;
  body: unknown;
  time: Date;
}

/** One event as KServe's agent posts it: binary mode, the data as the body, attributes as ce-* headers. */
function post(e: Half, override: Record<string, string | undefined> = {}, raw?: string): Promise<Response> {
  const headers: Record<string, string | undefined> = {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': e.id,
    'ce-source': 'http://localhost:9081/',
    'ce-type': e.type,
    'ce-time': e.time.toISOString(),
    'ce-recordedtime': new Date().toISOString(),
    'ce-inferenceservicename': 'iris-ks',
    'ce-namespace': 'default',
    'ce-component': 'predictor',
    'ce-endpoint': 'default',
    'ce-metadata': '{}',
    'ce-annotations': JSON.stringify({ 'mlops.temporal.io/model-version': '2' }),
    ...override,
  };
  for (const k of Object.keys(headers)) if (headers[k] === undefined) delete headers[k];
  return fetch(url, {
    method: 'POST',
    headers: headers as Record<string, string>,
    body: raw ?? JSON.stringify(e.body),
  });
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

async function windowLines(): Promise<ServedPrediction[]> {
  const lines: ServedPrediction[] = [];
  for (const key of (await store.list('monitoring/iris-ks/windows/')).sort())
    for (const line of (await store.get(key))!.data.toString().split('\n'))
      if (line.trim()) lines.push(JSON.parse(line) as ServedPrediction);
  return lines;
}

describe('temporal-mlops collect', () => {
  it('pairs KServe logger events by id, out of order and duplicated, and counts what it cannot use', async () => {
    const random = rng(3);
    const t0 = Date.now();
    const inferences = Array.from({ length: 12 }, (_, i) => {
      const rows = Array.from({ length: 1 + (i % 3) }, () => COLUMNS.map(() => +(random() * 8).toFixed(2)));
      return {
        id: `inf-${i}`,
        rows,
        predictions: rows.map((r) => (r[0]! > 4 ? 1 : 0)),
        time: new Date(t0 + i),
      };
    });
    const halves: Half[] = inferences.flatMap((inf) => [
      { type: REQUEST, id: inf.id, body: { instances: inf.rows }, time: inf.time },
      { type: RESPONSE, id: inf.id, body: { predictions: inf.predictions }, time: new Date(inf.time.getTime() + 5) },
    ]);
    // Shuffled (responses before their requests included), four sent twice.
    const order = halves.map((h) => ({ h, k: random() })).sort((a, b) => a.k - b.k);
    const shuffled = order.map((o) => o.h);
    expect(shuffled.slice(0, 6).some((h) => h.type === RESPONSE)).toBe(true);
    // One duplicate while its pair is still pending, three after the pair was written.
    const sends = [
      shuffled[0]!,
      shuffled[1]!,
      shuffled[0]!,
      ...shuffled.slice(2),
      shuffled[5]!,
      shuffled[11]!,
      shuffled[23]!,
    ];
    // The agent's worker pool posts concurrently: four at a time.
    for (let i = 0; i < sends.length; i += 4)
      for (const res of await Promise.all(sends.slice(i, i + 4).map((h) => post(h)))) expect(res.status).toBe(202);

    // Structured mode, one inference.
    const structured = { id: 'inf-structured', rows: [[6.1, 2.8, 4.7, 1.2]], predictions: [1] };
    for (const [type, data] of [
      [RESPONSE, { predictions: structured.predictions }],
      [REQUEST, { instances: structured.rows }],
    ] as const) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
        body: JSON.stringify({
          specversion: '1.0',
          id: structured.id,
          source: 'http://localhost:9081/',
          type,
          time: new Date(t0 + 100).toISOString(),
          inferenceservicename: 'iris-ks',
          datacontenttype: 'application/json',
          data,
        }),
      });
      expect(res.status).toBe(202);
    }

    // A request whose response never comes (the model answered 500: KServe logs no response).
    expect(
      (await post({ type: REQUEST, id: 'orphan', body: { instances: [[1, 2, 3, 4]] }, time: new Date() })).status,
    ).toBe(202);
    // Malformed: no id, an unknown type, data that is not JSON, another spec version, and a pair whose response
    // does not match its request.
    const some: Half = { type: REQUEST, id: 'bad', body: {}, time: new Date() };
    expect((await post(some, { 'ce-id': undefined })).status).toBe(400);
    expect((await post(some, { 'ce-type': 'org.kubeflow.serving.inference.other' })).status).toBe(400);
    expect((await post(some, { 'ce-id': 'not-json' }, '{"instances": [')).status).toBe(400);
    expect((await post(some, { 'ce-specversion': '0.3' })).status).toBe(400);
    await post({
      type: REQUEST,
      id: 'mismatch',
      body: {
        instances: [
          [1, 2, 3, 4],
          [1, 2, 3, 4],
        ],
      },
      time: new Date(),
    });
    await post({ type: RESPONSE, id: 'mismatch', body: { predictions: [1] }, time: new Date() });

    const stats = await eventually(
      async () => {
        const s = (await (await fetch(`${url}/stats`)).json()) as CollectorStats;
        return s.unpaired === 1 && s.written === 25 ? s : undefined;
      },
      15_000,
      'the orphan timed out and every pair written',
    );
    expect(stats).toMatchObject({
      events: 24 + 4 + 2 + 1 + 4 + 2,
      paired: 13,
      predictions: 25,
      duplicates: 4,
      unpaired: 1,
      malformed: 5,
      pending: 0,
    });
    expect(stats.malformedReasons).toEqual([
      'the event has no id',
      'event bad: type "org.kubeflow.serving.inference.other" is not org.kubeflow.serving.inference.request or org.kubeflow.serving.inference.response',
      'event not-json: the request data is not JSON',
      'specversion "0.3" is not "1.0"',
      'inference mismatch: 2 instances but 1 predictions',
    ]);

    collector.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => collector.once('exit', resolve));
    expect(code).toBe(0);

    const expected = [...inferences, { ...structured, time: new Date(t0 + 100) }].flatMap((inf) =>
      inf.rows.map((row, i) => ({
        id: inf.rows.length === 1 ? inf.id : `${inf.id}/${i}`,
        ts: inf.time.toISOString(),
        model: 'iris-ks',
        version: inf.id === 'inf-structured' ? null : 2,
        features: Object.fromEntries(COLUMNS.map((c, j) => [c, row[j]])),
        prediction: inf.predictions[i],
      })),
    );
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
    expect((await windowLines()).sort(byId)).toEqual(expected.sort(byId));
  });

  it('names a bad flag', async () => {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, 'collect', '--pair-timeout', 'later'], (err, _o, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
      ),
    );
    expect(code).toBe(2);
    expect(stderr).toMatch(/--pair-timeout later is not a duration/);
  });
});
