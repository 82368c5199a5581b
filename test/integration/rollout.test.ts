/**
 * Staged rollouts on the `local` target with generated traffic through the model's router: a good candidate
 * goes 10 → 50 → 100 % and becomes champion; one that fails a share of requests is rolled back at the first
 * step while the champion keeps serving; one that never becomes healthy fails before any traffic moves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentLog, openObjectStore, stopLocalServer } from '../../activities/index.js';
import { resolveActivityOptions } from '../../activities/index.js';
import type { PipelineError } from '../../sdk/errors.js';
import type { RolloutRecord } from '../../sdk/run-types.js';
import type { PipelineRun } from '../../sdk/client.js';
import type { RolloutSchema } from '../../sdk/spec/rollout.js';
import type { z } from 'zod';
import { workerProcesses } from '../helpers/worker-processes.js';
import { eventually, fixturePipeline, startHarness, type Harness } from '../helpers/harness.js';
import { startTraffic, routerState } from '../helpers/traffic.js';
import { startPrometheus } from '../helpers/prometheus.js';
import { recordHistory } from '../helpers/histories.js';
import { inject } from 'vitest';
import { PipelineClient } from '../../sdk/client.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('rollout');
});
afterAll(async () => {
  for (const model of ['ro-good', 'ro-bad', 'ro-sick', 'ro-prom', 'ro-slow', 'ro-crash', 'ro-pause'])
    await stopLocalServer(h.home, model).catch(() => undefined);
  await h?.stop();
});

const FAST: z.input<typeof RolloutSchema> = {
  steps: [{ traffic: 10 }, { traffic: 50 }, { traffic: 100 }],
  bake: '3s',
  analysis: { interval: '1s', minRequests: 8, maxErrorRate: 0.02 },
};

function pipeline(name: string, params: Record<string, number | boolean> = {}, rollout = FAST) {
  const base = fixturePipeline({}, params);
  return fixturePipeline(
    {
      name,
      approval: { required: false },
      deploy: { ...base.spec.deploy!, rollout },
    },
    params,
  );
}

/** Deploys v1 (a first deployment: all traffic at once, through the router) and returns its router endpoint. */
async function firstVersion(name: string): Promise<string> {
  const result = await h.client.result(await h.client.start(pipeline(name), { requestedBy: 'ci@acme.com' }));
  expect(result.deployment).toMatchObject({ version: 1, rollout: { state: 'promoted', steps: 1 } });
  return result.deployment!.endpoint;
}

/** Polls the run's status and keeps every distinct traffic split it shows, in order. */
function watchSplits(run: PipelineRun) {
  const seen: Record<string, number>[] = [];
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const rollout: RolloutRecord | undefined = (await h.client.status(run).catch(() => undefined))?.rollout;
      const split = rollout?.traffic;
      if (split && Object.keys(split).length > 0 && JSON.stringify(seen.at(-1)) !== JSON.stringify(split))
        seen.push(split);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    seen,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

describe('staged rollout (local target)', () => {
  it('a good candidate goes 10 → 50 → 100 % under live traffic and becomes champion', async () => {
    const endpoint = await firstVersion('ro-good');
    const traffic = startTraffic(`${endpoint}/predict`);
    try {
      const run = await h.client.start(pipeline('ro-good'), { requestedBy: 'ci@acme.com' });
      const splits = watchSplits(run);
      const result = await h.client.result(run);
      await splits.stop();
      await recordHistory(inject('temporalAddress'), run.workflowId, 'ml-pipeline-rollout-promoted');
      expect(splits.seen).toEqual([{ '2': 10, '1': 90 }, { '2': 50, '1': 50 }, { '2': 100 }]);
      expect(result.deployment).toMatchObject({ version: 2, endpoint, rollout: { state: 'promoted', steps: 3 } });
      const analyses = result.deployment!.rollout!.analyses;
      expect(analyses.map((a) => [a.step, a.traffic, a.passed, a.conclusive])).toEqual([
        [1, 10, true, true],
        [2, 50, true, true],
        [3, 100, true, true],
      ]);
      expect(analyses[0]!.candidate.errors).toBe(0);
      await new Promise((r) => setTimeout(r, 500));
      expect(traffic.failures()).toEqual([]);
      expect(traffic.answeredBy().at(-1)).toBe('ro-good-v2');
      const log = await deploymentLog(openObjectStore(resolveActivityOptions({ home: h.home }).store), 'ro-good');
      expect(log.map((e) => [e.action, e.to])).toEqual([
        ['deploy', 1],
        ['deploy', 2],
      ]);
    } finally {
      await traffic.stop();
    }
  });

  it('a candidate failing a share of requests is rolled back at the first step; the champion keeps serving', async () => {
    const endpoint = await firstVersion('ro-bad');
    const traffic = startTraffic(`${endpoint}/predict`);
    try {
      const run = await h.client.start(pipeline('ro-bad', { error_share: 0.3 }), { requestedBy: 'ci@acme.com' });
      const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
      expect(err.code).toBe('DeployRolledBack');
      await recordHistory(inject('temporalAddress'), run.workflowId, 'ml-pipeline-rollout-rolled-back');
      expect(err.message).toMatch(/ro-bad v2 was rolled back; v1 keeps serving/);
      expect(err.message).toMatch(/at step 1 \(10 % of traffic\)/);
      const status = await h.client.status(run);
      expect(status.rollout).toMatchObject({ state: 'rolled-back', step: 1, traffic: { '1': 100 } });
      const report = status.rollout!.latestAnalysis!;
      expect(report.candidate.errorRate).toBeGreaterThan(0.2);
      expect(report.champion!.errors).toBe(0);
      expect(report.checks[0]).toMatchObject({ name: 'error rate', max: 0.02, passed: false });

      // Every failed request was the candidate's own answer; none came from the switch back.
      const failures = traffic.failures();
      expect(failures.length).toBeGreaterThan(0);
      expect(failures.every((f) => f.status === 500 && f.answeredBy === 'ro-bad-v2')).toBe(true);
      const before = traffic.count();
      await eventually(async () => (traffic.count() > before + 50 ? true : undefined), 20_000, '50 more requests');
      expect(traffic.failures().length).toBe(failures.length);
      expect(new Set(traffic.answeredBy().slice(-50))).toEqual(new Set(['ro-bad-v1']));
      expect((await routerState(endpoint)).routes).toEqual([expect.objectContaining({ version: 1, weight: 100 })]);

      const store = openObjectStore(resolveActivityOptions({ home: h.home }).store);
      const log = await deploymentLog(store, 'ro-bad', 'champion');
      expect(log.at(-1)).toMatchObject({ action: 'canary-rollback', from: 1, to: 1 });
      expect(log.at(-1)!.report).toMatchObject({ candidate: 2, analysis: { step: 1, passed: false } });
    } finally {
      await traffic.stop();
    }
  });

  it('a candidate whose server never becomes healthy fails before any traffic moves', async () => {
    const endpoint = await firstVersion('ro-sick');
    const before = await routerState(endpoint);
    const sick = fixturePipeline(
      {
        name: 'ro-sick',
        approval: { required: false },
        deploy: {
          ...pipeline('ro-sick').spec.deploy!,
          target: { ...pipeline('ro-sick').spec.deploy!.target, healthTimeout: 3000 },
        },
      },
      { never_healthy: true },
    );
    const run = await h.client.start(sick, { requestedBy: 'ci@acme.com' });
    const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('DeployFailed');
    expect(err.message).toMatch(/did not answer .*\/health within 3000 ms/);
    expect((await h.client.status(run)).rollout).toMatchObject({ state: 'starting', step: 0, traffic: {} });
    expect((await routerState(endpoint)).routes).toEqual(before.routes);
  });

  it('analysis from a real Prometheus scraping the router: passes a good candidate, rolls back a slow one', async () => {
    const endpoint = await firstVersion('ro-prom');
    const prometheus = await startPrometheus([endpoint]);
    const traffic = startTraffic(`${endpoint}/predict`);
    const viaPrometheus = (maxMs: number): z.input<typeof RolloutSchema> => ({
      steps: [
        { traffic: 25, bake: '6s' },
        { traffic: 100, bake: '6s' },
      ],
      analysis: {
        source: { prometheus: prometheus.url },
        interval: '3s',
        minRequests: 5,
        latency: { percentile: 95, maxMs },
        queries: [
          {
            name: 'candidate requests/s',
            query: 'sum(rate(mlops_router_requests_total{model="$model",version="$version"}[$window]))',
            min: 1,
          },
        ],
      },
    });
    try {
      const good = await h.client.result(
        await h.client.start(pipeline('ro-prom', {}, viaPrometheus(1000)), { requestedBy: 'ci@acme.com' }),
      );
      const analyses = good.deployment!.rollout!.analyses;
      expect(analyses.map((a) => [a.source, a.step, a.passed, a.conclusive])).toEqual([
        ['prometheus', 1, true, true],
        ['prometheus', 2, true, true],
      ]);
      expect(analyses[0]!.candidate.requests).toBeGreaterThan(5);
      expect(analyses[0]!.checks.map((c) => c.name)).toEqual(['error rate', 'p95 latency ms', 'candidate requests/s']);
      expect(analyses[0]!.checks[2]!.value).toBeGreaterThan(1);

      // A candidate that answers in ~300 ms breaches a 100 ms p95 limit measured by Prometheus.
      const run = await h.client.start(pipeline('ro-prom', { latency_ms: 300 }, viaPrometheus(100)), {
        requestedBy: 'ci@acme.com',
      });
      const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
      expect(err.code).toBe('DeployRolledBack');
      const report = (await h.client.status(run)).rollout!.latestAnalysis!;
      expect(report).toMatchObject({ source: 'prometheus', step: 1, passed: false });
      expect(report.checks[1]).toMatchObject({ name: 'p95 latency ms', passed: false });
      expect(report.checks[1]!.value).toBeGreaterThan(100);
      expect(traffic.failures()).toEqual([]);
    } finally {
      await traffic.stop();
      await prometheus.stop();
    }
  });

  it('a worker SIGKILLed in the middle of a bake: the new worker resumes the rollout at the same step', async () => {
    const endpoint = await firstVersion('ro-crash');
    const traffic = startTraffic(`${endpoint}/predict`);
    const taskQueue = `rollout-crash-${process.pid}`;
    const workers = workerProcesses(taskQueue, h.home);
    const startWorker = () => workers.start();
    try {
      const first = await startWorker();
      const client = await PipelineClient.connect({ client: h.temporal, taskQueue });
      const rollout: z.input<typeof RolloutSchema> = {
        steps: [
          { traffic: 20, bake: '8s' },
          { traffic: 100, bake: '2s' },
        ],
        analysis: { interval: '2s', minRequests: 5 },
      };
      const run = await client.start(pipeline('ro-crash', {}, rollout), { requestedBy: 'ci@acme.com' });
      await eventually(
        async () => {
          const r = (await client.status(run)).rollout;
          return r?.state === 'baking' && r.step === 1 && r.latestAnalysis ? true : undefined;
        },
        30_000,
        'step 1 baking with an analysis',
      );
      first.kill('SIGKILL');
      expect((await routerState(endpoint)).routes.map((r) => [r.version, r.weight])).toEqual([
        [2, 20],
        [1, 80],
      ]);
      await startWorker();
      const result = await client.result(run);
      expect(result.deployment!.rollout!.analyses.map((a) => a.step)).toEqual([1, 2]);
      const history = await client.handle(run).fetchHistory();
      const scheduled = history.events!.flatMap((e) => {
        const a = e.activityTaskScheduledEventAttributes;
        return a ? [a.activityType!.name!] : [];
      });
      // Resumed, not restarted: the candidate started once, and each step's split was set once.
      expect(scheduled.filter((n) => n === 'startCandidate')).toHaveLength(1);
      expect(scheduled.filter((n) => n === 'routeTraffic')).toHaveLength(2);
      expect(traffic.failures()).toEqual([]);
    } finally {
      await traffic.stop();
      workers.killAll();
    }
  });

  it('onBreach pause: the split holds while a decision is awaited; reject rolls back, approve continues', async () => {
    const endpoint = await firstVersion('ro-pause');
    const traffic = startTraffic(`${endpoint}/predict`);
    const pausing: z.input<typeof RolloutSchema> = {
      steps: [{ traffic: 20 }, { traffic: 100 }],
      bake: '2s',
      analysis: { interval: '1s', minRequests: 5, maxErrorRate: 0.02 },
      onBreach: 'pause',
    };
    const paused = (run: PipelineRun) =>
      eventually(
        async () => {
          const r = (await h.client.status(run)).rollout;
          return r?.state === 'paused' ? r : undefined;
        },
        30_000,
        'rollout paused',
      );
    try {
      const rejected = await h.client.start(pipeline('ro-pause', { error_share: 0.3 }, pausing), {
        requestedBy: 'ci@acme.com',
      });
      const hold = await paused(rejected);
      expect(hold.pausedBecause).toMatch(/the canary analysis failed at step 1 \(20 % of traffic\)/);
      expect((await routerState(endpoint)).routes.map((r) => [r.version, r.weight])).toEqual([
        [2, 20],
        [1, 80],
      ]);
      const refused = await h.client.reject(rejected, { by: 'ci@acme.com', comment: 'mine' }).catch((e: unknown) => e);
      expect((refused as PipelineError).message).toMatch(/separation of duties/);
      await h.client.reject(rejected, { by: 'ana@acme.com', comment: 'errors are real' });
      const err = (await h.client.result(rejected).catch((e: unknown) => e)) as PipelineError;
      expect(err.code).toBe('DeployRolledBack');
      expect(err.message).toMatch(/paused for a decision: rejected by ana@acme.com/);
      await recordHistory(inject('temporalAddress'), rejected.workflowId, 'ml-pipeline-rollout-paused-rejected');
      const record = (await h.client.status(rejected)).rollout!;
      expect(record.decisions!.map((d) => d.decision)).toEqual(['rejected']);
      expect(record.decisionAttempts!.map((a) => [a.by, a.accepted])).toEqual([
        ['ci@acme.com', false],
        ['ana@acme.com', true],
      ]);

      // Approving every pause carries the rollout through despite the failed analyses.
      const approved = await h.client.start(pipeline('ro-pause', { error_share: 0.3 }, pausing), {
        requestedBy: 'ci@acme.com',
      });
      const done = h.client.result(approved);
      let settled = false;
      void done.finally(() => (settled = true)).catch(() => undefined);
      while (!settled) {
        const r = (await h.client.status(approved)).rollout;
        if (r?.state === 'paused') await h.client.approve(approved, { by: 'bo@acme.com', comment: 'known flake' });
        await new Promise((res) => setTimeout(res, 200));
      }
      const result = await done;
      expect(result.deployment).toMatchObject({ version: 3, rollout: { state: 'promoted' } });
      const decisions = result.deployment!.rollout!.decisions!;
      expect(decisions.length).toBeGreaterThan(0);
      expect(decisions.every((d) => d.decision === 'approved' && d.approvals[0]!.by === 'bo@acme.com')).toBe(true);
    } finally {
      await traffic.stop();
    }
  });
});
