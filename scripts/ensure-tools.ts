/** Prints where the Temporal CLI is, building it first if needed. Called by scripts/setup.mjs. */
import { ensureTemporalCli } from './dev-server.js';

console.log(`Temporal CLI: ${await ensureTemporalCli()}`);
