// `npm test`: installs what the suite needs, builds dist/ (a compile error in the published build shows here, before
// the suite), then typecheck, lint, format check and the whole Vitest suite against the real Temporal dev server.
// Extra arguments go to Vitest (`npm test -- test/unit`).
import { ensureTools, ensureTestPackages, ensureNodeDeps, ensurePythonVenv, sh } from './setup.mjs';

const started = Date.now();
try {
  ensureNodeDeps();
  ensureTools({ gcs: true, kube: true });
  ensurePythonVenv();
  ensureTestPackages();
  const only = process.argv.slice(2);
  console.log('\n\u25b6 Build (dist/)');
  sh('npm', ['run', 'build', '--silent']);
  if (only.length === 0) {
    console.log('\n\u25b6 Typecheck, lint, format');
    sh('npx', ['tsc', '--noEmit']);
    sh('npx', ['eslint', '.']);
    sh('npx', ['prettier', '--check', '.', '--log-level', 'warn']);
  }
  console.log('\n\u25b6 Tests (real Temporal dev server)');
  sh('npx', ['vitest', 'run', ...only]);
  if (only.length === 0) {
    console.log('\n\u25b6 Scale tests, alone on the machine (their timings are acceptance criteria)');
    sh('npx', ['vitest', 'run'], { env: { ...process.env, MLOPS_SCALE_TESTS: '1' } });
  }
  console.log(`\nAll green in ${Math.round((Date.now() - started) / 1000)} s.`);
} catch (err) {
  console.error(`\n${err.message}`);
  process.exit(1);
}
