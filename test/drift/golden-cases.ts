/** The golden vectors from numpy/scipy (scripts/drift_golden.py writes golden.json), shared by the drift tests. */
import { readFileSync } from 'node:fs';

export interface Golden {
  cases: {
    ks: { name: string; a: number[]; b: number[]; statistic: number; pvalue: number }[];
    kstwo: { n: number; d: number; sf: number }[];
    numeric: {
      name: string;
      a: number[];
      b: number[];
      ks: number;
      wasserstein: number;
      psi: number;
      kl: number;
      jensenshannon: number;
      chisquare: number | null;
    }[];
    categorical: {
      name: string;
      a: string[];
      b: string[];
      chisquare: number | null;
      z: number | null;
      psi: number;
      kl: number;
      jensenshannon: number;
    }[];
  };
}

export const golden = JSON.parse(readFileSync(new URL('./golden.json', import.meta.url), 'utf8')) as Golden;
