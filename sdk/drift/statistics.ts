/**
 * Drift tests with Evidently's definitions and defaults (its `stattests`, reused by `DataDriftPreset`), computed
 * in float64 on typed arrays. scipy is the numeric reference; where Evidently and scipy differ, the doc comment
 * says which one is followed. Pure: no I/O, no Node built-ins.
 */
import { ks2samp } from './ks.js';
import { chiSquareSf, normalCdf } from './special.js';

export type ColumnKind = 'numerical' | 'categorical';
export type StatTestName = 'ks' | 'chisquare' | 'z' | 'wasserstein' | 'psi' | 'jensenshannon' | 'kl';

/** Evidently's default threshold per test, and whether drift means the score is below (p-values) or above it. */
export const STAT_TESTS: Record<
  StatTestName,
  { threshold: number; driftWhen: 'p<=' | 'p<' | '>='; definition: string }
> = {
  ks: {
    threshold: 0.05,
    driftWhen: 'p<=',
    definition: 'two-sample Kolmogorov-Smirnov p-value (scipy ks_2samp, two-sided, auto)',
  },
  chisquare: {
    threshold: 0.05,
    driftWhen: 'p<',
    definition: 'chi-square goodness of fit of current counts to reference shares scaled to the current size',
  },
  z: { threshold: 0.05, driftWhen: 'p<', definition: 'two-proportion z-test p-value, 2·(1 − Φ(|z|))' },
  wasserstein: {
    threshold: 0.1,
    driftWhen: '>=',
    definition: 'Wasserstein-1 distance divided by max(std(reference), 0.001)',
  },
  psi: {
    threshold: 0.1,
    driftWhen: '>=',
    definition: 'population stability index Σ (r − c)·ln(r/c) over binned shares',
  },
  jensenshannon: {
    threshold: 0.1,
    driftWhen: '>=',
    definition: 'Jensen-Shannon distance (sqrt of divergence, natural log) over binned shares',
  },
  kl: {
    threshold: 0.1,
    driftWhen: '>=',
    definition: 'Kullback-Leibler divergence KL(reference ‖ current), natural log, over binned shares',
  },
};

/** Neumaier-compensated sum: at least as accurate as numpy's pairwise sum, independent of order quirks. */
export function accurateSum(values: ArrayLike<number>): number {
  let sum = 0;
  let c = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const t = sum + v;
    c += Math.abs(sum) >= Math.abs(v) ? sum - t + v : v - t + sum;
    sum = t;
  }
  return sum + c;
}

/** Drops NaN and ±inf (Evidently cleans every column this way before a test) and sorts ascending. */
export function cleanSorted(values: ArrayLike<number>): Float64Array {
  const out = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) out[n++] = v;
  }
  return out.subarray(0, n).sort();
}

/** Distinct values across sorted arrays, counted only up to `limit + 1` (the rules only ask "more than k?"). */
export function distinctSortedUpTo(a: Float64Array, b: Float64Array, limit: number): number {
  let i = 0;
  let j = 0;
  let count = 0;
  while ((i < a.length || j < b.length) && count <= limit) {
    const x = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i]! : b[j]!;
    while (i < a.length && a[i] === x) i++;
    while (j < b.length && b[j] === x) j++;
    count++;
  }
  return count;
}

/** First index i with sorted[i] > x ('right') or ≥ x ('left'). */
function searchSorted(sorted: Float64Array, x: number, side: 'left' | 'right'): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (side === 'left' ? sorted[mid]! < x : sorted[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** numpy's `histogram_bin_edges(combined, 'sturges')`: equal-width bins, count = ceil(range / (range / (log2 N + 1))). */
export function sturgesEdges(a: Float64Array, b: Float64Array): Float64Array {
  let first = Math.min(a[0]!, b[0]!);
  let last = Math.max(a[a.length - 1]!, b[b.length - 1]!);
  const n = a.length + b.length;
  const ptp = last - first;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  const width = ptp / (Math.log2(n) + 1);
  const bins = width ? Math.ceil((last - first) / width) : 1;
  const step = (last - first) / bins;
  const edges = new Float64Array(bins + 1);
  for (let i = 0; i <= bins; i++) edges[i] = i * step + first;
  edges[bins] = last;
  return edges;
}

/** numpy's `histogram(sorted, edges)[0]`: half-open bins, the last one closed. */
export function histogram(sorted: Float64Array, edges: Float64Array): Float64Array {
  const counts = new Float64Array(edges.length - 1);
  let previous = searchSorted(sorted, edges[0]!, 'left');
  for (let i = 1; i < edges.length; i++) {
    const next =
      i === edges.length - 1 ? searchSorted(sorted, edges[i]!, 'right') : searchSorted(sorted, edges[i]!, 'left');
    counts[i - 1] = next - previous;
    previous = next;
  }
  return counts;
}

/** How often each value occurs, keys in first-seen order (the order `categoryCounts` and the Z-test rely on). */
export function tally<T>(values: ArrayLike<T>): Map<T, number> {
  const counts = new Map<T, number>();
  for (let i = 0; i < values.length; i++) counts.set(values[i]!, (counts.get(values[i]!) ?? 0) + 1);
  return counts;
}

/** Counts over the union of two tallies: the reference's keys in its order, then keys seen only in current. */
export function countTable<T>(
  reference: ReadonlyMap<T, number>,
  current: ReadonlyMap<T, number>,
): { keys: T[]; ref: Float64Array; cur: Float64Array } {
  const keys = [...reference.keys()];
  for (const k of current.keys()) if (!reference.has(k)) keys.push(k);
  const ref = Float64Array.from(keys, (k) => reference.get(k) ?? 0);
  const cur = Float64Array.from(keys, (k) => current.get(k) ?? 0);
  return { keys, ref, cur };
}

/** Category counts over the union of both samples' values, in first-seen order (reference first). */
export function categoryCounts<T extends number | string>(
  reference: ArrayLike<T>,
  current: ArrayLike<T>,
): { keys: T[]; ref: Float64Array; cur: Float64Array } {
  return countTable(tally(reference), tally(current));
}

/**
 * Binned shares used by PSI, Jensen-Shannon and KL (Evidently's `get_binned_data`): Sturges bins over the union
 * when the reference has more than 20 distinct numerical values, else one bin per distinct value.
 */
export function binnedShares(
  reference: Float64Array | string[],
  current: Float64Array | string[],
  kind: ColumnKind,
): { ref: Float64Array; cur: Float64Array } {
  let ref: Float64Array;
  let cur: Float64Array;
  if (kind === 'numerical' && distinctSortedUpTo(reference as Float64Array, new Float64Array(0), 20) > 20) {
    const edges = sturgesEdges(reference as Float64Array, current as Float64Array);
    ref = histogram(reference as Float64Array, edges);
    cur = histogram(current as Float64Array, edges);
  } else {
    ({ ref, cur } = categoryCounts<number | string>(reference, current));
  }
  return { ref: ref.map((c) => c / reference.length), cur: cur.map((c) => c / current.length) };
}

/** Evidently's empty-bin rule for PSI and KL: zeros become 0.0001, or (smallest non-zero share)/1e6 when that is ≤ 0.0001. */
export function fillEmptyBins(shares: Float64Array): Float64Array {
  let smallest = Infinity;
  for (const s of shares) if (s !== 0 && s < smallest) smallest = s;
  const fill = smallest <= 0.0001 ? smallest / 1e6 : 0.0001;
  return shares.map((s) => (s === 0 ? fill : s));
}

/** Population stability index (no renormalisation after filling empty bins, as Evidently). */
export function psi(reference: Float64Array | string[], current: Float64Array | string[], kind: ColumnKind): number {
  const { ref, cur } = binnedShares(reference, current, kind);
  return psiOfShares(ref, cur);
}

/** PSI of binned shares. */
export function psiOfShares(ref: Float64Array, cur: Float64Array): number {
  const r = fillEmptyBins(ref);
  const c = fillEmptyBins(cur);
  return accurateSum(r.map((ri, i) => (ri - c[i]!) * Math.log(ri / c[i]!)));
}

function relEntr(x: number, y: number): number {
  if (x > 0 && y > 0) return x * Math.log(x / y);
  if (x === 0 && y >= 0) return 0;
  return Infinity;
}

function normalise(a: Float64Array): Float64Array {
  const s = accurateSum(a);
  return a.map((v) => v / s);
}

/** scipy `entropy(r, c)` = KL(ref ‖ cur) after normalising, on binned shares with empty bins filled. */
export function kl(reference: Float64Array | string[], current: Float64Array | string[], kind: ColumnKind): number {
  const { ref, cur } = binnedShares(reference, current, kind);
  return klOfShares(ref, cur);
}

/** KL of binned shares. */
export function klOfShares(ref: Float64Array, cur: Float64Array): number {
  const p = normalise(fillEmptyBins(ref));
  const q = normalise(fillEmptyBins(cur));
  return accurateSum(p.map((pi, i) => relEntr(pi, q[i]!)));
}

/** scipy `jensenshannon(r, c)`: a distance (sqrt of the divergence), natural log; empty bins stay zero. */
export function jensenShannon(
  reference: Float64Array | string[],
  current: Float64Array | string[],
  kind: ColumnKind,
): number {
  const { ref, cur } = binnedShares(reference, current, kind);
  return jensenShannonOfShares(ref, cur);
}

/** Jensen-Shannon distance of binned shares. */
export function jensenShannonOfShares(ref: Float64Array, cur: Float64Array): number {
  const p = normalise(ref);
  const q = normalise(cur);
  const m = p.map((pi, i) => (pi + q[i]!) / 2);
  const js = accurateSum(p.map((pi, i) => relEntr(pi, m[i]!))) + accurateSum(q.map((qi, i) => relEntr(qi, m[i]!)));
  return Math.sqrt(Math.max(js, 0) / 2);
}

/** scipy `wasserstein_distance(ref, cur)`: the area between the ECDFs, by one merge pass. Inputs sorted. */
export function wasserstein(a: Float64Array, b: Float64Array): number {
  let ia = 0;
  let ib = 0;
  let sum = 0;
  let c = 0;
  let x = Math.min(a[0]!, b[0]!);
  while (ia < a.length || ib < b.length) {
    while (ia < a.length && a[ia]! <= x) ia++;
    while (ib < b.length && b[ib]! <= x) ib++;
    if (ia === a.length && ib === b.length) break;
    const next = ia < a.length && (ib >= b.length || a[ia]! <= b[ib]!) ? a[ia]! : b[ib]!;
    const term = Math.abs(ia / a.length - ib / b.length) * (next - x);
    const t = sum + term; // Neumaier-compensated, as accurateSum
    c += Math.abs(sum) >= Math.abs(term) ? sum - t + term : term - t + sum;
    sum = t;
    x = next;
  }
  return sum + c;
}

/** Population standard deviation (numpy `std`, ddof = 0), two compensated passes. */
export function std(a: Float64Array): number {
  const mean = accurateSum(a) / a.length;
  let sum = 0;
  let c = 0;
  for (let i = 0; i < a.length; i++) {
    const term = (a[i]! - mean) ** 2;
    const t = sum + term;
    c += Math.abs(sum) >= Math.abs(term) ? sum - t + term : term - t + sum;
    sum = t;
  }
  return Math.sqrt((sum + c) / a.length);
}

/** Evidently's normed Wasserstein: distance / max(std(reference), 0.001). */
export function wassersteinNormed(a: Float64Array, b: Float64Array): number {
  return wasserstein(a, b) / Math.max(std(a), 0.001);
}

/**
 * Chi-square goodness of fit, Evidently's form: f_obs = current counts, f_exp = reference counts × n_cur / n_ref.
 * Differs from scipy in one case: a single category on both sides has zero degrees of freedom, where scipy (and
 * so Evidently) answers NaN; we answer p = 1 (no drift), which is what the NaN means to Evidently's `p < 0.05`.
 */
export function chiSquarePValue<T extends number | string>(reference: ArrayLike<T>, current: ArrayLike<T>): number {
  return chiSquareOfCounts(categoryCounts(reference, current), reference.length, current.length);
}

/** Chi-square p-value of a count table (see `chiSquarePValue`). */
export function chiSquareOfCounts(table: { ref: Float64Array; cur: Float64Array }, nRef: number, nCur: number): number {
  const { ref, cur } = table;
  const scale = nCur / nRef;
  let stat = 0;
  for (let i = 0; i < ref.length; i++) {
    const expected = ref[i]! * scale;
    stat += expected === 0 ? Infinity : (cur[i]! - expected) ** 2 / expected;
  }
  if (!Number.isFinite(stat)) return 0;
  return chiSquareSf(stat, ref.length - 1);
}

/** Two-proportion z-test, Evidently's form: p = 2·(1 − Φ(|z|)); both samples one and the same value → 1. */
export function zTestPValue<T extends number | string>(reference: ArrayLike<T>, current: ArrayLike<T>): number {
  return zTestOfCounts(categoryCounts(reference, current), reference.length, current.length);
}

/** Z-test p-value of a count table: the proportion of its first key (the reference's first-seen value). */
export function zTestOfCounts(
  table: { keys: unknown[]; ref: Float64Array; cur: Float64Array },
  nRef: number,
  nCur: number,
): number {
  const { keys, ref, cur } = table;
  if (keys.length === 1) return 1;
  const p1 = ref[0]! / nRef;
  const p2 = cur[0]! / nCur;
  const P = (p1 * nRef + p2 * nCur) / (nRef + nCur);
  const z = (p1 - p2) / Math.sqrt(P * (1 - P) * (1 / nRef + 1 / nCur));
  return 2 * (1 - normalCdf(Math.abs(z)));
}

/** Evidently's default test for a column: by reference size, column kind and distinct values in both samples. */
export function defaultTest(kind: ColumnKind, referenceRows: number, distinct: number): StatTestName {
  if (referenceRows <= 1000) {
    if (kind === 'numerical' && distinct > 5) return 'ks';
    return distinct > 2 ? 'chisquare' : 'z';
  }
  return kind === 'numerical' && distinct > 5 ? 'wasserstein' : 'jensenshannon';
}

export interface ColumnDrift {
  column: string;
  kind: ColumnKind;
  test: StatTestName;
  score: number;
  threshold: number;
  drifted: boolean;
  referenceRows: number;
  currentRows: number;
}

/** Runs one test on one column (values already cleaned; numerical ones sorted). */
export function runTest(
  test: StatTestName,
  reference: Float64Array | string[],
  current: Float64Array | string[],
  kind: ColumnKind,
): number {
  switch (test) {
    case 'ks':
      return ks2samp(reference as Float64Array, current as Float64Array).pValue;
    case 'chisquare':
      return chiSquarePValue<number | string>(reference, current);
    case 'z':
      return zTestPValue<number | string>(reference, current);
    case 'wasserstein':
      return wassersteinNormed(reference as Float64Array, current as Float64Array);
    case 'psi':
      return psi(reference, current, kind);
    case 'jensenshannon':
      return jensenShannon(reference, current, kind);
    case 'kl':
      return kl(reference, current, kind);
  }
}

export function isDrift(test: StatTestName, score: number, threshold = STAT_TESTS[test].threshold): boolean {
  const rule = STAT_TESTS[test].driftWhen;
  return rule === 'p<=' ? score <= threshold : rule === 'p<' ? score < threshold : score >= threshold;
}

/**
 * Drift of one column with the default test (or the one given). Missing values (NaN, ±inf, null, '') are
 * dropped first; an empty column is an error naming it.
 */
export function columnDrift(
  column: string,
  kind: ColumnKind,
  reference: ArrayLike<number> | ArrayLike<string | null>,
  current: ArrayLike<number> | ArrayLike<string | null>,
  options: { test?: StatTestName; threshold?: number } = {},
): ColumnDrift {
  if (kind === 'categorical') {
    const clean = (v: ArrayLike<string | null>) => tally(Array.from(v).filter((s): s is string => s !== null));
    return categoricalColumnDrift(
      column,
      clean(reference as ArrayLike<string | null>),
      clean(current as ArrayLike<string | null>),
      options,
    );
  }
  const ref = cleanSorted(reference as ArrayLike<number>);
  const cur = cleanSorted(current as ArrayLike<number>);
  if (ref.length === 0 || cur.length === 0) throw emptyColumn(column, ref.length === 0);
  const distinct = distinctSortedUpTo(ref, cur, 5);
  const test = options.test ?? defaultTest(kind, ref.length, distinct);
  const threshold = options.threshold ?? STAT_TESTS[test].threshold;
  const score = runTest(test, ref, cur, kind);
  return {
    column,
    kind,
    test,
    score,
    threshold,
    drifted: isDrift(test, score, threshold),
    referenceRows: ref.length,
    currentRows: cur.length,
  };
}

function emptyColumn(column: string, reference: boolean): Error {
  return new Error(
    `column "${column}": no values left in the ${reference ? 'reference' : 'current'} data after dropping missing ones`,
  );
}

/**
 * Drift of one categorical column from value counts (keys in first-seen order, as `tally` gives them): what
 * `columnDrift` computes, without holding every value. Empty-string and null keys are missing values.
 */
export function categoricalColumnDrift(
  column: string,
  reference: ReadonlyMap<string | null, number>,
  current: ReadonlyMap<string | null, number>,
  options: { test?: StatTestName; threshold?: number } = {},
): ColumnDrift {
  const clean = (m: ReadonlyMap<string | null, number>) =>
    new Map([...m].filter((e): e is [string, number] => e[0] !== null && e[0] !== '' && e[1] > 0));
  const ref = clean(reference);
  const cur = clean(current);
  const nRef = accurateSum([...ref.values()]);
  const nCur = accurateSum([...cur.values()]);
  if (nRef === 0 || nCur === 0) throw emptyColumn(column, nRef === 0);
  const table = countTable(ref, cur);
  const test = options.test ?? defaultTest('categorical', nRef, table.keys.length);
  const threshold = options.threshold ?? STAT_TESTS[test].threshold;
  const shares = () => ({ r: table.ref.map((c) => c / nRef), c: table.cur.map((c) => c / nCur) });
  let score: number;
  switch (test) {
    case 'chisquare':
      score = chiSquareOfCounts(table, nRef, nCur);
      break;
    case 'z':
      score = zTestOfCounts(table, nRef, nCur);
      break;
    case 'psi':
    case 'kl':
    case 'jensenshannon': {
      const { r, c } = shares();
      score = test === 'psi' ? psiOfShares(r, c) : test === 'kl' ? klOfShares(r, c) : jensenShannonOfShares(r, c);
      break;
    }
    default:
      throw new Error(`column "${column}": the ${test} test needs a numerical column; this one is categorical`);
  }
  return {
    column,
    kind: 'categorical',
    test,
    score,
    threshold,
    drifted: isDrift(test, score, threshold),
    referenceRows: nRef,
    currentRows: nCur,
  };
}

/** Evidently's dataset drift rule: drift when the share of drifted columns is ≥ `share` (default 0.5). */
export function datasetDrift(
  columns: ColumnDrift[],
  share = 0.5,
): { drifted: boolean; driftedColumns: number; share: number } {
  const drifted = columns.filter((c) => c.drifted).length;
  const s = columns.length ? drifted / columns.length : 0;
  return { drifted: columns.length > 0 && s >= share, driftedColumns: drifted, share: s };
}
