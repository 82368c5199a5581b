/**
 * Checks of a finished sweep against what its trials' jobs reported (their own metrics.jsonl and metrics.json, read
 * from where the jobs wrote them, not from the workflow): ASHA's decisions, the stops, and the winner.
 */
import { expect } from 'vitest';
import type { CandidateSelection } from '../../sdk/run-types.js';
import type { SweepSpec } from '../../sdk/spec/sweep.js';
import { AshaRule, rungStep, type TrialReport } from '../../sdk/sweep.js';
import { parseReports } from '../../activities/train/progress.js';

/** What one trial's job wrote: its metrics.jsonl text, and its metrics.json when it finished. */
export interface TrialOutputs {
  reports: string;
  metrics?: Record<string, number>;
}

/**
 * Verifies a sweep's lineage record: every ASHA decision's value is the job's own report at that rung, the rule
 * replayed over the decisions (in the order they were made) stops exactly the trials recorded as stopped, every
 * trial that went on past a rung has a decision there, and the winner has the best final metric of the completed
 * trials. Returns the indexes of the trials the rule stopped.
 */
export async function checkSweep(
  sweep: SweepSpec,
  selection: CandidateSelection,
  outputsOf: (jobKey: string) => Promise<TrialOutputs>,
): Promise<number[]> {
  const outputs = await Promise.all(selection.candidates.map((c) => outputsOf(c.jobKey)));
  const reported: TrialReport[][] = outputs.map((o) => parseReports(o.reports, sweep.metric).reports);
  const decisions = selection.sweep!.decisions;

  const rule = new AshaRule(sweep);
  const stopped = new Set<number>();
  for (const d of decisions) {
    const firstAtRung = reported[d.trial]!.find((r) => r.step >= d.rungStep);
    expect(firstAtRung, `trial ${d.trial} reported at rung ${d.rung}`).toEqual({ step: d.step, value: d.value });
    const stop = rule.observe(d.trial, [{ step: d.step, value: d.value }]);
    expect(!stop, `decision of trial ${d.trial} at rung ${d.rung}`).toBe(d.continued);
    if (stop) stopped.add(d.trial);
  }
  for (const [i, c] of selection.candidates.entries()) {
    expect(c.state === 'stopped', `trial ${i} stopped`).toBe(stopped.has(i));
    if (c.state !== 'completed') continue;
    // A trial that ran to its end went past every rung below maxSteps: each must have been decided.
    const rungsPassed = [0, 1, 2, 3, 4].filter((k) => {
      const step = rungStep(sweep, k);
      return (
        (sweep.asha?.maxSteps === undefined || step < sweep.asha.maxSteps) && reported[i]!.some((r) => r.step >= step)
      );
    });
    expect(decisions.filter((d) => d.trial === i).map((d) => d.rung)).toEqual(rungsPassed);
  }

  const finals = selection.candidates.flatMap((c, i) =>
    c.state === 'completed' ? [{ i, value: outputs[i]!.metrics![sweep.metric]! }] : [],
  );
  expect(finals.length).toBeGreaterThan(0);
  const best = finals.reduce((a, b) =>
    (sweep.direction === 'maximize' ? b.value > a.value : b.value < a.value) ? b : a,
  );
  expect(selection.winner).toBe(best.i);
  expect(selection.candidates[best.i]!.metrics[sweep.metric]).toBe(best.value);
  return [...stopped];
}
