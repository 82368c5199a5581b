/**
 * Worker entry point: `npm run worker` (or `tsx workers/main.ts`). Reads `TEMPORAL_ADDRESS`,
 * `TEMPORAL_NAMESPACE`, `MLOPS_TASK_QUEUE`, `MLOPS_HOME`, `MLOPS_STORE`. Custom steps: `MLOPS_STEPS_MODULE`
 * names a module whose exported `steps` array is registered.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { StepDefinition } from '../sdk/define-step.js';
import { createPipelineWorker } from './index.js';

async function loadSteps(): Promise<StepDefinition[]> {
  const module = process.env.MLOPS_STEPS_MODULE;
  if (!module) return [];
  const loaded = (await import(pathToFileURL(path.resolve(module)).href)) as { steps?: StepDefinition[] };
  if (!Array.isArray(loaded.steps))
    throw new Error(`MLOPS_STEPS_MODULE ${module} must export "steps": StepDefinition[]`);
  return loaded.steps;
}

const worker = await createPipelineWorker({ taskQueue: process.env.MLOPS_TASK_QUEUE, steps: await loadSteps() });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => worker.shutdown());
console.log(`temporal-mlops worker polling task queue "${worker.options.taskQueue}"`);
await worker.run();
