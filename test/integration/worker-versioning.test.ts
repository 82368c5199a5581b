/**
 * Upgrading workers with Worker Deployments on the real dev server (its own, with drainage checked every
 * second instead of every 3 minutes). Runs wait for approval on build v1; build v2, whose pipeline workflow
 * has another command sequence, is deployed, ramped and made current; the v1 runs finish on v1 (no
 * non-determinism), new runs start on v2, and v1 is retired only once the server reports it drained.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { bundleWorkflowCode, NativeConnection, type Worker } from '@temporalio/worker';
import { startDevServer, type DevServer } from '../../scripts/dev-server.js';
import { createPipelineWorker } from '../../workers/index.js';
import { PipelineClient, type PipelineRun } from '../../sdk/client.js';
import { stopDetachedUnder } from '../helpers/processes.js';
import { deployments } from '../helpers/deployments.js';
import { eventually, fixturePipeline } from '../helpers/harness.js';

const DEPLOYMENT = 'mlops-upgrade-test';
const V2_WORKFLOWS = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'fixtures',
  'upgrade',
  'workflows-v2.ts',
);

let server: DevServer;
let home: string;
let workerConnection: NativeConnection;
let clientConnection: Connection;
let temporal: Client;
let client: PipelineClient;
const running = new Map<Worker, Promise<void>>();
const taskQueue = `upgrade-${process.pid}`;

beforeAll(async () => {
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-upgrade-'));
  server = await startDevServer({
    dbFile: path.join(home, 'temporal.db'),
    headless: true,
    log: () => undefined,
    dynamicConfig: {
      'matching.wv.VersionDrainageStatusRefreshInterval': '1s',
      'matching.wv.VersionDrainageStatusVisibilityGracePeriod': '1s',
    },
  });
  workerConnection = await NativeConnection.connect({ address: server.address });
  clientConnection = await Connection.connect({ address: server.address });
  temporal = new Client({ connection: clientConnection });
  client = await PipelineClient.connect({ client: temporal, taskQueue });
});
afterAll(async () => {
  for (const [worker, run] of running) {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await run.catch(() => undefined);
  }
  await stopDetachedUnder(home);
  await workerConnection?.close();
  await clientConnection?.close();
  await server?.stop();
});

async function startWorker(buildId: string, workflowBundle: { codePath: string } | { code: string }) {
  const worker = await createPipelineWorker({
    connection: workerConnection,
    taskQueue,
    home,
    workflowBundle,
    deployment: { name: DEPLOYMENT, buildId },
    worker: { shutdownGraceTime: '2s' },
  });
  running.set(worker, worker.run());
  return worker;
}

/** The build id of each workflow task of the run's history, in order. */
async function buildIdsOf(run: PipelineRun): Promise<string[]> {
  const history = await client.handle(run).fetchHistory();
  return history.events!.flatMap((e) => {
    const done = e.workflowTaskCompletedEventAttributes;
    return done ? [done.deploymentVersion?.buildId ?? '(unversioned)'] : [];
  });
}

async function memoOf(run: PipelineRun): Promise<Record<string, unknown>> {
  return (await client.handle(run).describe()).memo ?? {};
}

const waiting = (run: PipelineRun) =>
  eventually(async () => ((await client.status(run)).stage === 'approval' ? true : undefined), 60_000, 'approval');

describe('worker versioning', () => {
  it(
    'pins waiting runs to v1 while v2 is ramped and made current; v1 retires once drained',
    { timeout: 180_000 },
    async () => {
      const versions = deployments(temporal, DEPLOYMENT);
      const pipeline = fixturePipeline({ name: 'upgrade', deploy: undefined });
      const v1 = await startWorker('v1', { codePath: inject('workflowBundlePath') });
      await eventually(() => versions.describe('v1'), 30_000, 'version v1 registered by its worker');
      await eventually(() => versions.setCurrent('v1').then(() => true), 30_000, 'v1 current');

      const onV1 = await Promise.all([1, 2].map(() => client.start(pipeline, { requestedBy: 'ci@acme.com' })));
      await Promise.all(onV1.map(waiting));

      const bundle = await bundleWorkflowCode({ workflowsPath: V2_WORKFLOWS, logger: quiet });
      await startWorker('v2', { code: bundle.code });
      await eventually(() => versions.describe('v2'), 30_000, 'version v2 registered by its worker');
      // Refused until v2's workers have registered every task queue v1 has (workflow and activity pollers).
      await eventually(() => versions.setRamping('v2', 100).then(() => true), 30_000, 'v2 ramping');
      const ramped = await client.start(pipeline, { requestedBy: 'ci@acme.com' });
      await waiting(ramped);
      expect(await memoOf(ramped)).toMatchObject({ workflowCode: 'v2' });

      await eventually(() => versions.setCurrent('v2').then(() => true), 30_000, 'v2 current');
      // v1 still has open pinned runs: it drains, and its worker must keep running.
      expect(
        await eventually(
          async () => ((await versions.describe('v1')).drainage === 'DRAINING' ? versions.describe('v1') : undefined),
          30_000,
          'v1 draining',
        ),
      ).toMatchObject({ status: 'DRAINING', drainage: 'DRAINING' });

      const fresh = await client.start(pipeline, { requestedBy: 'ci@acme.com' });
      await waiting(fresh);
      expect(await memoOf(fresh)).toMatchObject({ workflowCode: 'v2' });

      for (const run of onV1) {
        const { versioningInfo } = (await client.handle(run).describe()).raw.workflowExecutionInfo!;
        expect(versioningInfo?.behavior).toBe(proto.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_PINNED);
        expect(versioningInfo?.deploymentVersion).toMatchObject({ deploymentName: DEPLOYMENT, buildId: 'v1' });
      }
      for (const run of onV1) await client.approve(run, { by: 'ana@acme.com', comment: 'ok' });
      for (const run of onV1) {
        expect((await client.result(run)).approval.decision).toBe('approved');
        expect(await memoOf(run)).not.toHaveProperty('workflowCode');
        expect(new Set(await buildIdsOf(run))).toEqual(new Set(['v1']));
      }

      const drained = await eventually(
        async () => ((await versions.describe('v1')).drainage === 'DRAINED' ? versions.describe('v1') : undefined),
        60_000,
        'v1 drained',
      );
      expect(drained).toMatchObject({ status: 'DRAINED', drainage: 'DRAINED' });
      v1.shutdown();
      await running.get(v1);

      for (const run of [ramped, fresh]) {
        await client.approve(run, { by: 'bo@acme.com', comment: 'ok' });
        expect((await client.result(run)).approval.decision).toBe('approved');
        expect(new Set(await buildIdsOf(run))).toEqual(new Set(['v2']));
      }
    },
  );
});

const noop = () => undefined;
const quiet = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };
