/**
 * Why served predictions differ from offline ones. The gate cannot run the trained model itself, only the
 * candidate's server, so each common cause is a hypothesis tested with a few extra requests on the worst rows:
 *   feature-swap     send two features exchanged: if that reproduces the offline predictions, the server reads
 *                    each in the other's place (a feature order that differs from training's)
 *   unscaled-inputs  send the features standardised over the evaluation rows: if that reproduces them, the
 *                    server skips the scaling step training applied
 *   float32-inputs   send a feature as two values only float32 cannot tell apart, and once moved by its spread:
 *                    a server that answers the first pair alike but reacts to the move reads it as float32
 * Without extra requests it also sees a constant answer, a different response shape, and (when no hypothesis
 * holds) the features the differences move with. Pure: the caller sends the probes.
 */
import type { SkewExplanation } from '../../../sdk/run-types.js';
import type { SkewSpec } from '../../../sdk/spec/deploy.js';
import type { OfflinePrediction } from '../../train/contract.js';
import { compareRow, fmt, rowPasses, scoresOf, type ComparisonSummary, type RowComparison } from './compare.js';

/** At most this many of the worst rows are probed. */
const PROBED_ROWS = 8;
/** Feature pairs tried for a swap (every pair of up to 40 numeric features). */
const MAX_SWAP_FEATURES = 40;

type Instance = Record<string, unknown> | unknown[];

function featureNames(instance: Instance): string[] {
  return Array.isArray(instance) ? instance.map((_, i) => String(i)) : Object.keys(instance);
}
function get(instance: Instance, f: string): unknown {
  return Array.isArray(instance) ? instance[Number(f)] : instance[f];
}
function withValues(instance: Instance, values: Record<string, unknown>): Instance {
  if (Array.isArray(instance)) {
    const copy = [...instance];
    for (const [f, v] of Object.entries(values)) copy[Number(f)] = v;
    return copy;
  }
  return { ...instance, ...values };
}
const label = (instance: Instance, f: string) => (Array.isArray(instance) ? `feature [${f}]` : `"${f}"`);

/** The float32 spacing at `x` (the distance to the next float32 away from zero). */
export function float32Spacing(x: number): number {
  const a = Math.abs(Math.fround(x));
  if (a === 0) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

interface FeatureStats {
  mean: number;
  std: number;
}

/** Mean and (population) std of each feature that is a finite number in every row. */
export function numericStats(rows: OfflinePrediction[]): Map<string, FeatureStats> {
  const stats = new Map<string, FeatureStats>();
  const first = rows[0]?.instance as Instance | undefined;
  if (!first) return stats;
  for (const f of featureNames(first)) {
    const values = rows.map((r) => get(r.instance, f));
    if (!values.every((v) => typeof v === 'number' && Number.isFinite(v))) continue;
    const xs = values as number[];
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
    stats.set(f, { mean, std });
  }
  return stats;
}

/** One hypothesis's requests: instances for the probed rows, in `rows` order (several per row for float32). */
interface ProbePart {
  kind: 'feature-swap' | 'unscaled-inputs' | 'float32-inputs';
  features: string[];
  /** Offset and length of its instances in the plan's `instances`. */
  start: number;
  count: number;
}

/** The extra requests of a diagnosis, all at once (one batch for targets that predict in batches). */
export interface ProbePlan {
  rows: { row: OfflinePrediction; served: unknown; comparison: RowComparison }[];
  stats: Map<string, FeatureStats>;
  instances: Instance[];
  parts: ProbePart[];
}

/** The probes for the worst failing rows of a comparison (none when every row passed). */
export function planProbes(
  summary: ComparisonSummary,
  spec: Pick<SkewSpec, 'maxAbsDiff'>,
  compared: OfflinePrediction[],
): ProbePlan {
  const rows = summary.ranked
    .filter((r) => r.comparison && !rowPasses(r.comparison, spec))
    .slice(0, PROBED_ROWS) as ProbePlan['rows'];
  const stats = numericStats(compared);
  const plan: ProbePlan = { rows, stats, instances: [], parts: [] };
  if (rows.length === 0 || stats.size === 0) return plan;
  const add = (kind: ProbePart['kind'], features: string[], instances: Instance[]) => {
    plan.parts.push({ kind, features, start: plan.instances.length, count: instances.length });
    plan.instances.push(...instances);
  };
  const numeric = [...stats.keys()];
  const swappable = numeric.length <= MAX_SWAP_FEATURES ? numeric : [];
  for (let i = 0; i < swappable.length; i++)
    for (let j = i + 1; j < swappable.length; j++) {
      const [a, b] = [swappable[i]!, swappable[j]!];
      add(
        'feature-swap',
        [a, b],
        rows.map(({ row }) => withValues(row.instance, { [a]: get(row.instance, b), [b]: get(row.instance, a) })),
      );
    }
  add(
    'unscaled-inputs',
    numeric,
    rows.map(({ row }) =>
      withValues(
        row.instance,
        Object.fromEntries(
          numeric.map((f) => {
            const { mean, std } = stats.get(f)!;
            return [f, std > 0 ? ((get(row.instance, f) as number) - mean) / std : 0];
          }),
        ),
      ),
    ),
  );
  for (const f of numeric) {
    const { std } = stats.get(f)!;
    if (std === 0) continue;
    const triples = rows.map(({ row }) => {
      const x32 = Math.fround(get(row.instance, f) as number);
      const apart = x32 + 0.4 * float32Spacing(x32);
      return { x32, apart, moved: (get(row.instance, f) as number) + std };
    });
    // Only where the two values are far enough apart (relative to the feature's spread) for a float64 server to
    // answer them differently, and float32 really rounds both to one number.
    const testable = triples.some((t) => (t.apart - t.x32) / std >= 1e-6 && Math.fround(t.apart) === t.x32);
    if (!testable) continue;
    add(
      'float32-inputs',
      [f],
      rows.flatMap(({ row }, i) => {
        const t = triples[i]!;
        return [t.x32, t.apart, t.moved].map((v) => withValues(row.instance, { [f]: v }));
      }),
    );
  }
  return plan;
}

/** True when the probe's answers reproduce the offline predictions on every probed row (or nearly). */
function explains(plan: ProbePlan, answers: unknown[], spec: Pick<SkewSpec, 'maxAbsDiff'>): boolean {
  return plan.rows.every(({ row, comparison }, i) => {
    if (answers[i] === undefined) return false;
    const c = compareRow(row.prediction, answers[i]);
    if (rowPasses(c, spec)) return true;
    // Within a tenth of the original difference: the hypothesis accounts for it (statistics of a sample, a
    // train split's scaler, rounding in the response may leave a little).
    const before = comparison.absDiff;
    return (
      c.missing.length === 0 &&
      c.agree !== false &&
      c.absDiff !== null &&
      before !== null &&
      Number.isFinite(before) &&
      c.absDiff <= 0.1 * before
    );
  });
}

const same = (a: unknown, b: unknown) => a !== undefined && JSON.stringify(a) === JSON.stringify(b);

/** The largest difference between two answers' scores (0 when they have none in common). */
function scoreDistance(a: unknown, b: unknown): number {
  const bs = scoresOf(b);
  let d = 0;
  for (const [k, v] of scoresOf(a)) if (bs.has(k)) d = Math.max(d, Math.abs(bs.get(k)! - v));
  return d;
}

/** The smallest change an answer's scores can show (float64 spacing at their size). */
function resolution(a: unknown): number {
  const sizes = [...scoresOf(a).values()].map(Math.abs);
  return Number.EPSILON * Math.max(Number.MIN_VALUE, ...sizes);
}

/** What the probes' answers (`answers[i]` for `plan.instances[i]`) say about the cause. */
export function interpretProbes(
  plan: ProbePlan,
  answers: unknown[],
  spec: Pick<SkewSpec, 'maxAbsDiff'>,
  compared: OfflinePrediction[],
): SkewExplanation[] {
  const out: SkewExplanation[] = [];
  const example = plan.rows[0]?.row.instance;
  if (!example) return out;
  const n = plan.rows.length;
  for (const part of plan.parts.filter((p) => p.kind === 'feature-swap')) {
    if (!explains(plan, answers.slice(part.start, part.start + part.count), spec)) continue;
    const [a, b] = part.features as [string, string];
    out.push({
      kind: 'feature-swap',
      features: [a, b],
      message: `sending ${label(example, a)} and ${label(example, b)} exchanged reproduces the offline predictions on the ${n} worst rows: the server reads each in the other's place (its feature order differs from training's)`,
    });
  }
  const scaling = plan.parts.find((p) => p.kind === 'unscaled-inputs');
  if (scaling && explains(plan, answers.slice(scaling.start, scaling.start + scaling.count), spec))
    out.push({
      kind: 'unscaled-inputs',
      features: scaling.features,
      message: `sending the features already standardised ((x - mean) / std over the evaluation rows) reproduces the offline predictions on the ${n} worst rows: the server skips the scaling step training applied`,
      evidence: { stats: Object.fromEntries(plan.stats) },
    });
  for (const part of plan.parts.filter((p) => p.kind === 'float32-inputs')) {
    const f = part.features[0]!;
    const spread = plan.stats.get(f)!.std;
    const triples = plan.rows.map(({ row }, i) => ({
      instance: row.instance,
      answers: answers.slice(part.start + 3 * i, part.start + 3 * i + 3),
    }));
    // A float32 reader answers the pair alike on every row. Alike is evidence only where a float64 reader would
    // visibly differ: the move by one spread, scaled down to the pair's distance, is well above the answer's
    // resolution (a saturated score answers alike for any reader).
    if (triples.some(({ answers: [a, b] }) => a === undefined || !same(a, b))) continue;
    const evidence = triples.some(({ instance, answers: [a, , moved] }) => {
      if (moved === undefined) return false;
      const x32 = Math.fround(get(instance, f) as number);
      const expected = ((0.4 * float32Spacing(x32)) / spread) * scoreDistance(a, moved);
      return expected > 100 * resolution(a);
    });
    if (!evidence) continue;
    const values = compared.map((r) => get(r.instance, f) as number);
    const lost = Math.max(...values.map((x) => Math.abs(x - Math.fround(x))));
    const x0 = Math.fround(get(plan.rows[0]!.row.instance, f) as number);
    out.push({
      kind: 'float32-inputs',
      features: [f],
      message: `the candidate answers alike for ${label(example, f)} = ${x0} and ${x0 + 0.4 * float32Spacing(x0)}, which only float32 rounds to one number, yet reacts when it moves: it reads ${label(example, f)} as float32, which loses up to ${fmt(lost)} of it (${fmt((100 * lost) / spread)} % of its spread)`,
      evidence: { maxLost: lost, std: spread },
    });
  }
  return out;
}

/** What the comparison alone shows: a constant answer, a different response shape. */
export function observedExplanations(summary: ComparisonSummary): SkewExplanation[] {
  const out: SkewExplanation[] = [];
  const answered = summary.ranked.filter((r) => r.served !== undefined);
  if (summary.missing.length > 0) {
    const example = answered.find((r) => r.comparison?.missing.length)?.served;
    out.push({
      kind: 'structure',
      features: [],
      message: `the served predictions lack ${summary.missing.map((m) => `"${m}"`).join(', ')} that the offline ones have (the server answered ${JSON.stringify(example)})`,
    });
  }
  const servedValues = new Set(answered.map((r) => JSON.stringify(r.served)));
  const offlineValues = new Set(answered.map((r) => JSON.stringify(r.row.prediction)));
  if (answered.length >= 2 && servedValues.size === 1 && offlineValues.size > 1)
    out.push({
      kind: 'constant-output',
      features: [],
      message: `the candidate answers ${[...servedValues][0]} for every one of the ${answered.length} rows, where training predicted ${offlineValues.size} different values`,
    });
  return out;
}

function pearson(xs: number[], ys: number[]): number | null {
  const n = xs.length;
  if (n < 5) return null;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
    syy += (ys[i]! - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : null;
}

/** The numeric features the differences correlate with most (|r| ≥ 0.3, at most 3). */
export function associatedFeatures(summary: ComparisonSummary): SkewExplanation | undefined {
  const rows = summary.ranked.filter((r) => r.comparison);
  const residuals = rows.map((r) => r.comparison!.residual ?? (r.comparison!.agree === false ? 1 : 0));
  const stats = numericStats(rows.map((r) => r.row));
  const ranked = [...stats.keys()]
    .map((f) => ({
      f,
      r: pearson(
        rows.map((x) => get(x.row.instance, f) as number),
        residuals,
      ),
    }))
    .filter((x): x is { f: string; r: number } => x.r !== null && Math.abs(x.r) >= 0.3)
    .sort((a, b) => Math.abs(b.r) - Math.abs(a.r))
    .slice(0, 3);
  if (ranked.length === 0) return undefined;
  const example = rows[0]!.row.instance;
  return {
    kind: 'association',
    features: ranked.map((x) => x.f),
    message: `the differences move with ${ranked.map((x) => `${label(example, x.f)} (r = ${x.r.toFixed(2)})`).join(', ')}`,
    evidence: { correlations: Object.fromEntries(ranked.map((x) => [x.f, x.r])) },
  };
}
