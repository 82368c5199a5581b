/**
 * The train stage as a sweep (`train.sweep`): each trial is its own training activity with its own job key, so
 * Temporal retries and reattaches it like a single job; at most `parallelism` run at once. With `asha` the
 * workflow reads the running trials' reported metrics every `progressPoll` and cancels the trials the rule stops
 * (the activity's cancellation deletes the job). Cancelling the run cancels every trial and waits until each job is
 * gone. The decisions depend only on the reports as the workflow received them (recorded in history).
 */
import { CancellationScope, condition, isCancellation, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import { trialJobKey } from '../../sdk/ids.js';
import type {
  CandidateSelection,
  DataSnapshot,
  SweepStatus,
  TrainingResult,
  TrialRecord,
} from '../../sdk/run-types.js';
import { AshaRule, bestTrial, keepReports, sweepTrials } from '../../sdk/sweep.js';
import type { SweepSpec } from '../../sdk/spec/sweep.js';
import type { TrainInput } from '../../activities/index.js';
import { progressReads } from './activities.js';
import { trainPlaced } from './placement.js';
import { fail, type PipelineRunState } from './run-state.js';

type Params = Record<string, string | number | boolean>;

/** Runs the spec's sweep and returns the winning trial's training result; its record is `run.status.sweep`. */
export async function trainSweep(run: PipelineRunState, snapshot: DataSnapshot, base: Params): Promise<TrainingResult> {
  const { spec, input } = run;
  const sweep = spec.train.sweep!;
  // Each trial is placed like a single job (train.placement: a pool's queue, a local job on its host's queue).
  const trainOne = (trialInput: TrainInput) => trainPlaced(spec, trialInput);
  const info = workflowInfo();
  const status: SweepStatus = {
    method: sweep.method,
    metric: sweep.metric,
    direction: sweep.direction,
    parallelism: sweep.parallelism,
    trials: sweepTrials(sweep).map((params, index) => ({
      index,
      params,
      state: 'pending',
      jobKey: trialJobKey(info.namespace, info.workflowId, spec.name, index),
      reports: [],
    })),
    decisions: [],
  };
  run.status.sweep = status;
  const asha = sweep.method === 'asha' ? new AshaRule(sweep) : undefined;
  status.decisions = asha?.decisions ?? [];
  const results = new Map<number, TrainingResult>();
  const scopes = new Map<number, CancellationScope>();
  const settled: Promise<void>[] = [];
  const running = new Set<number>();
  /** Trials ended since the last progress read, whose last reports are still to be read. */
  const unread = new Set<number>();
  const linesRead = new Map<number, number>();
  let changed = false;
  const show = () => setCurrentDetails(sweepDetails(status));

  const launch = (trial: TrialRecord) => {
    const scope = new CancellationScope();
    scopes.set(trial.index, scope);
    running.add(trial.index);
    trial.state = 'running';
    const params = { ...base, ...trial.params };
    const job = scope.run(() =>
      trainOne({
        pipeline: spec.name,
        runKey: input.runKey,
        train: spec.train,
        params,
        snapshot,
        store: run.store,
        trial: trial.index,
      }),
    );
    settled.push(
      job
        .then((result) => {
          if (trial.state !== 'running') {
            trial.jobCancelled = false; // stopped, but its job had ended before the cancellation reached it
            return;
          }
          const value = result.metrics[sweep.metric];
          if (value === undefined) {
            trial.state = 'failed';
            trial.error = `metrics.json has no "${sweep.metric}" (train.sweep.metric)`;
            return;
          }
          trial.state = 'completed';
          trial.metrics = result.metrics;
          results.set(trial.index, result);
        })
        .catch((err: unknown) => {
          if (trial.state !== 'running') return; // stopped (or failed) here: its cancellation has completed
          trial.state = 'failed';
          if (isCancellation(err)) trial.error = 'cancelled with the run';
          else
            trial.error =
              err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
        })
        .finally(() => {
          running.delete(trial.index);
          if (asha) unread.add(trial.index);
          changed = true;
        }),
    );
  };

  const stop = (trial: TrialRecord, why: string, decision?: TrialRecord['stoppedAt']) => {
    trial.jobCancelled = running.has(trial.index);
    if (trial.state === 'completed') results.delete(trial.index);
    trial.state = decision ? 'stopped' : 'failed';
    if (decision) trial.stoppedAt = decision;
    else trial.error = why;
    if (trial.jobCancelled) scopes.get(trial.index)!.cancel();
  };

  const readProgress = async (asked: number[]) => {
    unread.clear();
    if (asked.length === 0) return;
    const progress = await progressReads.readTrialProgress({
      pipeline: spec.name,
      store: run.store,
      train: spec.train,
      metric: sweep.metric,
      trials: asked.map((index) => ({ index, fromLine: linesRead.get(index) ?? 0 })),
    });
    for (const p of progress) {
      const trial = status.trials[p.index]!;
      trial.jobId = p.jobId;
      linesRead.set(p.index, p.lines);
      trial.reports = keepReports(trial.reports, p.reports);
      if (trial.state === 'stopped' || trial.state === 'failed') continue;
      if (p.error) {
        // ASHA cannot rank a trial whose reports it cannot read; grid and random only record them.
        if (asha) stop(trial, `its intermediate metrics are malformed: ${p.error}`);
        continue;
      }
      const decision = asha?.observe(p.index, p.reports);
      if (decision) stop(trial, '', decision);
    }
  };

  let next = 0;
  try {
    show();
    while (next < status.trials.length || running.size > 0 || unread.size > 0) {
      while (running.size < sweep.parallelism && next < status.trials.length) launch(status.trials[next++]!);
      if (asha) {
        await condition(() => changed, sweep.progressPoll);
        changed = false;
        await readProgress([...new Set([...running, ...unread])].sort((a, b) => a - b));
      } else {
        await condition(() => changed);
        changed = false;
      }
      show();
    }
  } catch (err) {
    // The run was cancelled: every trial's activity is cancelled with it; wait until each has removed its job.
    await CancellationScope.nonCancellable(() => Promise.allSettled(settled));
    throw err;
  }
  await Promise.all(settled);
  // Grid and random read no reports while they run: one read at the end puts each job's id and reports on record.
  if (!asha) await readProgress(status.trials.filter((t) => t.state !== 'pending').map((t) => t.index));

  const best = bestTrial(
    sweep,
    [...results.entries()].map(([index, r]) => ({ index, value: r.metrics[sweep.metric]! })),
  );
  if (!best) {
    show();
    const failures = status.trials.filter((t) => t.error).map((t) => `trial ${t.index}: ${t.error}`);
    fail('TrainingFailed', `No trial of the sweep completed. ${failures.slice(0, 3).join('; ')}`, status);
  }
  status.winner = best.index;
  status.reason = winnerReason(sweep, status, best);
  show();
  return results.get(best.index)!;
}

function winnerReason(sweep: SweepSpec, status: SweepStatus, best: { index: number; value: number }): string {
  const count = (state: TrialRecord['state']) => status.trials.filter((t) => t.state === state).length;
  const stopped = count('stopped');
  const failed = count('failed');
  return (
    `trial ${best.index} has the ${sweep.direction === 'maximize' ? 'highest' : 'lowest'} ${sweep.metric} ` +
    `(${best.value}) of ${count('completed')} completed trials` +
    (stopped ? `; ${stopped} stopped early by ASHA` : '') +
    (failed ? `; ${failed} failed` : '')
  );
}

/** The sweep as lineage records it: every trial and why the winner won. */
export function sweepSelection(status: SweepStatus): CandidateSelection {
  return {
    metric: status.metric,
    higherIsBetter: status.direction === 'maximize',
    candidates: status.trials.map((t) => ({
      params: t.params,
      metrics: t.metrics ?? {},
      jobKey: t.jobKey,
      state: t.state,
      ...(t.jobId ? { jobId: t.jobId } : {}),
      reports: t.reports,
      ...(t.error ? { error: t.error } : {}),
    })),
    winner: status.winner ?? -1,
    reason: status.reason ?? '',
    sweep: { method: status.method, decisions: status.decisions },
  };
}

const round = (v: number) => Number(v.toPrecision(6));

/** The Web UI's details panel during the train stage: the sweep's progress as a table. */
function sweepDetails(status: SweepStatus): string {
  const rows = status.trials.map((t) => {
    const last = t.reports.at(-1);
    const final = t.metrics?.[status.metric];
    const note =
      t.index === status.winner
        ? '**winner**'
        : t.stoppedAt
          ? `stopped at rung ${t.stoppedAt.rung} (${t.stoppedAt.better} of ${t.stoppedAt.competitors} better)`
          : (t.error ?? '');
    const params = Object.entries(t.params)
      .map(([k, v]) => `${k}=${typeof v === 'number' ? round(v) : v}`)
      .join(' ');
    return `| ${t.index} | ${params} | ${t.state} | ${last ? `${round(last.value)} @ ${last.step}` : ''} | ${
      final === undefined ? '' : round(final)
    } | ${note.replace(/\|/g, '/').split('\n')[0]} |`;
  });
  const done = status.trials.filter((t) => t.state !== 'pending' && t.state !== 'running').length;
  return [
    `## Sweep (${status.method}): ${done}/${status.trials.length} trials done, ${status.direction} ${status.metric}`,
    '',
    `| trial | params | state | last report | ${status.metric} | note |`,
    '|---|---|---|---|---|---|',
    ...rows,
    ...(status.reason ? ['', `Winner: ${status.reason}`] : []),
  ].join('\n');
}
