/**
 * Two-sample Kolmogorov-Smirnov test with scipy's `ks_2samp(method='auto')` semantics: the exact p-value when
 * max(n1, n2) ≤ 10 000 (lattice-path recursion of Hodges 1958 in the probability form of Viehmann 2021, and the
 * square case n1 = n2 by the reflection formula), else the one-sample Kolmogorov distribution at the effective
 * n = round(n1·n2/(n1+n2)) (Birnbaum-Tingey's exact one-sided tail where n·D² ≥ 2.2, the Durbin matrix of
 * Marsaglia-Tsang-Wang 2003 for small n·D^1.5, and the Pelz-Good 1976 expansion otherwise).
 */
import { logGamma } from './special.js';

export interface KsResult {
  statistic: number;
  pValue: number;
  method: 'exact' | 'asymptotic';
}

/** D = max |F1(x) − F2(x)|, both ECDFs taken after all ties at x. Inputs must be sorted ascending. */
export function ksStatistic(a: Float64Array, b: Float64Array): number {
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < a.length && j < b.length) {
    const x = Math.min(a[i]!, b[j]!);
    while (i < a.length && a[i] === x) i++;
    while (j < b.length && b[j] === x) j++;
    d = Math.max(d, Math.abs(i / a.length - j / b.length));
  }
  return d;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** P(D ≥ h/n) for two samples of equal size n (reflection principle). */
function probOutsideSquare(n: number, h: number): number {
  let p = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    p = p1 * (1 - p);
  }
  return 2 * p;
}

/** Share of lattice paths from (0,0) to (m,n) that leave the band |x/m − y/n| < h/lcm(m,n). */
function probOutsideBand(m: number, n: number, g: number, h: number): number {
  if (m < n) [m, n] = [n, m];
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(Math.max(lenA, n + 2)).fill(1);
  A.fill(0, minj, maxj);
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + minj - lastminj]! * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) A.fill(1, maxj - minj, maxj - minj + (lastlen - curlen));
  }
  return A[maxj - minj - 1]!;
}

/** Exact two-sided p-value, or undefined when float64 cannot carry it (scipy then falls back too). */
export function ksExactPValue(n1: number, n2: number, d: number): { pValue: number; d: number } | undefined {
  const g = gcd(n1, n2);
  const lcm = (n1 / g) * n2;
  const h = Math.round(d * lcm);
  const dRounded = h / lcm;
  if (h === 0) return { pValue: 1, d: dRounded };
  const p = n1 === n2 ? probOutsideSquare(n1, h) : probOutsideBand(n1, n2, g, h);
  if (!Number.isFinite(p) || p < 0 || p > 1) return undefined;
  return { pValue: p, d: dRounded };
}

/** One-sided exact tail P(D+ ≥ x) (Birnbaum & Tingey 1951), summed in log space. */
export function smirnovSf(n: number, x: number): number {
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const lastJ = Math.floor(n * (1 - x));
  const logNFact = logGamma(n + 1);
  let sum = 0;
  for (let j = 0; j <= lastJ; j++) {
    const a = 1 - x - j / n;
    const b = x + j / n;
    if (a <= 0) continue;
    const logTerm = logNFact - logGamma(j + 1) - logGamma(n - j + 1) + (n - j) * Math.log(a) + (j - 1) * Math.log(b);
    sum += Math.exp(logTerm);
  }
  return Math.min(1, x * sum);
}

const E128 = 2 ** 128;

/** P(D_n ≤ d) by the Durbin matrix (Marsaglia, Tsang & Wang 2003), with exponent tracking. */
export function kolmogorovCdfDurbin(n: number, d: number): number {
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] = (1 - h ** j) * fac;
  }
  const tt = Math.max(2 * h - 1, 0) ** m - 2 * h ** m;
  v[m - 1] = (1 + tt) * fac;
  let H: Float64Array = new Float64Array(m * m);
  for (let i = 1; i < m; i++) for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - i + 1]!;
  for (let r = 0; r < m; r++) H[r * m] = v[r]!;
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c]!;
  let P: Float64Array = new Float64Array(m * m);
  for (let i = 0; i < m; i++) P[i * m + i] = 1;
  let expP = 0;
  let expH = 0;
  const mul = (A: Float64Array, B: Float64Array) => {
    const C = new Float64Array(m * m);
    for (let i = 0; i < m; i++)
      for (let l = 0; l < m; l++) {
        const a = A[i * m + l]!;
        if (a === 0) continue;
        for (let j = 0; j < m; j++) C[i * m + j]! += a * B[l * m + j]!;
      }
    return C;
  };
  for (let nn = n; nn > 0; nn = Math.floor(nn / 2)) {
    if (nn % 2) {
      P = mul(P, H);
      expP += expH;
    }
    H = mul(H, H);
    expH *= 2;
    if (Math.abs(H[(k - 1) * m + (k - 1)]!) > E128) {
      for (let i = 0; i < H.length; i++) H[i]! /= E128;
      expH += 128;
    }
  }
  let p = P[(k - 1) * m + (k - 1)]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < 1 / E128) {
      p *= E128;
      expP -= 128;
    }
  }
  return p * 2 ** expP;
}

/** P(D_n ≤ x) by the Pelz-Good (1976) asymptotic expansion in 1/√n, theta-function form for small z. */
export function kolmogorovCdfPelzGood(n: number, x: number): number {
  const z = Math.sqrt(n) * x;
  const z2 = z * z;
  const z4 = z2 * z2;
  const z6 = z4 * z2;
  const PI2 = Math.PI ** 2;
  const PI4 = PI2 * PI2;
  const PI6 = PI4 * PI2;
  const qlog = -PI2 / 8 / z2;
  if (qlog < -708) return 0;
  let q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = PI2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * z2)) / 16;
  const k3d = (PI6 * (5 - 30 * z2)) / 64;
  const k3c = (PI4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;
  const K = [0, 0, 0, 0];
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m * m;
    const m4 = m2 * m2;
    const m6 = m4 * m2;
    const qpower = q ** (8 * k);
    const coeffs = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
    for (let i = 0; i < 4; i++) K[i] = K[i]! * qpower + coeffs[i]!;
  }
  const SQRT2PI = Math.sqrt(2 * Math.PI);
  const denominators = [z, 6 * z4, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) K[i] = (K[i]! * q * SQRT2PI) / denominators[i]!;
  q = Math.exp(-PI2 / 2 / z2);
  let k2extra = 0;
  let k3extra = 0;
  const sqrt3z = Math.sqrt(3) * z;
  for (let k = maxk; k > 0; k--) {
    const qk = q ** (k * k);
    const kpi = Math.PI * k;
    k2extra += k * k * qk;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k * k * qk;
  }
  K[2]! += (k2extra * PI2 * SQRT2PI) / (-36 * z ** 3);
  K[3]! += (k3extra * PI2 * SQRT2PI) / (216 * z6);
  return K.reduce((sum, term, i) => sum + term / n ** (i / 2), 0);
}

/** P(D_n ≥ x) for the one-sample Kolmogorov statistic, choosing the method as scipy's `kstwo.sf` does. */
export function kolmogorovSf(n: number, x: number): number {
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    if (t <= 0.5) return 1;
    const logP = logGamma(n + 1) - n * Math.log(n) + n * Math.log(2 * t - 1);
    return 1 - Math.exp(logP);
  }
  if (t >= n - 1) return 2 * (1 - x) ** n;
  if (x >= 0.5) return Math.min(1, 2 * smirnovSf(n, x));
  const nx2 = t * x;
  if (n <= 140) {
    if (nx2 <= 4) return 1 - kolmogorovCdfDurbin(n, x);
    return Math.min(1, 2 * smirnovSf(n, x));
  }
  if (nx2 >= 370) return 0;
  if (nx2 >= 2.2) return Math.min(1, 2 * smirnovSf(n, x));
  const cdf = n <= 100_000 && n * x ** 1.5 <= 1.4 ? kolmogorovCdfDurbin(n, x) : kolmogorovCdfPelzGood(n, x);
  return Math.min(1, Math.max(0, 1 - cdf));
}

/** Two-sided two-sample KS test like scipy's `ks_2samp(a, b, method='auto')`. Inputs must be sorted. */
export function ks2samp(a: Float64Array, b: Float64Array): KsResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new Error('ks2samp needs two non-empty samples');
  let d = ksStatistic(a, b);
  if (Math.max(n1, n2) <= 10_000) {
    const exact = ksExactPValue(n1, n2, d);
    if (exact) return { statistic: d, pValue: Math.min(1, Math.max(0, exact.pValue)), method: 'exact' };
  }
  const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
  const en = Math.round((m * n) / (m + n));
  d = Math.min(d, 1);
  return { statistic: d, pValue: Math.min(1, Math.max(0, kolmogorovSf(en, d))), method: 'asymptotic' };
}
