/**
 * One worker process of the scale scenarios (bench/scale-scenarios.ts): a pipeline worker and, on another task
 * queue, a worker of the bare baseline workflows, so both run under the same load. Configured by environment.
 */
import { DefaultLogger, makeTelemetryFilterString, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createPipelineWorker } from '../workers/index.js';

Runtime.install({
  // ERROR: every approved run's deploy fails on purpose (its server exits at once), which the SDK logs as a WARN.
  logger: new DefaultLogger('ERROR'),
  telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } },
});
const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`bench/scale-worker.ts needs ${name}`);
  return value;
};
const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') });
const pipeline = await createPipelineWorker({
  connection,
  taskQueue: env('MLOPS_TASK_QUEUE'),
  home: env('MLOPS_HOME'),
  workflowBundle: { codePath: env('MLOPS_WORKFLOW_BUNDLE') },
  ...(process.env.MLOPS_MAX_CACHED_WORKFLOWS
    ? { worker: { maxCachedWorkflows: Number(process.env.MLOPS_MAX_CACHED_WORKFLOWS) } }
    : {}),
});
const bare = await Worker.create({
  connection,
  taskQueue: env('MLOPS_BARE_TASK_QUEUE'),
  workflowBundle: { codePath: env('MLOPS_BARE_BUNDLE') },
  activities: { noop: async (i: number) => i },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => [pipeline, bare].forEach((w) => w.getState() === 'RUNNING' && w.shutdown()));
console.log(`worker ready pid=${process.pid}`);
await Promise.all([pipeline.run(), bare.run()]);
