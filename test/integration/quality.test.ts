/**
 * Model quality with delayed labels on the real dev server: a deployed model's traffic (request ids from the
 * `x-mlops-request-id` response header), then label files under `monitor.labels.prefix` that put accuracy under
 * its bound for two windows, part of the first window's labels arriving a window late, with an unknown id, a
 * duplicate and a label of the wrong type among them. The monitor reports `quality-degraded` with the per-window
 * metrics, and exactly one retrain run starts (even with checks racing), whose lineage names the quality report.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openObjectStore, readManifest, resolveActivityOptions, stopLocalServer } from '../../activities/index.js';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { z } from 'zod';
import { defineStep } from '../../sdk/define-step.js';
import type { MonitorAlert, MonitorStatus } from '../../sdk/run-types.js';
import { recordHistory } from '../helpers/histories.js';
import {
  eventually,
  workflowIdsStartingWith,
  fixturePipeline,
  startHarness,
  type Harness,
} from '../helpers/harness.js';

const MODEL = 'iris-quality';
const WINDOW_MS = 2000;
let h: Harness;
let labelsDir: string;
/** What the monitor's alert step was called with. */
const alerts: MonitorAlert[] = [];
const notify = defineStep({
  name: 'notify-chat',
  input: z.object({ kind: z.string(), summary: z.string(), htmlUri: z.string() }).loose(),
  output: z.object({ sent: z.boolean() }),
  run: async (alert) => {
    alerts.push(alert as unknown as MonitorAlert);
    return { sent: true };
  },
});

beforeAll(async () => {
  h = await startHarness('quality', { steps: [notify] });
  labelsDir = await fs.mkdtemp(path.join(os.tmpdir(), 'labels-'));
});
afterAll(async () => {
  await h.temporal.workflow
    .getHandle(`monitor/${MODEL}`)
    .terminate('test done')
    .catch(() => undefined);
  await stopLocalServer(h.home, MODEL);
  await h?.stop();
  await fs.rm(labelsDir, { recursive: true, force: true });
});

function pipeline() {
  return definePipeline({
    ...fixturePipeline().spec,
    name: MODEL,
    model: undefined,
    approval: { required: false },
    monitor: {
      enabled: true,
      window: `${WINDOW_MS}ms`,
      cooldown: '1h',
      labels: {
        prefix: `${pathToFileURL(labelsDir).href}/`,
        task: 'classification',
        metrics: { accuracy: { min: 0.8 } },
        minLabels: 6,
        sustainedWindows: 2,
      },
      onAlert: { step: 'notify-chat' },
    },
  });
}

/** Sends `count` one-instance requests; the request ids the proxy returned. */
async function traffic(url: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const instances = [{ sepal_length: 5 + i * 0.1, sepal_width: 3, petal_length: 1.5, petal_width: 0.2 }];
    const res = await fetch(url, { method: 'POST', body: JSON.stringify({ instances }) });
    expect(res.status).toBe(200);
    ids.push(res.headers.get('x-mlops-request-id')!);
  }
  return ids;
}

const nextWindow = () => new Promise((r) => setTimeout(r, WINDOW_MS - (Date.now() % WINDOW_MS) + 100));

describe('model quality with delayed labels', () => {
  it('labels below the bound for two windows (some a window late) → quality-degraded → exactly one retrain', async () => {
    const result = await h.client.result(await h.client.start(pipeline(), { requestedBy: 'ci@acme.com' }));
    const url = result.deployment!.predictUrl;
    await eventually(
      () => h.client.monitorStatus(MODEL).then((s) => (s.version === result.version.version ? s : undefined)),
      30_000,
      'monitor started',
    );

    // Window A, then window B: ten predictions each (the fixture model answers 1 for all of them).
    await nextWindow();
    const a = await traffic(url, 10);
    await nextWindow();
    const b = await traffic(url, 10);
    await nextWindow();
    await new Promise((r) => setTimeout(r, 1500)); // B closed, and its last segment flushed

    // Window A's first labels: 7 of 10, two right (accuracy 2/7 < 0.8), plus an unknown id.
    const jsonl = (rows: Record<string, unknown>[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
    await fs.writeFile(
      path.join(labelsDir, '001-a.jsonl'),
      jsonl([
        ...a.slice(0, 7).map((id, i) => ({ request_id: id, label: i < 2 ? 1 : 0 })),
        { request_id: 'no-such-request', label: 1 },
      ]),
    );
    await h.client.checkMonitor(MODEL);
    // (A check the monitor's own timer started before the file was written may answer first.)
    let status = await eventually(
      async () => {
        const s: MonitorStatus = await h.client.monitorStatus(MODEL);
        return s.quality?.windows.some((w) => w.labelled === 7) ? s : undefined;
      },
      20_000,
      'the first labels joined',
    );
    const windows = status.quality!.windows.filter((w) => w.predictions === 10);
    expect(windows).toHaveLength(2);
    expect(windows.map((w) => [w.labelled, w.judged])).toEqual([
      [7, true],
      [0, false],
    ]);
    expect(status.quality!.degraded).toBe(false); // one judged window is not a sustained breach
    expect(await workflowIdsStartingWith(h, `pipeline/${MODEL}/quality-`)).toEqual([]);

    // A window late: the rest of A's labels (one a duplicate of a first-batch id, one of the wrong type), and B's,
    // as CSV. A: 3 of 9 right after these; B: 4 of 10.
    const csv = [
      'request_id,label',
      `${a[7]},1`,
      `${a[8]},0`,
      `${a[9]},0.75`, // wrong type for a class
      `${a[0]},0`, // duplicate: the first label counts
      ...b.map((id, i) => `${id},${i < 4 ? 1 : 0}`),
    ].join('\n');
    await fs.writeFile(path.join(labelsDir, '002-late.csv'), csv + '\n');

    await Promise.all([h.client.checkMonitor(MODEL), h.client.checkMonitor(MODEL)]);
    status = await eventually(
      async () => {
        const s: MonitorStatus = await h.client.monitorStatus(MODEL);
        return s.retrains.length > 0 ? s : undefined;
      },
      30_000,
      'a quality-triggered retrain',
    );
    const quality = status.quality!;
    expect(quality.degraded).toBe(true);
    const [wa, wb] = quality.windows.filter((w) => w.predictions === 10);
    expect(wa).toMatchObject({ labelled: 9, judged: true, metrics: { accuracy: 3 / 9 } });
    expect(wa!.breaches).toEqual([`accuracy ${Number((3 / 9).toPrecision(4))} < min 0.8`]);
    expect(wb).toMatchObject({ labelled: 10, judged: true, metrics: { accuracy: 0.4, precision: 0.4, recall: 1 } });
    expect(quality.window).toBe(wb!.window);
    expect(quality.labels).toMatchObject({
      files: 2,
      rows: 8 + 14,
      joined: 19,
      unknownIds: 1,
      duplicates: 1,
      wrongType: 1,
    });
    expect(quality.problems.join('\n')).toMatch(/no-such-request matches no served prediction/);

    await Promise.all([h.client.checkMonitor(MODEL), h.client.checkMonitor(MODEL)]);
    const runs = await workflowIdsStartingWith(h, `pipeline/${MODEL}/quality-`);
    expect(runs).toHaveLength(1);
    status = await h.client.monitorStatus(MODEL);
    expect(status.retrains).toEqual([
      expect.objectContaining({ workflowId: runs[0], kind: 'quality-degraded', window: wb!.window }),
    ]);
    const retrain = await h.client.result(runs[0]!);
    const store = openObjectStore(resolveActivityOptions({ home: h.home }).store);
    const manifest = await readManifest(store, MODEL, retrain.version.version);
    expect(manifest.lineage.trigger).toEqual({ kind: 'quality-degraded', reportUri: status.retrains[0]!.reportUri });
    const saved = JSON.parse(
      (await store.get(status.retrains[0]!.reportUri.replace(`${store.root}/`, '')))!.data.toString(),
    );
    expect(saved).toMatchObject({ model: MODEL, degraded: true, window: wb!.window });
    // One alert for the degradation (not one per check), naming the breach and the report.
    const degraded = alerts.filter((a) => a.kind === 'quality-degraded');
    expect(degraded).toHaveLength(1);
    expect(degraded[0]!.summary).toMatch(/quality degraded \(accuracy 0\.4 < min 0\.8\)/);
    expect(degraded[0]!.htmlUri).toMatch(/\/quality\/.*\.html$/);
    // The last verdicts in the monitor's current details, as the Web UI shows them.
    const metadata = (await h.temporal.workflow
      .getHandle(`monitor/${MODEL}`)
      .query('__temporal_workflow_metadata')) as {
      currentDetails?: string;
    };
    expect(metadata.currentDetails).toMatch(/\*\*Quality\*\*/);
    expect(metadata.currentDetails).toMatch(/\[quality report\]\(.*\.html\)/);
    await recordHistory(inject('temporalAddress'), `monitor/${MODEL}`, 'monitor-model-quality-retrain');
  });
});
