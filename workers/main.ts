/**
 * Worker entry point: `npm run worker` (or `tsx workers/main.ts`). Connects like the Temporal CLI: the
 * `temporal.toml` profile (`TEMPORAL_PROFILE`, `TEMPORAL_CONFIG_FILE`), then `TEMPORAL_ADDRESS`,
 * `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS_*`. Also reads `MLOPS_TASK_QUEUE`, `MLOPS_HOME`,
 * `MLOPS_STORE`, and `MLOPS_ENCRYPTION_KEYS` / `MLOPS_ENCRYPTION_KEYS_FILE` for payload encryption. Custom steps:
 * `MLOPS_STEPS_MODULE` names a module whose exported `steps` array is registered. Fleets: `MLOPS_HOST` names this
 * machine (local training jobs placed here run on its own host queue, see `createPipelineWorkers`),
 * `MLOPS_WORKFLOWS=0` runs activities only (a training pool), and `MLOPS_DEPLOYMENT_NAME` + `MLOPS_BUILD_ID`
 * make it a versioned worker (Worker Deployments).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeConnection, resolveConnectionOptions } from '../sdk/connection.js';
import type { StepDefinition } from '../sdk/define-step.js';
import { encryptionFromEnv } from '../sdk/encryption.js';
import { PipelineError } from '../sdk/errors.js';
import { createPipelineWorker, createPipelineWorkers, type WorkerDeployment } from './index.js';

async function loadSteps(): Promise<StepDefinition[]> {
  const module = process.env.MLOPS_STEPS_MODULE;
  if (!module) return [];
  const loaded = (await import(pathToFileURL(path.resolve(module)).href)) as { steps?: StepDefinition[] };
  if (!Array.isArray(loaded.steps))
    throw new Error(`MLOPS_STEPS_MODULE ${module} must export "steps": StepDefinition[]`);
  return loaded.steps;
}

/** The worker's version from `MLOPS_DEPLOYMENT_NAME` and `MLOPS_BUILD_ID` (both or neither). */
function deploymentFromEnv(): WorkerDeployment | undefined {
  const name = process.env.MLOPS_DEPLOYMENT_NAME;
  const buildId = process.env.MLOPS_BUILD_ID;
  if (!name && !buildId) return undefined;
  if (!name || !buildId)
    throw new PipelineError('InvalidInput', 'Set both MLOPS_DEPLOYMENT_NAME and MLOPS_BUILD_ID, or neither');
  return { name, buildId };
}

try {
  const deployment = deploymentFromEnv();
  const options = { taskQueue: process.env.MLOPS_TASK_QUEUE, steps: await loadSteps(), deployment };
  const host = process.env.MLOPS_HOST;
  const worker = host
    ? await createPipelineWorkers({ ...options, host, workflows: process.env.MLOPS_WORKFLOWS !== '0' })
    : await createPipelineWorker(options);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.shutdown());
  const taskQueue = 'main' in worker ? worker.main.options.taskQueue : worker.options.taskQueue;
  const codec = encryptionFromEnv();
  console.log(
    `temporal-mlops worker polling task queue "${taskQueue}"${'host' in worker ? ` and host queue "${worker.host.taskQueue}"` : ''}${deployment ? ` as ${deployment.name}/${deployment.buildId}` : ''} at ${describeConnection(resolveConnectionOptions())}; payloads ${codec ? `encrypted with key "${codec.currentKeyId}"` : 'not encrypted'}`,
  );
  await worker.run();
} catch (err) {
  // A configuration mistake is a message that names the setting, not a stack trace.
  if (!(err instanceof PipelineError)) throw err;
  console.error(`temporal-mlops worker: ${err.code}: ${err.message}`);
  process.exitCode = 1;
}
