/**
 * The skew gate's comparison, pure: a seeded sample of the offline rows, served against offline predictions row
 * by row, and the numbers the gate judges. A prediction is read the same way on both sides: its class label is a
 * string, a boolean, an integer, an object's `label` / `class` field, or the argmax of a list of scores; every
 * other number in it is a score, compared by absolute difference. No I/O, no Node built-ins.
 */
import type { SkewRow } from '../../../sdk/run-types.js';
import { seededRandom } from '../../../sdk/seeded-random.js';
import type { SkewSpec } from '../../../sdk/spec/deploy.js';
import type { OfflinePrediction } from '../../train/contract.js';

/** Object fields read as the class label, in this order. */
export const LABEL_FIELDS = ['label', 'class', 'predicted_class', 'predicted_label'];

/** `size` rows drawn without replacement with `seed` (all of them when there are fewer), in file order. */
export function sampleRows<T>(rows: T[], size: number, seed: number): T[] {
  if (rows.length <= size) return rows;
  const random = seededRandom(seed);
  const index = rows.map((_, i) => i);
  for (let i = 0; i < size; i++) {
    const j = i + Math.floor(random() * (index.length - i));
    [index[i], index[j]] = [index[j]!, index[i]!];
  }
  return index
    .slice(0, size)
    .sort((a, b) => a - b)
    .map((i) => rows[i]!);
}

/** A prediction's class label (as a string, so 1 and "1" differ from true), or undefined when it has none. */
export function labelOf(value: unknown): string | undefined {
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : undefined;
  if (Array.isArray(value)) {
    if (value.length < 2 || !value.every((v) => typeof v === 'number')) return undefined;
    const scores = value as number[];
    return `#${scores.indexOf(Math.max(...scores))}`;
  }
  if (value && typeof value === 'object') {
    const field = LABEL_FIELDS.find((f) => f in value);
    const label = field === undefined ? undefined : (value as Record<string, unknown>)[field];
    return typeof label === 'object' ? undefined : labelOf(label);
  }
  return undefined;
}

/** A prediction's scores by path (`''` for a bare number, `score`, `probs.1`, `[0]`), label fields left out. */
export function scoresOf(value: unknown, prefix = '', out = new Map<string, number>()): Map<string, number> {
  if (typeof value === 'number') out.set(prefix, value);
  else if (Array.isArray(value)) value.forEach((v, i) => scoresOf(v, `${prefix}[${i}]`, out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) {
      if (prefix === '' && LABEL_FIELDS.includes(k)) continue;
      scoresOf(v, prefix ? `${prefix}.${k}` : k, out);
    }
  return out;
}

/** How two predictions of the same row compare. */
export interface RowComparison {
  agree: boolean | null;
  absDiff: number | null;
  /** Score paths of the offline prediction that the served one lacks, or a label that only one side has. */
  missing: string[];
  /** Served minus offline on the first score (the residual the diagnosis correlates with features). */
  residual: number | null;
}

/** Compares a served prediction with the offline one. */
export function compareRow(offline: unknown, served: unknown): RowComparison {
  const offlineLabel = labelOf(offline);
  const servedLabel = labelOf(served);
  const missing: string[] = [];
  if (offlineLabel !== undefined && servedLabel === undefined) missing.push('label');
  const offlineScores = scoresOf(offline);
  const servedScores = scoresOf(served);
  let absDiff: number | null = null;
  let residual: number | null = null;
  for (const [path, value] of offlineScores) {
    const other = servedScores.get(path);
    if (other === undefined) {
      missing.push(path || 'value');
      continue;
    }
    absDiff = Math.max(absDiff ?? 0, Math.abs(other - value));
    residual ??= other - value;
  }
  if (missing.length > 0) absDiff = Infinity;
  return {
    agree: offlineLabel === undefined ? null : offlineLabel === servedLabel,
    absDiff: offlineScores.size === 0 ? null : absDiff,
    missing,
    residual,
  };
}

/** True when a served prediction matches the offline one within the tolerances. */
export function rowPasses(c: RowComparison, spec: Pick<SkewSpec, 'maxAbsDiff'>): boolean {
  return c.missing.length === 0 && c.agree !== false && (c.absDiff === null || c.absDiff <= spec.maxAbsDiff);
}

/** The numbers of a whole comparison. */
export interface ComparisonSummary {
  rows: number;
  errors: number;
  agreement: number | null;
  maxAbsDiff: number | null;
  meanAbsDiff: number | null;
  /** Rows (with their comparison) ordered worst first: failed requests, label disagreements, then the difference. */
  ranked: { row: OfflinePrediction; served: unknown; comparison: RowComparison | undefined }[];
  checks: { name: string; value: number | null; min?: number; max?: number; passed: boolean }[];
  passed: boolean;
  /** Score paths the served predictions lack (a different response shape). */
  missing: string[];
}

/** Compares served with offline predictions, row for row (`served[i]` undefined: no answer for row i). */
export function comparePredictions(
  rows: OfflinePrediction[],
  served: unknown[],
  spec: Pick<SkewSpec, 'minAgreement' | 'maxAbsDiff'>,
): ComparisonSummary {
  const compared = rows.map((row, i) => ({
    row,
    served: served[i],
    comparison: served[i] === undefined ? undefined : compareRow(row.prediction, served[i]),
  }));
  const answered = compared.flatMap((c) => (c.comparison ? [c.comparison] : []));
  const labelled = answered.filter((c) => c.agree !== null);
  const diffs = answered.flatMap((c) => (c.absDiff === null ? [] : [c.absDiff]));
  const errors = rows.length - answered.length;
  const agreement = labelled.length ? labelled.filter((c) => c.agree).length / labelled.length : null;
  const maxAbsDiff = diffs.length ? Math.max(...diffs) : null;
  const finite = diffs.filter(Number.isFinite);
  const meanAbsDiff = finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : null;
  const missing = [...new Set(answered.flatMap((c) => c.missing))];
  const checks: ComparisonSummary['checks'] = [
    { name: 'rows without an answer', value: errors, max: 0, passed: errors === 0 },
  ];
  if (agreement !== null)
    checks.push({
      name: 'class agreement',
      value: agreement,
      min: spec.minAgreement,
      passed: agreement >= spec.minAgreement,
    });
  if (maxAbsDiff !== null)
    checks.push({
      name: 'largest absolute difference',
      value: Number.isFinite(maxAbsDiff) ? maxAbsDiff : null,
      max: spec.maxAbsDiff,
      passed: maxAbsDiff <= spec.maxAbsDiff,
    });
  if (missing.length > 0)
    checks.push({ name: 'fields the answers lack', value: missing.length, max: 0, passed: false });
  const badness = (c: (typeof compared)[number]) =>
    !c.comparison ? Infinity : (c.comparison.agree === false ? 1e300 : 0) + (c.comparison.absDiff ?? 0);
  const ranked = [...compared].sort((a, b) => badness(b) - badness(a));
  return {
    rows: rows.length,
    errors,
    agreement,
    maxAbsDiff,
    meanAbsDiff,
    ranked,
    checks,
    passed: checks.every((c) => c.passed),
    missing,
  };
}

/** The report's view of the worst rows. */
export function worstRows(summary: ComparisonSummary, count: number): SkewRow[] {
  return summary.ranked.slice(0, count).map(({ row, served, comparison }) => ({
    key: row.key,
    instance: row.instance,
    offline: row.prediction,
    ...(served === undefined ? {} : { served }),
    agree: comparison?.agree ?? null,
    absDiff: comparison?.absDiff === undefined || comparison.absDiff === null ? null : finiteOrNull(comparison.absDiff),
  }));
}

const finiteOrNull = (n: number) => (Number.isFinite(n) ? n : null);

/** A number for a message: 4 significant digits, or an exponent for very small or large values. */
export function fmt(n: number | null): string {
  if (n === null) return 'n/a';
  if (n === 0) return '0';
  const a = Math.abs(n);
  return a < 1e-3 || a >= 1e6 ? n.toExponential(2) : String(Number(n.toPrecision(4)));
}
