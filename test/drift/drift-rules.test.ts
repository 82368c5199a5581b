/** Method selection, missing values, edge cases and the dataset drift rule (Evidently's defaults). */
import { describe, expect, it } from 'vitest';
import {
  columnDrift,
  datasetDrift,
  defaultTest,
  fillEmptyBins,
  histogram,
  sturgesEdges,
} from '../../sdk/drift/statistics.js';

describe('default test selection (Evidently)', () => {
  it('small references: KS for numerical with > 5 values, chi-square for 3..5, Z for ≤ 2', () => {
    expect(defaultTest('numerical', 1000, 6)).toBe('ks');
    expect(defaultTest('numerical', 1000, 5)).toBe('chisquare');
    expect(defaultTest('categorical', 200, 3)).toBe('chisquare');
    expect(defaultTest('categorical', 200, 2)).toBe('z');
  });
  it('large references: normed Wasserstein for numerical with > 5 values, Jensen-Shannon otherwise', () => {
    expect(defaultTest('numerical', 1001, 6)).toBe('wasserstein');
    expect(defaultTest('numerical', 5000, 4)).toBe('jensenshannon');
    expect(defaultTest('categorical', 5000, 40)).toBe('jensenshannon');
  });
});

describe('column drift', () => {
  it('drops NaN and ±inf before testing, and counts the rows it used', () => {
    const ref = [1, 2, NaN, 3, 4, 5, 6, Infinity, 7];
    const cur = [1, 2, 3, 4, 5, 6, 7, -Infinity];
    const r = columnDrift('x', 'numerical', ref, cur);
    expect(r).toMatchObject({ test: 'ks', referenceRows: 7, currentRows: 7, score: 1, drifted: false });
  });
  it('an all-missing column is an error naming it, never a silent result', () => {
    expect(() => columnDrift('income', 'numerical', [NaN, NaN], [1, 2])).toThrow(
      /column "income": no values left in the reference/,
    );
    expect(() => columnDrift('city', 'categorical', ['a'], [null, ''])).toThrow(
      /column "city": no values left in the current/,
    );
  });
  it('detects an obvious shift and not an identical sample', () => {
    const ref = Array.from({ length: 500 }, (_, i) => Math.sin(i) * 10);
    expect(
      columnDrift(
        's',
        'numerical',
        ref,
        ref.map((v) => v + 8),
      ).drifted,
    ).toBe(true);
    expect(columnDrift('s', 'numerical', ref, ref).drifted).toBe(false);
  });
  it('an unseen category drives chi-square to p = 0', () => {
    const r = columnDrift('plan', 'categorical', ['a', 'b', 'c', 'a'], ['a', 'b', 'c', 'enterprise']);
    expect(r).toMatchObject({ test: 'chisquare', score: 0, drifted: true });
  });
  it('both samples one and the same value: Z-test p = 1, no drift', () => {
    expect(columnDrift('flag', 'categorical', ['on', 'on'], ['on'])).toMatchObject({
      test: 'z',
      score: 1,
      drifted: false,
    });
  });
});

describe('binning', () => {
  it('Sturges edges over the union and numpy histogram semantics (last bin closed)', () => {
    const a = Float64Array.from([0, 1, 2, 3]);
    const b = Float64Array.from([4, 5, 6, 7]);
    const edges = sturgesEdges(a, b); // n = 8: log2(8) + 1 = 4 bins
    expect(Array.from(edges)).toEqual([0, 1.75, 3.5, 5.25, 7]);
    expect(Array.from(histogram(b, edges))).toEqual([0, 0, 2, 2]); // 7 sits on the last edge: closed, counted
  });
  it('fills empty bins with 0.0001, or a millionth of the smallest share when that is tiny', () => {
    expect(Array.from(fillEmptyBins(Float64Array.from([0.5, 0, 0.5])))).toEqual([0.5, 0.0001, 0.5]);
    expect(Array.from(fillEmptyBins(Float64Array.from([0.99995, 0, 0.00005])))[1]).toBeCloseTo(5e-11, 20);
  });
});

describe('dataset drift', () => {
  it('drifts when at least half of the columns drift', () => {
    const col = (drifted: boolean) => ({
      column: 'c',
      kind: 'numerical' as const,
      test: 'ks' as const,
      score: 0,
      threshold: 0.05,
      drifted,
      referenceRows: 1,
      currentRows: 1,
    });
    expect(datasetDrift([col(true), col(false)])).toMatchObject({ drifted: true, driftedColumns: 1, share: 0.5 });
    expect(datasetDrift([col(true), col(false), col(false)]).drifted).toBe(false);
    expect(datasetDrift([]).drifted).toBe(false);
  });
});
