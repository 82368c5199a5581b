/** `createPipelineWorker`: one worker that runs `mlPipeline`, the SDK's activities and a team's custom steps. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityOptions } from '../activities/index.js';
import type { StepDefinition } from '../sdk/define-step.js';
import type { PipelineDefinition } from '../sdk/define-pipeline.js';
import { PipelineError } from '../sdk/errors.js';
import { DEFAULT_TASK_QUEUE, resolveConnectionOptions, type ConnectionOptions } from '../sdk/connection.js';
import { resolveEncryption, type EncryptionSetting } from '../sdk/encryption.js';
import { connectWorker } from './connection.js';

export interface PipelineWorkerOptions extends ActivityOptions, ConnectionOptions {
  taskQueue?: string;
  /**
   * An existing connection (then the connection options are ignored, except `namespace`). The worker's
   * activities start and signal workflows through it.
   */
  connection?: NativeConnection;
  /**
   * Payload encryption (see sdk/encryption.ts): a codec or its keys, `false` for none; by default
   * `MLOPS_ENCRYPTION_KEYS` / `MLOPS_ENCRYPTION_KEYS_FILE` when set. It applies to the workflows, the activities
   * and the client the activities use to start and signal runs.
   */
  encryption?: EncryptionSetting;
  /** Custom steps pipelines may call by name. */
  steps?: StepDefinition[];
  /** Pipelines this worker serves: checked at start-up for steps that are not registered. */
  pipelines?: PipelineDefinition[];
  /**
   * A team's own workflows module, bundled instead of the SDK's: it exports its workflows built from
   * `temporal-mlops/workflow`'s stages and re-exports the SDK's (`export { mlPipeline, monitorModel, watchNewData }`).
   */
  workflowsPath?: string;
  /** A pre-built workflow bundle (tests build one per file to save seconds per worker). */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Passed through to `Worker.create` (concurrency, identity, ...). */
  worker?: Partial<Omit<WorkerOptions, 'connection' | 'taskQueue' | 'activities' | 'workflowsPath' | 'workflowBundle'>>;
}

const sibling = (name: string) => {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `${name}${path.extname(here)}`);
};

/**
 * Path of the failure converter an encrypting worker uses (failure messages go through the codec). A workflow
 * bundle built ahead of time for such a worker passes it to `bundleWorkflowCode({ failureConverterPath })`.
 */
export function encryptedFailureConverterPath(): string {
  return sibling('failure-converter');
}

/** Path of the workflow entry point, `.ts` when running from sources and `.js` when compiled. */
export function workflowsPath(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), '..', 'workflows', `entry${path.extname(here)}`);
}

/**
 * Creates a worker for pipeline runs. Call `worker.run()` to serve until shutdown.
 *
 * @example
 * const worker = await createPipelineWorker({ steps: [notify], pipelines: [churn] });
 * await worker.run();
 */
export async function createPipelineWorker(options: PipelineWorkerOptions = {}): Promise<Worker> {
  const steps = options.steps ?? [];
  const stepNames = new Set(steps.map((s) => s.name));
  for (const pipeline of options.pipelines ?? []) {
    for (const call of pipeline.spec.steps) {
      if (!stepNames.has(call.step)) {
        throw new PipelineError(
          'InvalidSpec',
          `Pipeline "${pipeline.name}" calls step "${call.step}" after ${call.after}, but no such step is registered: pass it in createPipelineWorker({ steps: [...] })`,
        );
      }
    }
  }
  // With a connection given, only the namespace is read from the settings.
  const conn = options.connection ? undefined : resolveConnectionOptions(options);
  const namespace = conn?.namespace ?? options.namespace ?? resolveConnectionOptions(options).namespace;
  const codec = resolveEncryption(options.encryption, options.env);
  const connection = options.connection ?? (await connectWorker(conn!));
  const activities: Record<string, (...args: never[]) => Promise<unknown>> = { ...createActivities(options) };
  for (const step of steps) activities[step.activityName] = step.execute as (...args: never[]) => Promise<unknown>;
  return Worker.create({
    ...options.worker,
    connection,
    namespace,
    ...(codec
      ? { dataConverter: { payloadCodecs: [codec], failureConverterPath: encryptedFailureConverterPath() } }
      : {}),
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    activities,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: options.workflowsPath ?? workflowsPath() }),
  });
}
