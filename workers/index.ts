/** `createPipelineWorker`: one worker that runs `mlPipeline`, the SDK's activities and a team's custom steps. */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityOptions } from '../activities/index.js';
import type { StepDefinition } from '../sdk/define-step.js';
import type { PipelineDefinition } from '../sdk/define-pipeline.js';
import { PipelineError } from '../sdk/errors.js';
import { DEFAULT_TASK_QUEUE, resolveConnectionOptions, type ConnectionOptions } from '../sdk/connection.js';
import { resolveEncryption, type EncryptionSetting } from '../sdk/encryption.js';
import { hostTaskQueue, type HostPlacement } from '../sdk/spec/placement.js';
import { connectWorker } from './connection.js';
import { keepAliveHeartbeats } from './keep-alive.js';

export interface PipelineWorkerOptions extends Omit<ActivityOptions, 'host'>, ConnectionOptions {
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
  /**
   * Worker Deployments: this worker's deployment name and build id (one build id per release of the worker's
   * code). A pipeline run stays on the version that started it (PINNED), so its workflow code never changes
   * under it; monitors and data watchers move to the current version (AUTO_UPGRADE). See README, "Upgrading
   * workers". Without it the worker is unversioned.
   */
  deployment?: WorkerDeployment;
  /** Passed through to `Worker.create` (concurrency, identity, ...). */
  worker?: Partial<Omit<WorkerOptions, 'connection' | 'taskQueue' | 'activities' | 'workflowsPath' | 'workflowBundle'>>;
}

/** A worker's version among Worker Deployments. */
export interface WorkerDeployment {
  /** The deployment: one per fleet of workers that run the same task queues (e.g. "mlops"). */
  name: string;
  /** This release of the worker code (a git sha, a tag). */
  buildId: string;
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
  return (await buildWorkers(options, undefined)).main;
}

/** Options of `createPipelineWorkers`: a worker's options, and this machine's part in the fleet. */
export interface PipelineWorkersOptions extends PipelineWorkerOptions {
  /**
   * This machine's name among the workers of `taskQueue` (default: the OS host name). Local training jobs
   * placed here (`train.placement`) run on `hostTaskQueue(taskQueue, host)`, which only this machine polls:
   * restart the worker with the same host and `home` and it reattaches to them.
   */
  host?: string;
  /** `false` for a training machine that runs activities only (a GPU pool's queue); default true. */
  workflows?: boolean;
}

/** The workers of one machine: its share of `taskQueue`, and its own host queue. */
export interface PipelineWorkers {
  /** The worker polling `taskQueue`. */
  main: Worker;
  /** The worker polling this machine's own queue (activities only). */
  hostWorker: Worker;
  /** Where jobs placed on this machine run. */
  host: HostPlacement;
  /** Runs both until `shutdown()` (or until one fails, which shuts the other down). */
  run(): Promise<void>;
  shutdown(): void;
}

/**
 * Creates a machine's workers for a fleet: one on the shared task queue (pipeline workflows and activities, or
 * activities only with `workflows: false`) and one on the machine's own host queue, where local training jobs
 * placed here by `train.placement` run every attempt.
 *
 * @example
 * // A GPU box of the "gpu-a100" pool; pipelines set train.placement.taskQueue: 'gpu-a100'.
 * const box = await createPipelineWorkers({ taskQueue: 'gpu-a100', workflows: false, host: 'gpu-box-1' });
 * await box.run();
 */
export async function createPipelineWorkers(options: PipelineWorkersOptions = {}): Promise<PipelineWorkers> {
  const name = options.host ?? os.hostname();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new PipelineError(
      'InvalidInput',
      `host "${name}" is not a usable machine name: use letters, digits, ".", "_" and "-" (e.g. "gpu-box-1")`,
    );
  }
  const host = { host: name, taskQueue: hostTaskQueue(options.taskQueue ?? DEFAULT_TASK_QUEUE, name) };
  const { main, hostWorker } = await buildWorkers(options, host);
  return {
    main,
    hostWorker: hostWorker!,
    host,
    async run() {
      const both = [main.run(), hostWorker!.run()];
      try {
        await Promise.all(both);
      } finally {
        for (const w of [main, hostWorker!]) if (w.getState() === 'RUNNING') w.shutdown();
        await Promise.allSettled(both);
      }
    },
    shutdown() {
      for (const w of [main, hostWorker!]) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}

async function buildWorkers(
  options: PipelineWorkersOptions,
  host: HostPlacement | undefined,
): Promise<{ main: Worker; hostWorker?: Worker }> {
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
  const activities: Record<string, (...args: never[]) => Promise<unknown>> = {
    ...createActivities({ home: options.home, store: options.store, ...(host ? { host } : {}) }),
  };
  for (const step of steps) activities[step.activityName] = step.execute as (...args: never[]) => Promise<unknown>;
  const common = {
    ...options.worker,
    interceptors: {
      ...options.worker?.interceptors,
      activity: [keepAliveHeartbeats, ...(options.worker?.interceptors?.activity ?? [])],
    },
    connection,
    namespace,
    ...(codec
      ? { dataConverter: { payloadCodecs: [codec], failureConverterPath: encryptedFailureConverterPath() } }
      : {}),
    activities,
    ...(options.deployment ? { workerDeploymentOptions: deploymentOptions(options.deployment) } : {}),
  };
  const withWorkflows = options.workflows !== false;
  const main = await Worker.create({
    ...common,
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    ...(!withWorkflows
      ? {}
      : options.workflowBundle
        ? { workflowBundle: options.workflowBundle }
        : { workflowsPath: options.workflowsPath ?? workflowsPath() }),
  });
  const hostWorker = host ? await Worker.create({ ...common, taskQueue: host.taskQueue }) : undefined;
  return { main, hostWorker };
}

/** Versioned workers: runs default to PINNED (the SDK's long-lived workflows declare AUTO_UPGRADE themselves). */
function deploymentOptions(deployment: WorkerDeployment): NonNullable<WorkerOptions['workerDeploymentOptions']> {
  for (const key of ['name', 'buildId'] as const) {
    if (!deployment[key]?.trim()) {
      throw new PipelineError(
        'InvalidInput',
        `deployment.${key} is empty: give the worker's deployment name and build id, e.g. { name: 'mlops', buildId: process.env.GIT_SHA }`,
      );
    }
  }
  return {
    useWorkerVersioning: true,
    version: { deploymentName: deployment.name, buildId: deployment.buildId },
    defaultVersioningBehavior: 'PINNED',
  };
}
