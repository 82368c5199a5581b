/**
 * Drift report speed: 1,000,000 rows × 20 numeric features (reference and current), the full per-column report
 * with Evidently's default tests (normed Wasserstein at this size) and the dataset-drift rule, against
 * Evidently's DataDriftPreset and a plain scipy loop on the same data in the same run. Prints the ratios.
 * Usage: npm run bench:drift [-- --rows 1000000 --cols 20]   (creates .venv-bench with the baselines once, or
 * set MLOPS_BENCH_PYTHON to a Python that has bench/requirements-drift.txt)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { columnDrift, datasetDrift } from '../sdk/drift/statistics.js';
import { seededRandom } from '../sdk/seeded-random.js';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '1000000' }, cols: { type: 'string', default: '20' } },
});
const ROWS = Number(values.rows);
const COLS = Number(values.cols);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function ensureBaselineVenv(): string {
  if (process.env.MLOPS_BENCH_PYTHON) return process.env.MLOPS_BENCH_PYTHON; // a Python that already has the baselines
  const venv = path.join(repo, '.venv-bench');
  const python = path.join(venv, 'bin', 'python');
  if (!existsSync(path.join(venv, '.installed'))) {
    console.log('Installing the baselines (Evidently, scipy) into .venv-bench, once...');
    execFileSync(process.env.PYTHON ?? 'python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    execFileSync(
      python,
      [
        '-m',
        'pip',
        'install',
        '-q',
        '--disable-pip-version-check',
        '-r',
        path.join(repo, 'bench', 'requirements-drift.txt'),
      ],
      { stdio: 'inherit' },
    );
    execFileSync('touch', [path.join(venv, '.installed')]);
  }
  return python;
}

/** Seeded normal samples (mulberry32 + Box-Muller), so every run measures the same data. */
function normals(seed: number, n: number, mean: number, sd: number): Float64Array {
  const uniform = seededRandom(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform() || 1e-300));
    const th = 2 * Math.PI * uniform();
    out[i] = mean + sd * r * Math.cos(th);
    if (i + 1 < n) out[i + 1] = mean + sd * r * Math.sin(th);
  }
  return out;
}

const python = ensureBaselineVenv();
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'drift-bench-'));
const ref = new Float64Array(ROWS * COLS);
const cur = new Float64Array(ROWS * COLS);
for (let c = 0; c < COLS; c++) {
  ref.set(normals(1000 + c, ROWS, c, 1 + c / 10), c * ROWS);
  // Every fourth feature drifts: its mean moves by a fifth of a standard deviation.
  cur.set(normals(5000 + c, ROWS, c + (c % 4 === 0 ? 0.2 * (1 + c / 10) : 0), 1 + c / 10), c * ROWS);
}
await fs.writeFile(path.join(dir, 'ref.f64'), Buffer.from(ref.buffer));
await fs.writeFile(path.join(dir, 'cur.f64'), Buffer.from(cur.buffer));

const started = performance.now();
const columns = Array.from({ length: COLS }, (_, c) =>
  columnDrift(`f${c}`, 'numerical', ref.subarray(c * ROWS, (c + 1) * ROWS), cur.subarray(c * ROWS, (c + 1) * ROWS)),
);
const dataset = datasetDrift(columns);
const oursS = (performance.now() - started) / 1000;

console.log(`Running the baselines on the same ${ROWS.toLocaleString()} × ${COLS} data...`);
const baseline = JSON.parse(
  execFileSync(python, [path.join(repo, 'bench', 'drift_baselines.py'), dir, String(ROWS), String(COLS)], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
    .trim()
    .split('\n')
    .at(-1)!,
) as {
  evidently_s: number;
  scipy_s: number;
  scipy_scores: number[];
};
const maxRel = Math.max(
  ...columns.map((c, i) => Math.abs(c.score - baseline.scipy_scores[i]!) / Math.abs(baseline.scipy_scores[i]!)),
);

console.log(
  `\ndrift report, ${ROWS.toLocaleString()} rows × ${COLS} numeric features (test: ${columns[0]!.test}), one process each:`,
);
console.log(
  `  temporal-mlops (TypeScript)   ${oursS.toFixed(2)} s   ${dataset.driftedColumns}/${COLS} columns drifted, dataset drift ${dataset.drifted}`,
);
console.log(
  `  plain scipy loop              ${baseline.scipy_s.toFixed(2)} s   (wasserstein_distance / std per column)`,
);
console.log(`  Evidently DataDriftPreset     ${baseline.evidently_s.toFixed(2)} s`);
console.log(
  `ratios: Evidently / ours = ${(baseline.evidently_s / oursS).toFixed(1)}x faster;  scipy loop / ours = ${(baseline.scipy_s / oursS).toFixed(2)}x`,
);
console.log(`agreement with scipy: max relative difference of the scores ${maxRel.toExponential(2)}`);
await fs.rm(dir, { recursive: true, force: true });
