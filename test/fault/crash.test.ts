/**
 * Fault tests on real processes: the Temporal dev server SIGKILLed while a run waits for approval, a worker
 * SIGKILLed while training runs (the new worker must reattach, never start a second job), and a worker SIGKILLed
 * while it holds a short activity (retried after its heartbeat timeout, not its 10-minute start-to-close).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { freePort, startDevServer, type DevServer } from '../../scripts/dev-server.js';
import { createPipelineWorker } from '../../workers/index.js';
import { PipelineClient } from '../../sdk/client.js';
import { isOurProcess, readPid } from '../../activities/platform/local-process.js';
import { stopLocalServer } from '../../activities/deploy/local/deploy.js';
import { eventually, fixturePipeline, StopWaiting } from '../helpers/harness.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean().catch(() => undefined);
});

function startWorkerProcess(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/worker-process.ts'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(async () => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker process exited with ${code} before it was ready`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('worker ready')) resolve(child);
    });
  });
}

/** A home, the environment of worker processes on their own task queue, and a client of that queue. */
async function workerProcessSetup(name: string, extraEnv: Record<string, string> = {}) {
  const address = inject('temporalAddress');
  const home = await fs.mkdtemp(path.join(os.tmpdir(), `mlops-${name}-`));
  const env = {
    TEMPORAL_ADDRESS: address,
    MLOPS_TASK_QUEUE: `${name}-${Date.now()}`,
    MLOPS_HOME: home,
    MLOPS_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
    ...extraEnv,
  };
  const connection = await Connection.connect({ address });
  cleanups.push(() => connection.close());
  const client = await PipelineClient.connect({ client: new Client({ connection }), taskQueue: env.MLOPS_TASK_QUEUE });
  return { home, env, client };
}

async function waitForStage(client: PipelineClient, workflowId: string, stage: string, timeoutMs = 60_000) {
  return eventually(
    async () => {
      const s = await client.status(workflowId);
      if (s.stage === 'failed') throw new StopWaiting(`run failed: ${JSON.stringify(s.error)}`);
      return s.stage === stage ? s : undefined;
    },
    timeoutMs,
    `stage ${stage}`,
  );
}

describe('fault tolerance', () => {
  it('a run waiting for approval survives SIGKILL of the Temporal server and completes after restart', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-server-kill-'));
    const dbFile = path.join(dir, 'temporal.db');
    const port = await freePort();
    let server: DevServer = await startDevServer({ port, dbFile, headless: true, log: () => undefined });
    cleanups.push(() => server.stop());

    const workerConnection = await NativeConnection.connect({ address: server.address });
    const taskQueue = 'server-kill';
    const worker = await createPipelineWorker({
      connection: workerConnection,
      taskQueue,
      home: dir,
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    const running = worker.run();
    cleanups.push(async () => {
      worker.shutdown();
      await running;
    });
    const clientConnection = await Connection.connect({ address: server.address });
    cleanups.push(() => clientConnection.close());
    const client = await PipelineClient.connect({ client: new Client({ connection: clientConnection }), taskQueue });

    const run = await client.start(fixturePipeline(), { requestedBy: 'ci@acme.com' });
    await waitForStage(client, run.workflowId, 'approval');

    await server.kill();
    await expect(client.status(run)).rejects.toThrow();
    server = await startDevServer({ port, dbFile, headless: true, log: () => undefined });

    await eventually(
      () => client.approve(run, { by: 'ana@acme.com', comment: 'after the outage' }).then(() => true),
      30_000,
      'approve after restart',
    );
    const result = await client.result(run);
    expect(result.approval.decision).toBe('approved');
    expect(result.deployment?.smoke?.response).toMatchObject({ predictions: expect.any(Array) });
    await stopLocalServer(dir, 'iris-test');
  });

  it('a worker SIGKILLed during training: the new worker reattaches to the running job and the run completes', async () => {
    const { home, env, client } = await workerProcessSetup('worker-kill');
    const startsFile = path.join(home, 'starts.txt');

    const first = await startWorkerProcess(env);
    const params = { sleep: 12, starts_file: startsFile };
    const pipeline = fixturePipeline({
      train: { ...fixturePipeline().spec.train, params, heartbeatTimeout: '4s' },
      approval: { required: false },
    });
    const run = await client.start(pipeline, { requestedBy: 'ci@acme.com' });

    const jobKey = await eventually(
      async () => {
        const lines = await fs.readFile(startsFile, 'utf8').catch(() => '');
        return lines.trim().split(' ')[1];
      },
      30_000,
      'the training job to start',
    );
    const jobDir = path.join(home, 'jobs', jobKey);
    const trainingPid = (await readPid(jobDir))!;
    expect(await isOurProcess(trainingPid, jobDir)).toBe(true);

    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    expect(await isOurProcess(trainingPid, jobDir)).toBe(true); // the job outlives its worker

    await startWorkerProcess(env);
    const result = await client.result(run);
    expect(result.training.reattached).toBe(true);
    expect(result.training.jobKey).toBe(jobKey);
    const starts = (await fs.readFile(startsFile, 'utf8')).trim().split('\n');
    expect(starts).toHaveLength(1); // exactly one training process ever ran
    const history = await client.handle(run).fetchHistory();
    const trainStarts = history
      .events!.filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 0);
    expect(Math.max(...trainStarts)).toBeGreaterThanOrEqual(2); // the activity really was retried on the new worker
    await stopLocalServer(home, 'iris-test');
  });

  it('a worker SIGKILLed during a step is replaced within the heartbeat timeout; a step that never heartbeats is kept alive', async () => {
    const { home, env, client } = await workerProcessSetup('step-kill', {
      MLOPS_STEPS_MODULE: path.resolve('test/fixtures/slow-step.ts'),
    });
    const log = path.join(home, 'attempts.txt');
    const first = await startWorkerProcess(env);
    // The retried attempt runs 40 s without a heartbeat of its own, past the 30 s heartbeat timeout.
    const pipeline = fixturePipeline({
      steps: [{ step: 'slow', after: 'ingest', input: { log, seconds: 40 } }],
      approval: { required: false },
      deploy: undefined,
    });
    const run = await client.start(pipeline, { requestedBy: 'ci@acme.com' });
    await eventually(
      async () => ((await fs.readFile(log, 'utf8').catch(() => '')).startsWith('1 ') ? true : undefined),
      60_000,
      'the step to start',
    );
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const killedAt = Date.now();
    await startWorkerProcess(env);

    const result = await client.result(run);
    expect(result.training.metrics.auc).toBeGreaterThan(0);
    const lines = (await fs.readFile(log, 'utf8')).trim().split('\n');
    const retried = lines.find((l) => /^2 \d+$/.test(l));
    expect(retried, lines.join('; ')).toBeDefined();
    console.log(`step retried ${((Number(retried!.split(' ')[1]) - killedAt) / 1000).toFixed(1)} s after the kill`);
    // Retried once the 30 s heartbeat timeout passed (with the new worker's start-up), not after 10 minutes.
    expect(Number(retried!.split(' ')[1]) - killedAt).toBeLessThan(60_000);
    expect(lines).toContainEqual(expect.stringMatching(/^2 done \d+$/));
    expect(lines.filter((l) => /^\d+ \d+$/.test(l))).toHaveLength(2); // attempts 1 and 2, no third
  }, 240_000);
});
