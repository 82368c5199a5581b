/**
 * Monitoring and retraining on the real dev server: the deployed model's requests are logged in windows, the
 * monitor reports drift, and sustained drift starts exactly one retrain run (even with checks racing) whose
 * lineage names the drift report. A Schedule created by the SDK starts runs and shows in `temporal schedule list`.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openObjectStore, readManifest, resolveActivityOptions, stopLocalServer } from '../../activities/index.js';
import { computeDriftReport } from '../../activities/monitor/monitoring.js';
import { ensureTemporalCli } from '../../scripts/dev-server.js';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { recordHistory } from '../helpers/histories.js';
import {
  eventually,
  workflowIdsStartingWith,
  FIXTURES,
  fixturePipeline,
  startHarness,
  type Harness,
} from '../helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('monitor');
});
afterAll(async () => {
  await h.temporal.workflow
    .getHandle('monitor/iris-monitored')
    .terminate('test done')
    .catch(() => undefined);
  await stopLocalServer(h.home, 'iris-monitored');
  await h?.stop();
});

function monitored() {
  const base = fixturePipeline();
  return definePipeline({
    ...base.spec,
    name: 'iris-monitored',
    model: undefined,
    approval: { required: false },
    monitor: { enabled: true, window: '2s', sustainedWindows: 2, cooldown: '1h' },
    retrain: { onDrift: true },
  });
}

async function send(url: string, shift: number, count: number) {
  for (let i = 0; i < count; i++) {
    const instances = Array.from({ length: 4 }, (_, j) => ({
      sepal_length: 5 + shift + ((i + j) % 7) * 0.1,
      sepal_width: 3 + shift + ((i * j) % 5) * 0.1,
      petal_length: 1.5 + shift + (j % 3) * 0.2,
      petal_width: 0.3 + shift + (i % 4) * 0.1,
    }));
    const res = await fetch(url, { method: 'POST', body: JSON.stringify({ instances }) });
    expect(res.status).toBe(200);
  }
}

describe('monitoring and retraining', () => {
  it(
    'drifted traffic → the monitor reports drift → exactly one retrain run, whose lineage names the report',
    { timeout: 180_000 },
    async () => {
      const pipeline = monitored();
      const first = await h.client.start(pipeline, { requestedBy: 'ci@acme.com' });
      const result = await h.client.result(first);
      const url = result.deployment!.predictUrl;
      await eventually(
        () =>
          h.client.monitorStatus('iris-monitored').then((s) => (s.version === result.version.version ? s : undefined)),
        30_000,
        'monitor started',
      );

      // Three windows of clearly shifted traffic (each window is 2 s).
      for (let w = 0; w < 3; w++) {
        await send(url, 10, 5);
        await new Promise((r) => setTimeout(r, 2100));
      }
      // Race checks against the monitor's own timer: the retrain must still start once.
      await Promise.all([h.client.checkMonitor('iris-monitored'), h.client.checkMonitor('iris-monitored')]);
      const status = await eventually(
        async () => {
          const s = await h.client.monitorStatus('iris-monitored');
          return s.retrains.length > 0 ? s : undefined;
        },
        60_000,
        'a drift-triggered retrain',
      );
      expect(status.latest?.drifted ?? true).toBe(true);

      await Promise.all([h.client.checkMonitor('iris-monitored'), h.client.checkMonitor('iris-monitored')]);
      const runs = await workflowIdsStartingWith(h, 'pipeline/iris-monitored/drift-');
      expect(runs).toHaveLength(1);
      expect(status.retrains).toHaveLength(1);

      const retrain = await h.client.result(runs[0]!);
      const store = openObjectStore(resolveActivityOptions({ home: h.home }).store);
      const manifest = await readManifest(store, 'iris-monitored', retrain.version.version);
      expect(manifest.lineage.trigger).toEqual({ kind: 'drift', reportUri: status.retrains[0]!.reportUri });
      const report = JSON.parse(
        (await store.get(status.retrains[0]!.reportUri.replace(`${store.root}/`, '')))!.data.toString(),
      );
      expect(report).toMatchObject({ model: 'iris-monitored', drifted: true });
      expect(report.columns.filter((c: { drifted: boolean }) => c.drifted).length).toBeGreaterThanOrEqual(2);
      await recordHistory(inject('temporalAddress'), 'monitor/iris-monitored', 'monitor-model-drift-retrain');
      const html = (await store.get(
        status.retrains[0]!.reportUri.replace(`${store.root}/`, '').replace(/\.json$/, '.html'),
      ))!.data.toString();
      expect(html).toContain('<svg');
      expect(html).toContain('dataset drift');
    },
  );

  it(
    'one retrain per model at a time: while a retrain runs, further drift starts nothing',
    { timeout: 180_000 },
    async () => {
      const base = fixturePipeline({}, { sleep: 12 });
      const pipeline = definePipeline({
        ...base.spec,
        name: 'iris-busy',
        model: undefined,
        approval: { required: false },
        monitor: { enabled: true, window: '2s', sustainedWindows: 1, cooldown: '0s' },
        retrain: { onDrift: true },
      });
      try {
        const first = await h.client.start(pipeline, { requestedBy: 'ci@acme.com' });
        const url = (await h.client.result(first)).deployment!.predictUrl;
        const driftRuns = () => workflowIdsStartingWith(h, 'pipeline/iris-busy/drift-');
        await send(url, 10, 3);
        const [retrain] = await eventually(
          async () => ((await driftRuns()).length > 0 ? driftRuns() : undefined),
          60_000,
          'the first retrain',
        );
        // Four more drifted windows while the 12 s retrain trains: each one qualifies on its own (cooldown 0).
        for (let w = 0; w < 4; w++) {
          await send(url, 10, 3);
          await new Promise((r) => setTimeout(r, 2100));
        }
        expect((await h.client.handle(retrain!).describe()).status.name).toBe('RUNNING');
        expect(await driftRuns()).toEqual([retrain]);
      } finally {
        // The retrain would redeploy and signal-with-start the monitor again: stop it first.
        for (const id of await workflowIdsStartingWith(h, 'pipeline/iris-busy/drift-')) {
          await h.temporal.workflow
            .getHandle(id)
            .terminate('test done')
            .catch(() => undefined);
        }
        await h.temporal.workflow
          .getHandle('monitor/iris-busy')
          .terminate('test done')
          .catch(() => undefined);
        await stopLocalServer(h.home, 'iris-busy');
      }
    },
  );

  it('bad windows (empty, schema mismatch, all NaN) become report entries, never a crash', async () => {
    const store = openObjectStore(resolveActivityOptions({ home: h.home }).store);
    const spec = monitored().spec;
    const plain = await h.client.start(fixturePipeline({ approval: { required: false }, deploy: undefined }), {
      requestedBy: 'ci@acme.com',
    });
    const snap = (await h.client.result(plain)).snapshot;
    const base = { model: 'bad-windows', version: 1, spec };
    await store.put('monitoring/bad-windows/windows/2026-01-01T00:00:00.000Z.jsonl', '');
    await store.put(
      'monitoring/bad-windows/windows/2026-01-01T00:00:02.000Z.jsonl',
      '{"features": {"color": "red"}}\nnot json\n',
    );
    await store.put(
      'monitoring/bad-windows/windows/2026-01-01T00:00:04.000Z.jsonl',
      Array.from({ length: 5 }, () =>
        JSON.stringify({ features: { sepal_length: null, sepal_width: 'n/a', petal_length: null, petal_width: null } }),
      ).join('\n'),
    );
    const empty = await computeDriftReport(store, { ...base, snapshot: snap }, '2026-01-01T00:00:00.000Z');
    expect(empty).toMatchObject({ rows: 0, drifted: false });
    expect(empty.problems).toContain('window 2026-01-01T00:00:00.000Z has no usable requests');
    const mismatch = await computeDriftReport(store, { ...base, snapshot: snap }, '2026-01-01T00:00:02.000Z');
    expect(mismatch.problems).toEqual(['line 2: not JSON']);
    expect(mismatch.columns.every((c) => c.error?.startsWith('schema mismatch'))).toBe(true);
    const nan = await computeDriftReport(store, { ...base, snapshot: snap }, '2026-01-01T00:00:04.000Z');
    expect(nan.columns.every((c) => /no values left in the current data/.test(c.error ?? ''))).toBe(true);
    expect(nan.drifted).toBe(false);
  });

  it(
    'a new object under the watched prefix starts exactly one run, which ingests it',
    { timeout: 120_000 },
    async () => {
      const bucket = `mlops-newdata-${Date.now()}`;
      const storage = new Storage({ apiEndpoint: process.env.MLOPS_GCS_API_ENDPOINT, projectId: 'local' });
      await storage.createBucket(bucket);
      const base = fixturePipeline();
      const pipeline = definePipeline({
        ...base.spec,
        name: 'iris-newdata',
        model: undefined,
        deploy: undefined,
        approval: { required: false },
        retrain: { onNewDataPrefix: `gs://${bucket}/incoming/`, newDataPoll: '1s' },
      });
      const watcher = await h.client.watchNewData(pipeline);
      expect(await h.client.watchNewData(pipeline)).toBe(watcher); // starting twice joins the running watcher
      try {
        await storage
          .bucket(bucket)
          .upload(path.join(FIXTURES, 'iris-mini.csv'), { destination: 'incoming/2026-11-22.csv' });
        const objectUri = `gs://${bucket}/incoming/2026-11-22.csv`;
        const runs = () => workflowIdsStartingWith(h, 'pipeline/iris-newdata/data-');
        const [first] = await eventually(
          async () => ((await runs()).length > 0 ? runs() : undefined),
          60_000,
          'a new-data run',
        );
        const result = await h.client.result(first!);
        const store = openObjectStore(resolveActivityOptions({ home: h.home }).store);
        expect((await readManifest(store, 'iris-newdata', result.version.version)).lineage.trigger).toEqual({
          kind: 'new-data',
          objectUri,
        });
        expect(result.snapshot.sha256).toMatch(/^[0-9a-f]{64}$/);
        await new Promise((r) => setTimeout(r, 3500)); // three more polls see the same object
        expect(await runs()).toHaveLength(1);
        await recordHistory(inject('temporalAddress'), watcher, 'watch-new-data');
      } finally {
        await h.temporal.workflow.getHandle(watcher).terminate('test done');
      }
    },
  );

  it(
    'a Schedule created by the SDK starts runs and shows in `temporal schedule list`',
    { timeout: 120_000 },
    async () => {
      const base = fixturePipeline({}, {});
      const pipeline = definePipeline({
        ...base.spec,
        name: 'iris-scheduled',
        model: undefined,
        deploy: undefined,
        approval: { required: false },
        retrain: { every: '2s', overlap: 'skip' },
      });
      const scheduleId = await h.client.schedules.apply(pipeline);
      expect(scheduleId).toBe('retrain/iris-scheduled');
      try {
        const cli = await ensureTemporalCli();
        const { stdout } = await promisify(execFile)(cli, ['schedule', 'list', '--address', inject('temporalAddress')]);
        expect(stdout).toContain('retrain/iris-scheduled');
        const started = await eventually(
          async () => (await workflowIdsStartingWith(h, 'pipeline/iris-scheduled/schedule-'))[0],
          60_000,
          'a scheduled run',
        );
        const result = await h.client.result(started);
        expect(result.runKey).toMatch(/^schedule-/);
        const store = openObjectStore(resolveActivityOptions({ home: h.home }).store);
        expect((await readManifest(store, 'iris-scheduled', result.version.version)).lineage.trigger).toEqual({
          kind: 'schedule',
          scheduleId: 'retrain/iris-scheduled',
        });
        await h.client.schedules.pause('iris-scheduled');
        expect((await h.client.schedules.describe('iris-scheduled')).state.paused).toBe(true);
        // Applying again updates the same schedule rather than creating a second one.
        expect(await h.client.schedules.apply(pipeline)).toBe(scheduleId);
      } finally {
        await h.client.schedules.remove('iris-scheduled');
      }
    },
  );
});
