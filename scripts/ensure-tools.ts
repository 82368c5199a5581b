/** Builds (once, cached by version) and prints the tools the suite runs for real: Temporal CLI, fake-gcs-server. */
import { ensureTemporalCli } from './dev-server.js';
import { ensureFakeGcs } from './fake-gcs.js';

console.log(`Temporal CLI: ${await ensureTemporalCli()}`);
if (process.argv.includes('--gcs')) console.log(`fake-gcs-server: ${await ensureFakeGcs()}`);
