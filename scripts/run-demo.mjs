// `npm run demo`: installs what the demo needs, then runs examples/demo.ts (arguments pass through,
// e.g. `npm run demo -- --manual-approval`).
import { ensureTools, ensureNodeDeps, ensurePythonVenv, sh } from './setup.mjs';

try {
  ensureNodeDeps();
  ensureTools();
  ensurePythonVenv();
  sh(process.execPath, ['--import', 'tsx', 'examples/demo.ts', ...process.argv.slice(2)]);
} catch (err) {
  console.error(`\n${err.message}`);
  process.exit(1);
}
