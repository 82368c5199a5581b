/**
 * The shadow stage on the local target against the real dev server, under live traffic through the model's
 * router: callers get the champion's answer on every response while half of the requests are mirrored to the
 * candidate; a candidate that answers differently (the constant-output serving bug, which the skew gate is not
 * asked to catch here) is stopped with the comparison in the status and the deployment log; one that answers
 * like the champion goes on to the canary steps and is promoted.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { deploymentLog, openObjectStore, resolveActivityOptions, stopLocalServer } from '../../activities/index.js';
import type { PipelineError } from '../../sdk/errors.js';
import type { RolloutRecord, ShadowReport } from '../../sdk/run-types.js';
import type { PipelineRun } from '../../sdk/client.js';
import { recordHistory } from '../helpers/histories.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { SKEW_DATA, rowsOf, skewPipeline } from '../helpers/skew.js';
import { routerState, startTraffic } from '../helpers/traffic.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('shadow');
});
afterAll(async () => {
  await stopLocalServer(h.home, 'sh-model').catch(() => undefined);
  await h?.stop();
});

const ROLLOUT = {
  shadow: { share: 0.5, duration: '4s', interval: '1s', minRequests: 20 },
  steps: [{ traffic: 50 }, { traffic: 100 }],
  bake: '2s',
  analysis: { interval: '1s', minRequests: 5 },
};

const pipeline = (fault?: string) => skewPipeline('sh-model', { fault, deploy: { skew: undefined, rollout: ROLLOUT } });

/** Polls the run's status; keeps the shadow comparisons it shows while the stage runs. */
function watchShadow(run: PipelineRun) {
  const live: ShadowReport[] = [];
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const rollout: RolloutRecord | undefined = (await h.client.status(run).catch(() => undefined))?.rollout;
      if (rollout?.state === 'shadowing' && rollout.shadow && rollout.shadow.at !== live.at(-1)?.at)
        live.push(rollout.shadow);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    live,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

describe('shadow stage (local target, live traffic)', () => {
  let endpoint: string;

  it('a first deployment has no champion to shadow: it takes the traffic at once', async () => {
    const first = await h.client.result(await h.client.start(pipeline(), { requestedBy: 'ci@acme.com' }));
    expect(first.deployment).toMatchObject({ version: 1, rollout: { state: 'promoted', steps: 1 } });
    expect(first.deployment!.rollout!.shadow).toBeUndefined();
    endpoint = first.deployment!.endpoint;
  });

  it('a candidate answering differently is stopped; every caller got the champion answer', async () => {
    const traffic = startTraffic(`${endpoint}/predict`, 2, 10, {}, await rowsOf(SKEW_DATA));
    try {
      const run = await h.client.start(pipeline('constant'), { requestedBy: 'ci@acme.com' });
      const watch = watchShadow(run);
      const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
      await watch.stop();
      await recordHistory(inject('temporalAddress'), run.workflowId, 'ml-pipeline-rollout-shadow-failed');
      expect(err.code).toBe('ShadowFailed');
      expect(err.message).toMatch(
        /sh-model v2 was stopped in the shadow stage before any user saw it; v1 keeps serving/,
      );
      expect(err.message).toMatch(/failed: prediction agreement \S+ \(min 0\.99\)/);

      const status = await h.client.status(run);
      expect(status.rollout).toMatchObject({ state: 'rolled-back', step: 0, traffic: { '1': 100 } });
      const report = status.rollout!.shadow!;
      expect(report).toMatchObject({ conclusive: true, passed: false, share: 0.5 });
      expect(report.agreement!).toBeLessThan(0.99);
      expect(report.distribution!.value!).toBeGreaterThan(0.1);
      expect(report.candidate.errors).toBe(0);
      expect(report.disagreements.length).toBeGreaterThan(0);
      // The candidate got half of the live requests (spread evenly), and answered each one.
      expect(Math.abs(report.mirrored - report.liveRequests / 2)).toBeLessThanOrEqual(1);
      expect(report.candidate.requests).toBeGreaterThanOrEqual(report.mirrored - report.skipped - 4);
      expect(report.skipped).toBe(0);
      // Whatever the status showed while the stage ran was a comparison not yet failed.
      expect(watch.live.every((r) => r.passed)).toBe(true);

      // Every response any caller got, during the stage and after, was the champion's.
      await new Promise((r) => setTimeout(r, 300));
      const answers = traffic.answers();
      expect(answers.length).toBeGreaterThan(report.liveRequests);
      expect(answers.every((a) => a.status === 200 && a.answeredBy === 'sh-model-v1')).toBe(true);
      expect((await routerState(endpoint)).routes).toEqual([expect.objectContaining({ version: 1, weight: 100 })]);
      expect((await routerState(endpoint)).mirror).toBeUndefined();

      const store = openObjectStore(resolveActivityOptions({ home: h.home }).store);
      const entry = (await deploymentLog(store, 'sh-model', 'champion')).at(-1)!;
      expect(entry).toMatchObject({ action: 'canary-rollback', from: 1, to: 1 });
      expect(entry.reason).toMatch(/v2 rolled back: shadow stage: the candidate answers differently/);
      expect(entry.report).toMatchObject({ candidate: 2, analysis: { passed: false, agreement: report.agreement } });
    } finally {
      await traffic.stop();
    }
  });

  it('a candidate answering like the champion passes the shadow stage and goes on to the canary', async () => {
    const traffic = startTraffic(`${endpoint}/predict`, 2, 10, {}, await rowsOf(SKEW_DATA));
    try {
      const run = await h.client.start(pipeline(), { requestedBy: 'ci@acme.com' });
      const watch = watchShadow(run);
      const result = await h.client.result(run);
      await watch.stop();
      await recordHistory(inject('temporalAddress'), run.workflowId, 'ml-pipeline-rollout-shadow-passed');
      const rollout = result.deployment!.rollout!;
      expect(result.deployment).toMatchObject({ version: 3, rollout: { state: 'promoted', steps: 2 } });
      expect(rollout.shadow).toMatchObject({ conclusive: true, passed: true, agreement: 1, maxAbsDiff: 0 });
      expect(rollout.shadow!.distribution).toMatchObject({ on: 'score', value: 0 });
      expect(rollout.analyses.map((a) => [a.step, a.traffic, a.passed])).toEqual([
        [1, 50, true],
        [2, 100, true],
      ]);
      expect(watch.live.length).toBeGreaterThan(0);
      // Requests sent before the last shadow comparison were all answered by the champion.
      const shadowEnd = Date.parse(rollout.shadow!.at);
      const during = traffic.answers().filter((a) => a.at < shadowEnd);
      expect(during.length).toBeGreaterThan(rollout.shadow!.liveRequests / 2);
      expect(during.every((a) => a.status === 200 && a.answeredBy === 'sh-model-v1')).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      expect(traffic.failures()).toEqual([]);
      expect(traffic.answeredBy().at(-1)).toBe('sh-model-v3');
    } finally {
      await traffic.stop();
    }
  });
});
