/**
 * A sweep's decisions as pure functions of its spec and of the metrics its trials report: which parameters each
 * trial gets (grid order, or seeded draws), ASHA's stop rule, and the winner. The workflow calls them, so they are
 * deterministic and sandbox-safe; tests call them to check a run against the rule.
 */
import type { ParamDomain, SweepSpec } from './spec/sweep.js';
import { seededRandom } from './seeded-random.js';

type Scalar = string | number | boolean;
export type TrialParams = Record<string, Scalar>;

function draw(domain: ParamDomain, random: () => number): Scalar {
  const u = random();
  if ('values' in domain) return domain.values[Math.floor(u * domain.values.length)]!;
  if (domain.integer) {
    const lo = Math.ceil(domain.min);
    const hi = Math.floor(domain.max);
    if (domain.scale === 'log') return Math.min(hi, Math.max(lo, Math.round(Math.exp(logBetween(lo, hi, u)))));
    return lo + Math.min(hi - lo, Math.floor(u * (hi - lo + 1)));
  }
  if (domain.scale === 'log') return Math.exp(logBetween(domain.min, domain.max, u));
  return domain.min + u * (domain.max - domain.min);
}

function logBetween(min: number, max: number, u: number): number {
  return Math.log(min) + u * (Math.log(max) - Math.log(min));
}

/** Every combination of a grid, the first parameter varying slowest. */
function gridPoints(space: SweepSpec['space']): TrialParams[] {
  let points: TrialParams[] = [{}];
  for (const [name, domain] of Object.entries(space)) {
    const values = 'values' in domain ? domain.values : [];
    points = points.flatMap((p) => values.map((v) => ({ ...p, [name]: v })));
  }
  return points;
}

/** The parameters of each trial, in trial order: grid combinations (up to `trials`) or `trials` seeded draws. */
export function sweepTrials(sweep: SweepSpec): TrialParams[] {
  if (sweep.method === 'grid') return gridPoints(sweep.space).slice(0, sweep.trials);
  const random = seededRandom(sweep.seed);
  return Array.from({ length: sweep.trials ?? 0 }, () =>
    Object.fromEntries(Object.entries(sweep.space).map(([name, domain]) => [name, draw(domain, random)])),
  );
}

/** `a` is better than `b` in the sweep's direction. */
function isBetter(sweep: Pick<SweepSpec, 'direction'>, a: number, b: number): boolean {
  return sweep.direction === 'maximize' ? a > b : a < b;
}

/** The step of ASHA rung `k`: `minSteps * reductionFactor^k`. */
export function rungStep(sweep: SweepSpec, k: number): number {
  const asha = sweep.asha ?? { minSteps: 1, reductionFactor: 3 };
  return asha.minSteps * asha.reductionFactor ** k;
}

/** One intermediate report of a trial: the step and the sweep metric's value then. */
export interface TrialReport {
  step: number;
  value: number;
}

/** One ASHA decision, in the order the workflow made them: a trial's value at a rung and whether it goes on. */
export interface RungDecision {
  trial: number;
  rung: number;
  /** The rung's step, and the step of the report that reached it. */
  rungStep: number;
  step: number;
  value: number;
  /** Values recorded at this rung so far, this one included. */
  competitors: number;
  /** Of those, how many were strictly better. */
  better: number;
  /** How many may go on: max(1, floor(competitors / reductionFactor)). */
  keep: number;
  continued: boolean;
}

/**
 * ASHA's stop rule, applied to reports in the order they arrive: a trial reaches rung k with its first report at a
 * step ≥ `minSteps * reductionFactor^k`, and that report's value is recorded at the rung. It goes on while fewer
 * than max(1, ⌊n / reductionFactor⌋) of the n values recorded at the rung (its own included) are strictly better;
 * otherwise it is stopped. Rungs end below `maxSteps`.
 */
export class AshaRule {
  private readonly rungs: number[][] = [];
  private readonly reached = new Map<number, number>();
  readonly decisions: RungDecision[] = [];

  constructor(private readonly sweep: SweepSpec) {}

  /** Records a trial's new reports; returns the decision that stops it, if one does. */
  observe(trial: number, reports: TrialReport[]): RungDecision | undefined {
    const asha = this.sweep.asha ?? { minSteps: 1, reductionFactor: 3, maxSteps: undefined };
    for (const report of reports) {
      for (;;) {
        const k = this.reached.get(trial) ?? 0;
        const step = rungStep(this.sweep, k);
        if (report.step < step || (asha.maxSteps !== undefined && step >= asha.maxSteps)) break;
        this.reached.set(trial, k + 1);
        const values = (this.rungs[k] ??= []);
        values.push(report.value);
        const better = values.filter((v) => isBetter(this.sweep, v, report.value)).length;
        const keep = Math.max(1, Math.floor(values.length / asha.reductionFactor));
        const decision: RungDecision = {
          trial,
          rung: k,
          rungStep: step,
          step: report.step,
          value: report.value,
          competitors: values.length,
          better,
          keep,
          continued: better < keep,
        };
        this.decisions.push(decision);
        if (!decision.continued) return decision;
      }
    }
    return undefined;
  }
}

/** The completed trial with the best final metric (the lowest index among equals), or undefined when none. */
export function bestTrial(
  sweep: Pick<SweepSpec, 'direction'>,
  completed: { index: number; value: number }[],
): { index: number; value: number } | undefined {
  let best: { index: number; value: number } | undefined;
  for (const c of completed) {
    if (!best || isBetter(sweep, c.value, best.value) || (c.value === best.value && c.index < best.index)) best = c;
  }
  return best;
}

/** Most reports a trial's record keeps (status, lineage): a record must stay well inside Temporal's payload limits. */
const MAX_KEPT_REPORTS = 200;

/**
 * Appends reports to a trial's record; past `max`, every other one is dropped (the last always kept), so a long
 * curve keeps its shape at a coarser resolution.
 */
export function keepReports(kept: TrialReport[], added: TrialReport[], max = MAX_KEPT_REPORTS): TrialReport[] {
  let all = [...kept, ...added];
  while (all.length > max) all = all.filter((_, i) => i % 2 === 0 || i === all.length - 1);
  return all;
}
