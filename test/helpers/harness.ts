/** Shared set-up for tests against the real Temporal server: a worker per file, a client, fixture pipelines. */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { createPipelineWorker, type PipelineWorkerOptions } from '../../workers/index.js';
import { PipelineClient } from '../../sdk/client.js';
import { definePipeline, type PipelineDefinition } from '../../sdk/define-pipeline.js';
import { local, localServer } from '../../sdk/factories.js';
import type { PipelineConfig } from '../../sdk/spec/pipeline.js';
import { stopDetachedUnder } from './processes.js';

export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

/**
 * A running worker on its own task queue, with a temp MLOPS home. `stop()` also stops the training jobs, model
 * servers and routers its activities started under the home: they are detached so as to outlive a worker.
 */
export interface Harness {
  taskQueue: string;
  home: string;
  worker: Worker;
  client: PipelineClient;
  temporal: Client;
  stop(): Promise<void>;
}

export async function startHarness(name: string, options: Partial<PipelineWorkerOptions> = {}): Promise<Harness> {
  const address = inject('temporalAddress');
  const taskQueue = `${name}-${process.pid}-${Date.now()}`;
  const home = options.home ?? (await fs.mkdtemp(path.join(os.tmpdir(), `mlops-${name}-`)));
  const connection = await NativeConnection.connect({ address });
  const worker = await createPipelineWorker({
    connection,
    taskQueue,
    home,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    worker: { shutdownGraceTime: '2s' },
    ...options,
  });
  const running = worker.run();
  const clientConnection = await Connection.connect({ address });
  const temporal = new Client({ connection: clientConnection });
  const client = await PipelineClient.connect({ client: temporal, taskQueue });
  return {
    taskQueue,
    home,
    worker,
    client,
    temporal,
    async stop() {
      worker.shutdown();
      try {
        await running;
      } finally {
        // After the worker is down, so that no activity starts another one meanwhile.
        await stopDetachedUnder(home);
        await connection.close();
        await clientConnection.close();
      }
    },
  };
}

/** A small pipeline on the iris fixture with the stdlib-only training and serving fixtures. */
export function fixturePipeline(
  overrides: Partial<PipelineConfig> = {},
  params: Record<string, string | number | boolean> = {},
): PipelineDefinition {
  return definePipeline({
    name: 'iris-test',
    ingest: {
      source: path.join(FIXTURES, 'iris-mini.csv'),
      columns: {
        sepal_length: { type: 'number', min: 0 },
        sepal_width: { type: 'number', min: 0 },
        petal_length: { type: 'number', min: 0 },
        petal_width: { type: 'number', min: 0 },
        species: { type: 'string', allowed: ['setosa', 'versicolor', 'virginica'] },
      },
      target: 'species',
    },
    train: {
      backend: local({ command: ['python3', path.join(FIXTURES, 'train_fixture.py')] }),
      params,
      heartbeatTimeout: '10s',
    },
    gate: { metrics: { auc: { min: 0.8 } } },
    approval: { approvers: ['ana@acme.com', 'bo@acme.com', 'cy@acme.com'], timeout: '10m' },
    deploy: {
      target: localServer({ command: ['python3', path.join(FIXTURES, 'serve_fixture.py')], healthTimeout: '20s' }),
    },
    ...overrides,
  });
}

/** Ids of the workflows whose id starts with `prefix` (visibility query). */
export async function workflowIdsStartingWith(h: Harness, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of h.temporal.workflow.list({ query: `WorkflowId STARTS_WITH "${prefix}"` }))
    ids.push(wf.workflowId);
  return ids;
}

/** Thrown from an `eventually` check to stop waiting at once. */
export class StopWaiting extends Error {}

/** Polls `check` until it returns a value (not undefined) or the time runs out. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      if (err instanceof StopWaiting) throw err;
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

/** Waits until the run's status shows `stage`. */
export function waitForStage(h: Harness, workflowId: string, stage: string, timeoutMs = 60_000) {
  return eventually(
    async () => {
      const s = await h.client.status(workflowId);
      if (s.stage === 'failed' && stage !== 'failed') throw new StopWaiting(`run failed: ${JSON.stringify(s.error)}`);
      return s.stage === stage ? s : undefined;
    },
    timeoutMs,
    `stage ${stage}`,
  );
}
