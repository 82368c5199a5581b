/** Builds (once, cached by version) and prints the tools the suite runs for real. */
import path from 'node:path';
import { ensureTemporalCli } from './dev-server.js';
import { ensureFakeGcs } from './fake-gcs.js';
import { ensureKServeCrd, ensureKubeTools } from './kube.js';

console.log(`Temporal CLI: ${await ensureTemporalCli()}`);
if (process.argv.includes('--gcs')) console.log(`fake-gcs-server: ${await ensureFakeGcs()}`);
if (process.argv.includes('--kube')) {
  console.log(`Kubernetes: ${path.dirname((await ensureKubeTools()).kwokctl)}`);
  console.log(`KServe CRD: ${await ensureKServeCrd()}`);
}
