/**
 * `train.sweep` on the local backend, real processes: 12 ASHA trials, 3 at a time, each a training job that reports
 * its metric as it goes. The winner, ASHA's stops (checked against the jobs' own reports), lineage, the status
 * table; cancelling the run mid-sweep stops every trial's process; a worker SIGKILLed mid-sweep leaves exactly one
 * job per trial.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openObjectStore, readManifest, resolveActivityOptions } from '../../activities/index.js';
import { isOurProcess, readPid } from '../../activities/platform/local-process.js';
import { definePipeline } from '../../sdk/define-pipeline.js';
import type { PipelineError } from '../../sdk/errors.js';
import type { CandidateSelection } from '../../sdk/run-types.js';
import type { SweepConfig } from '../../sdk/spec/sweep.js';
import { eventually, fixturePipeline, startHarness, type Harness } from '../helpers/harness.js';
import { recordHistory } from '../helpers/histories.js';
import { checkSweep } from '../helpers/sweep.js';
import { workerProcesses } from '../helpers/worker-processes.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('sweep');
});
afterAll(async () => {
  await h?.stop();
});

const ASHA: SweepConfig = {
  method: 'asha',
  metric: 'auc',
  trials: 12,
  parallelism: 3,
  seed: 11,
  space: { auc: { min: 0.6, max: 0.99 } },
  asha: { minSteps: 1, reductionFactor: 3, maxSteps: 8 },
  progressPoll: '300ms',
};

function sweepPipeline(name: string, params: Record<string, number | string>, sweep: SweepConfig = ASHA) {
  const base = fixturePipeline();
  return definePipeline({
    ...base.spec,
    name,
    model: undefined,
    deploy: undefined,
    approval: { required: false },
    gate: { metrics: { auc: { min: 0.5 } } },
    train: { ...base.spec.train, heartbeatTimeout: '4s', params, sweep },
  });
}

const startsIn = async (file: string) =>
  (await fs.readFile(file, 'utf8').catch(() => ''))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[1]!);

const localOutputs = (home: string) => async (jobKey: string) => {
  const model = path.join(home, 'jobs', jobKey, 'model');
  const metrics = await fs.readFile(path.join(model, 'metrics.json'), 'utf8').catch(() => undefined);
  return {
    reports: await fs.readFile(path.join(model, 'metrics.jsonl'), 'utf8').catch(() => ''),
    ...(metrics ? { metrics: JSON.parse(metrics) as Record<string, number> } : {}),
  };
};

describe('train.sweep on the local backend', () => {
  it('12 ASHA trials, 3 at a time: the best completed trial wins, ASHA stops what its rule says, lineage has all', async () => {
    const starts = path.join(h.home, 'starts-asha.txt');
    const definition = sweepPipeline('sweep-asha', { report_steps: 8, step_seconds: 0.5, starts_file: starts });
    const run = await h.client.start(definition, { requestedBy: 'ci@acme.com' });
    // While it runs: never more than 3 trials running, and the UI's details show the table.
    let mostRunning = 0;
    const watching = (async () => {
      for (;;) {
        const s = await h.client.status(run).catch(() => undefined);
        const running = s?.sweep?.trials.filter((t) => t.state === 'running').length ?? 0;
        mostRunning = Math.max(mostRunning, running);
        if (s?.stage === 'done' || s?.stage === 'failed') return;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const started = Date.now();
    const result = await h.client.result(run);
    const took = Date.now() - started;
    await watching;
    await recordHistory(inject('temporalAddress'), run.workflowId, 'ml-pipeline-sweep-asha');

    const store = openObjectStore(resolveActivityOptions({ home: h.home }).store);
    const manifest = await readManifest(store, 'sweep-asha', result.version.version);
    const selection = (manifest.lineage as { selection: CandidateSelection }).selection;
    expect(selection.candidates).toHaveLength(12);
    const stopped = await checkSweep(definition.spec.train.sweep!, selection, localOutputs(h.home));
    console.log(`sweep-asha: ${took} ms; stopped ${stopped.length} of 12; ${selection.reason}`);
    expect(stopped.length).toBeGreaterThanOrEqual(3);

    // The winner went on: the gate saw its metric, the version carries its parameters.
    const winner = selection.candidates[selection.winner]!;
    expect(result.training.jobKey).toBe(winner.jobKey);
    expect(result.gate.checks[0]!.value).toBe(winner.params.auc);
    expect(manifest.lineage.params).toMatchObject({ auc: winner.params.auc, report_steps: 8 });
    expect(selection.reason).toMatch(/^trial \d+ has the highest auc/);

    // Exactly one job per trial, each with its own key; every stopped job that still ran was killed before its end.
    const keys = await startsIn(starts);
    expect(keys).toHaveLength(12);
    expect(new Set(keys).size).toBe(12);
    expect(new Set(selection.candidates.map((c) => c.jobKey))).toEqual(new Set(keys));
    const cancelled = selection.candidates.filter((c, i) => stopped.includes(i));
    for (const c of cancelled) {
      expect(c.jobId).toBe(path.join(h.home, 'jobs', c.jobKey));
      const dir = c.jobId!;
      const killed = await fs.stat(path.join(dir, 'cancelled')).then(
        () => true,
        () => false,
      );
      const finished = await fs.stat(path.join(dir, 'model', 'metrics.json')).then(
        () => true,
        () => false,
      );
      expect(killed !== finished, `${c.jobKey}: killed xor finished`).toBe(true);
    }
    const status = await h.client.status(run);
    expect(status.sweep?.trials.filter((t) => t.state === 'stopped' && t.jobCancelled).length).toBeGreaterThan(0);
    // The Web UI's current details: the sweep as a table, one row per trial, the winner marked.
    const metadata = await h.client.handle(run).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    const details = metadata.currentDetails ?? '';
    expect(details).toMatch(/^## Sweep \(asha\): 12\/12 trials done, maximize auc/);
    expect(details.split('\n').filter((l) => /^\| \d+ \| auc=/.test(l))).toHaveLength(12);
    expect(details).toMatch(new RegExp(`\\| ${selection.winner} \\| .*\\| completed \\| .*\\*\\*winner\\*\\* \\|`));
    expect(details).toContain(`Winner: ${selection.reason}`);
    expect(mostRunning).toBeLessThanOrEqual(3);
    expect(mostRunning).toBeGreaterThanOrEqual(2);
  });

  it('a grid runs every combination; cancelling the run stops every running trial', async () => {
    const starts = path.join(h.home, 'starts-cancel.txt');
    const run = await h.client.start(
      sweepPipeline(
        'sweep-cancel',
        { report_steps: 2, step_seconds: 60, starts_file: starts },
        { method: 'grid', metric: 'auc', parallelism: 3, space: { auc: { values: [0.7, 0.8, 0.9, 0.95] } } },
      ),
      { requestedBy: 'ci@acme.com' },
    );
    const keys = await eventually(
      async () => {
        const k = await startsIn(starts);
        return k.length === 3 ? k : undefined;
      },
      60_000,
      'three trials running',
    );
    const pids = await Promise.all(keys.map((k) => readPid(path.join(h.home, 'jobs', k))));
    await h.client.cancel(run);
    const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('PipelineCancelled');
    for (const [i, key] of keys.entries()) {
      const dir = path.join(h.home, 'jobs', key);
      expect(await isOurProcess(pids[i]!, dir)).toBe(false);
      await fs.access(path.join(dir, 'cancelled'));
    }
    expect(await startsIn(starts)).toHaveLength(3); // the fourth never started
  });

  it('a failing trial is recorded and the sweep goes on; when none completes the stage fails with TrainingFailed', async () => {
    const grid = (codes: number[]): SweepConfig => ({
      method: 'grid',
      metric: 'auc',
      parallelism: 2,
      space: { exit_code: { values: codes } },
    });
    const mixed = await h.client.start(sweepPipeline('sweep-mixed', {}, grid([3, 0])), { requestedBy: 'ci@acme.com' });
    const result = await h.client.result(mixed);
    const status = await h.client.status(mixed);
    expect(status.sweep!.trials.map((t) => t.state)).toEqual(['failed', 'completed']);
    expect(status.sweep!.trials[0]!.error).toMatch(/exited with code 3[\s\S]*ValueError: boom/);
    expect(status.sweep!.winner).toBe(1);
    expect(status.sweep!.reason).toMatch(/of 1 completed trials; 1 failed$/);
    expect(result.training.jobKey).toBe(status.sweep!.trials[1]!.jobKey);

    const none = await h.client.start(sweepPipeline('sweep-none', {}, grid([3, 4])), { requestedBy: 'ci@acme.com' });
    const err = (await h.client.result(none).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('TrainingFailed');
    expect(err.message).toMatch(
      /No trial of the sweep completed\. trial 0: .*exited with code 3.*; trial 1: .*code 4/s,
    );
  });

  it('a worker SIGKILLed mid-sweep: the new worker reattaches, exactly one job per trial, the sweep completes', async () => {
    const queue = `sweep-crash-${Date.now()}`;
    const workers = workerProcesses(queue, h.home);
    try {
      const first = await workers.start();
      const { PipelineClient } = await import('../../sdk/client.js');
      const client = await PipelineClient.connect({ client: h.temporal, taskQueue: queue });
      const starts = path.join(h.home, 'starts-crash.txt');
      const definition = sweepPipeline(
        'sweep-crash',
        { report_steps: 6, step_seconds: 0.5, starts_file: starts },
        { ...ASHA, trials: 6, seed: 3, asha: { minSteps: 2, reductionFactor: 2, maxSteps: 6 } },
      );
      const run = await client.start(definition, { requestedBy: 'ci@acme.com' });
      await eventually(async () => ((await startsIn(starts)).length >= 3 ? true : undefined), 60_000, '3 trials');
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      await workers.start();
      const result = await client.result(run);
      const keys = await startsIn(starts);
      expect(new Set(keys).size).toBe(keys.length); // no trial's job started twice
      const status = await client.status(run);
      expect(keys.length).toBe(status.sweep!.trials.length);
      const reattached = (await fs.readdir(path.join(h.home, 'jobs'))).filter((d) => d.includes('.lost-'));
      expect(reattached).toEqual([]); // no job was given up and relaunched
      expect(result.training.jobKey).toBe(status.sweep!.trials[status.sweep!.winner!]!.jobKey);
      // The kill really hit running trials: their activities were retried on the new worker, which reattached.
      const events = (await client.handle(run).fetchHistory()).events!;
      const types = new Map(
        events
          .filter((e) => e.activityTaskScheduledEventAttributes)
          .map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name]),
      );
      const trialAttempts = events
        .filter((e) => types.get(String(e.activityTaskStartedEventAttributes?.scheduledEventId)) === 'trainModel')
        .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
      expect(Math.max(...trialAttempts)).toBeGreaterThanOrEqual(2);
    } finally {
      workers.killAll();
    }
  });
});
