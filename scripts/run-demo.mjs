// `npm run demo`: installs what the demo needs, then runs examples/demo.ts (arguments pass through,
// e.g. `npm run demo -- --manual-approval`).
import { spawnSync } from 'node:child_process';
import { ensureTools, ensureNodeDeps, ensurePythonVenv, ROOT } from './setup.mjs';

try {
  ensureNodeDeps();
  ensureTools();
  ensurePythonVenv();
} catch (err) {
  console.error(`\n${err.message}`);
  process.exit(1);
}
// Ctrl-C reaches the demo too (same process group): it stops everything it started and exits with its own code,
// which this wrapper passes on instead of dying first.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => undefined);
const demo = spawnSync(process.execPath, ['--import', 'tsx', 'examples/demo.ts', ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: ROOT,
});
if (demo.error) console.error(`the demo could not start: ${demo.error.message}`);
process.exit(demo.status ?? 1);
