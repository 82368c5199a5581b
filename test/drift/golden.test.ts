/**
 * Drift statistics against golden vectors from numpy/scipy (scripts/drift_golden.py, output committed).
 * Everything matches to 1e-9 relative (measured worst: exact KS 0, Kolmogorov tail 3.5e-10, others <= 6e-14).
 */
import { describe, expect, it } from 'vitest';
import { ks2samp, kolmogorovSf } from '../../sdk/drift/ks.js';
import {
  chiSquarePValue,
  cleanSorted,
  jensenShannon,
  kl,
  psi,
  wassersteinNormed,
  zTestPValue,
} from '../../sdk/drift/statistics.js';

import { golden } from './golden-cases.js';

/** |actual − expected| ≤ rel·|expected| (or ≤ abs near zero). */
function close(actual: number, expected: number, rel = 1e-9, abs = 1e-15): void {
  const tolerance = Math.max(rel * Math.abs(expected), abs);
  expect(Math.abs(actual - expected), `actual ${actual}, expected ${expected}`).toBeLessThanOrEqual(tolerance);
}

describe('two-sample KS vs scipy ks_2samp', () => {
  for (const c of golden.cases.ks) {
    it(c.name, () => {
      const r = ks2samp(cleanSorted(c.a), cleanSorted(c.b));
      close(r.statistic, c.statistic, 1e-12);
      close(r.pValue, c.pvalue, 1e-9, 1e-300);
    });
  }
});

describe('one-sample Kolmogorov tail vs scipy kstwo.sf', () => {
  for (const c of golden.cases.kstwo) {
    it(`n=${c.n} d=${c.d.toPrecision(6)}`, () => close(kolmogorovSf(c.n, c.d), c.sf, 1e-9, 1e-300));
  }
});

describe('numerical columns', () => {
  for (const c of golden.cases.numeric) {
    it(c.name, () => {
      const a = cleanSorted(c.a);
      const b = cleanSorted(c.b);
      close(wassersteinNormed(a, b), c.wasserstein);
      close(psi(a, b, 'numerical'), c.psi);
      close(kl(a, b, 'numerical'), c.kl);
      close(jensenShannon(a, b, 'numerical'), c.jensenshannon);
      if (c.chisquare !== null) close(chiSquarePValue(Array.from(a), Array.from(b)), c.chisquare, 1e-9, 1e-300);
    });
  }
});

describe('categorical columns', () => {
  for (const c of golden.cases.categorical) {
    it(c.name, () => {
      // One category on both sides: scipy gives NaN (zero degrees of freedom); we answer p = 1 (no drift).
      if (c.chisquare === null) expect(chiSquarePValue(c.a, c.b)).toBe(1);
      else close(chiSquarePValue(c.a, c.b), c.chisquare, 1e-9, 1e-300);
      if (c.z !== null) close(zTestPValue(c.a, c.b), c.z, 1e-9, 1e-15);
      close(psi(c.a, c.b, 'categorical'), c.psi);
      close(kl(c.a, c.b, 'categorical'), c.kl);
      close(jensenShannon(c.a, c.b, 'categorical'), c.jensenshannon);
    });
  }
});
