/**
 * The skew gate on the local target against the real dev server: the training fixture writes its offline
 * predictions, and serving containers that preprocess differently from training (serve_fixture.py with
 * FIXTURE_SERVE_FAULT: a swapped feature order, a missing scaling step, float32 inputs) are each stopped before
 * any traffic moves, with a message naming what differs, while the champion keeps answering every request. The
 * good container passes with agreement 1 and its report lands in the status and the manifest.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openObjectStore, readManifest, resolveActivityOptions, stopLocalServer } from '../../activities/index.js';
import type { PipelineError } from '../../sdk/errors.js';
import type { SkewReport } from '../../sdk/run-types.js';
import { recordHistory } from '../helpers/histories.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { SKEW_DATA, rowsOf, skewPipeline } from '../helpers/skew.js';
import { routerState, startTraffic } from '../helpers/traffic.js';

let h: Harness;
const MODELS = ['sk-direct', 'sk-faults', 'sk-none'];
beforeAll(async () => {
  h = await startHarness('skew');
});
afterAll(async () => {
  for (const model of MODELS) await stopLocalServer(h.home, model).catch(() => undefined);
  await h?.stop();
});

const storeOf = () => openObjectStore(resolveActivityOptions({ home: h.home }).store);

/** True when something answers HTTP at `url`. */
const answers = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(2000) }).then(
    () => true,
    () => false,
  );

describe('skew gate (local target)', () => {
  it('the good serving container passes with agreement 1; the report is in the status and the manifest', async () => {
    const run = await h.client.start(skewPipeline('sk-direct'), { requestedBy: 'ci@acme.com' });
    const result = await h.client.result(run);
    await recordHistory(inject('temporalAddress'), run.workflowId, 'ml-pipeline-skew-gate-passed');
    expect(result.training.predictions).toEqual({ file: 'predictions.jsonl', rows: 40 });
    const skew = result.deployment!.skew!;
    expect(skew).toMatchObject({
      status: 'passed',
      offlineRows: 40,
      rows: 40,
      agreement: 1,
      maxAbsDiff: 0,
      errors: 0,
      explanations: [],
    });
    expect(skew.summary).toMatch(/^served as trained: class agreement 1 \(min 1\), largest difference 0/);
    expect(skew.via).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/predict$/);
    expect(skew.checks.every((c) => c.passed)).toBe(true);
    expect((await h.client.status(run)).skew).toEqual(skew);
    const manifest = await readManifest(storeOf(), 'sk-direct', result.version.version);
    expect(manifest.skew).toEqual(skew);
    expect(manifest.deployments[0]!.skew).toEqual(skew);
    // The gate ran on the candidate's own server before it took traffic; that server is now the live one.
    const res = await fetch(result.deployment!.predictUrl, {
      method: 'POST',
      body: JSON.stringify({ instances: [skew.worst[0]!.instance] }),
    });
    expect(((await res.json()) as { predictions: unknown[] }).predictions).toEqual([skew.worst[0]!.offline]);
  });

  it('each wrong serving container is stopped before any traffic, with a message naming what differs', async () => {
    const rollout = { steps: [{ traffic: 100 }], bake: 0 };
    const first = await h.client.result(
      await h.client.start(skewPipeline('sk-faults', { deploy: { rollout } }), { requestedBy: 'ci@acme.com' }),
    );
    expect(first.deployment).toMatchObject({ version: 1, skew: { status: 'passed' }, rollout: { state: 'promoted' } });
    const endpoint = first.deployment!.endpoint;
    const routes = (await routerState(endpoint)).routes;
    const traffic = startTraffic(`${endpoint}/predict`, 2, 20, {}, await rowsOf(SKEW_DATA));
    const cases: [string, RegExp][] = [
      ['swap-features', /sending "amount" and "tenure_days" exchanged reproduces the offline predictions/],
      ['no-scaling', /sending the features already standardised .* the server skips the scaling step/],
      ['float32', /reads "ts" as float32, which loses up to \d+/],
    ];
    try {
      for (const [i, [fault, names]] of cases.entries()) {
        const run = await h.client.start(skewPipeline('sk-faults', { fault, deploy: { rollout } }), {
          requestedBy: 'ci@acme.com',
        });
        const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
        if (i === 0) await recordHistory(inject('temporalAddress'), run.workflowId, 'ml-pipeline-skew-detected');
        expect(err.code, fault).toBe('SkewDetected');
        expect(err.message).toMatch(
          new RegExp(
            `^sk-faults v${i + 2} was stopped before any traffic \\(v1 keeps serving\\): served predictions differ`,
          ),
        );
        expect(err.message, fault).toMatch(names);
        const report = err.details as SkewReport;
        expect(report.status).toBe('failed');
        expect(report.worst.length).toBeGreaterThan(0);
        expect(report.checks.some((c) => !c.passed)).toBe(true);

        const status = await h.client.status(run);
        expect(status.skew).toEqual(report);
        expect(status.stages.deploy).toBe('failed');
        expect(status.rollout).toBeUndefined(); // no step ever started
        const router = await routerState(endpoint);
        expect(router.routes).toEqual(routes);
        expect(router.stats[String(i + 2)]).toBeUndefined(); // not one routed request reached the candidate
        expect(await answers(report.via!.replace('/predict', '/health'))).toBe(false); // its server is stopped
        const manifest = await readManifest(storeOf(), 'sk-faults', i + 2);
        expect(manifest.skew).toEqual(report);
        expect(manifest.deployments).toEqual([]);
      }
    } finally {
      await traffic.stop();
    }
    expect(traffic.count()).toBeGreaterThan(20);
    expect(traffic.failures()).toEqual([]);
    expect(new Set(traffic.answeredBy())).toEqual(new Set(['sk-faults-v1']));
  });

  it('a job that writes no predictions still deploys; the gate says it was skipped and why', async () => {
    const result = await h.client.result(
      await h.client.start(skewPipeline('sk-none', { params: { write_predictions: false } }), {
        requestedBy: 'ci@acme.com',
      }),
    );
    expect(result.training.predictions).toBeUndefined();
    expect(result.deployment!.skew).toMatchObject({ status: 'skipped', rows: 0 });
    expect(result.deployment!.skew!.summary).toMatch(/^skipped: the training job wrote no predictions.jsonl/);

    const required = await h.client.start(
      skewPipeline('sk-none', { params: { write_predictions: false }, deploy: { skew: { required: true } } }),
      { requestedBy: 'ci@acme.com' },
    );
    const err = (await h.client.result(required).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('SkewDetected');
    expect(err.message).toMatch(/wrote no predictions.jsonl.*and deploy.skew.required is set/);
    expect(err.message).toMatch(/v1 keeps serving/);
  });
});
