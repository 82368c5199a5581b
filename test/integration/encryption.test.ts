/**
 * Payload encryption on the real server: with MLOPS_ENCRYPTION_KEYS set for the worker, the client, the CLI and
 * schedules, the history the real Temporal CLI shows (no codec) holds no metric, approver or comment in clear
 * text, while `temporal-mlops show` decodes it. After a key rotation old runs still decode; without the old key
 * the error names it. The worker's activities reach Temporal through the worker's client, with the codec.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { Context } from '@temporalio/activity';
import { bundleWorkflowCode, NativeConnection, type Worker } from '@temporalio/worker';
import { stopLocalServer } from '../../activities/index.js';
import { PipelineClient } from '../../sdk/client.js';
import { defineStep } from '../../sdk/define-step.js';
import type { PipelineStatus } from '../../sdk/run-types.js';
import { approveSignal, statusQuery } from '../../workflows/messages.js';
import { createPipelineWorker, encryptedFailureConverterPath, workflowsPath } from '../../workers/index.js';
import { ensureTemporalCli } from '../../scripts/dev-server.js';
import { eventually, fixturePipeline } from '../helpers/harness.js';
import { historyJson } from '../helpers/histories.js';
import { historyText, payloadKeyIds } from '../helpers/history-text.js';

const run = promisify(execFile);
const address = inject('temporalAddress');
const k1 = `k1=${randomBytes(32).toString('base64')}`;
const k2 = `k2=${randomBytes(32).toString('base64')}`;
const COMMENT = 'ok-by-risk-committee-7f3a';

/** A custom step that reads its own run's status through the activity context's client (the worker's). */
const selfCheck = defineStep({
  name: 'self-check',
  input: z.unknown(),
  output: z.object({ stage: z.string(), auc: z.number() }),
  run: async () => {
    const ctx = Context.current();
    const status: PipelineStatus = await ctx.client.workflow
      .getHandle(ctx.info.workflowExecution!.workflowId)
      .query(statusQuery);
    return { stage: status.stage, auc: status.training?.metrics.auc ?? -1 };
  },
});

let bundleCode: string;
let home: string;
const taskQueue = `encryption-${process.pid}`;
const connections: NativeConnection[] = [];

async function startWorker(keys: string): Promise<{ worker: Worker; done: Promise<void> }> {
  const connection = await NativeConnection.connect({ address });
  connections.push(connection);
  const worker = await createPipelineWorker({
    connection,
    taskQueue,
    home,
    env: { MLOPS_ENCRYPTION_KEYS: keys },
    steps: [selfCheck],
    workflowBundle: { code: bundleCode },
    worker: { shutdownGraceTime: '2s' },
  });
  return { worker, done: worker.run() };
}

const cliEnv = (keys?: string) => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^TEMPORAL_|^MLOPS_ENCRYPTION/.test(k))),
  TEMPORAL_ADDRESS: address,
  ...(keys ? { MLOPS_ENCRYPTION_KEYS: keys } : {}),
});
const mlops = (args: string[], keys?: string) =>
  run(process.execPath, ['bin/temporal-mlops.js', ...args], { env: cliEnv(keys), timeout: 60_000 });

// Its own name: the retraining schedule id (retrain/<name>) is shared by the whole suite's namespace.
const NAME = 'iris-sealed';
const pipeline = () =>
  fixturePipeline({ name: NAME, steps: [{ step: 'self-check', after: 'register' }], retrain: { cron: '0 3 * * 1' } });

const awaitingApproval = (client: PipelineClient, workflowId: string) =>
  eventually(
    async () => ((await client.status(workflowId)).stage === 'approval' ? true : undefined),
    60_000,
    'approval',
  );

beforeAll(async () => {
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-encryption-'));
  // An encrypting worker's workflows raise failures through the encrypting failure converter: it goes in the bundle.
  const bundle = await bundleWorkflowCode({
    workflowsPath: workflowsPath(),
    failureConverterPath: encryptedFailureConverterPath(),
    logger: { trace: () => {}, debug: () => {}, info: () => {}, warn: () => {}, error: console.error, log: () => {} },
  });
  bundleCode = bundle.code;
});
afterAll(async () => {
  await stopLocalServer(home, NAME);
  for (const c of connections) await c.close().catch(() => undefined);
});

describe('payload encryption', () => {
  let firstRun: string;

  it('the history holds no metric, approver or comment in clear text; temporal-mlops show decodes it', async () => {
    const { worker, done } = await startWorker(k1);
    const client = await PipelineClient.connect({ address, taskQueue, env: { MLOPS_ENCRYPTION_KEYS: k1 } });
    try {
      const started = await client.start(pipeline(), { requestedBy: 'ci@acme.com' });
      firstRun = started.workflowId;
      await awaitingApproval(client, started.workflowId);
      // A refused attempt (not an approver) and the accepted one: both go to the audit trail.
      await client.handle(started).signal(approveSignal, { by: 'mallory@evil.example', comment: 'let me in' });
      await client.approve(started, { by: 'ana@acme.com', comment: COMMENT });
      const result = await client.result(started);
      expect(result.approval.approvals).toEqual([expect.objectContaining({ by: 'ana@acme.com', comment: COMMENT })]);
      // The step's query went through the worker's own client, which decoded the sealed status.
      expect((await client.status(started)).steps).toEqual([
        { step: 'self-check', after: 'register', output: { stage: expect.any(String), auc: 0.9 } },
      ]);

      const json = await historyJson(address, started.workflowId);
      const history = historyText(json);
      const clearTexts = [
        'ana@acme.com',
        'ci@acme.com',
        'mallory@evil.example',
        COMMENT,
        'let me in',
        'auc',
        'accuracy',
      ];
      for (const clear of clearTexts) expect(history, `"${clear}" in clear text`).not.toContain(clear);
      // The metric's value as a number of its own (timestamps such as "…:30.888…" contain the digits too).
      expect(history, '"0.88" in clear text').not.toMatch(/(?<![\d.])0\.88(?!\d)/);
      expect(history).toContain('binary/encrypted');
      expect(payloadKeyIds(json)).toEqual(new Set(['k1']));
      // Search attributes stay readable by design: the stage is there in clear text.
      expect(history).toMatch(/"done"/);

      const shown = await mlops(['show', started.workflowId], k1);
      expect(shown.stdout).toMatch(/metrics: auc=0\.9 accuracy=0\.88/);
      expect(shown.stdout).toContain(`approve by ana@acme.com via update: accepted "${COMMENT}"`);
      expect(shown.stdout).toMatch(/approve by mallory@evil\.example via signal: REFUSED/);
      const withoutKeys = await mlops(['show', started.workflowId]).catch(
        (err: { code: number; stderr: string }) => err,
      );
      expect(withoutKeys).toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/EncryptionFailed: .*MLOPS_ENCRYPTION_KEYS/),
      });

      // Schedules go through the same client: the scheduled run's input is sealed too.
      await client.schedules.apply(pipeline());
      const cli = await ensureTemporalCli();
      const { stdout } = await run(cli, [
        'schedule',
        'describe',
        '--schedule-id',
        `retrain/${NAME}`,
        '--address',
        address,
        '--output',
        'json',
      ]);
      const schedule = historyText(JSON.parse(stdout));
      expect(schedule).toContain('binary/encrypted');
      expect(schedule).not.toContain('ana@acme.com');
      const described = await client.schedules.describe(NAME);
      expect(JSON.stringify(described.action)).toContain('ana@acme.com');
      await client.schedules.remove(NAME);

      // A failed run: the failure type stays visible, its message (the metric and the bound) is sealed.
      const failing = await client.start(fixturePipeline({ name: NAME }, { auc: 0.4321 }), {
        requestedBy: 'ci@acme.com',
      });
      await expect(client.result(failing)).rejects.toMatchObject({
        code: 'GateFailed',
        message: expect.stringMatching(/auc/),
      });
      const failedHistory = historyText(await historyJson(address, failing.workflowId));
      expect(failedHistory).toContain('GateFailed');
      for (const clear of clearTexts) expect(failedHistory, `"${clear}" in clear text`).not.toContain(clear);
      // The metric as a number on its own: event timestamps (…:50.43215…Z) hold the same digits.
      expect(failedHistory, 'the failed metric in clear text').not.toMatch(/(?<![\d.])0\.4321(?!\d)/);
    } finally {
      await client.close();
      worker.shutdown();
      await done;
      await stopLocalServer(home, NAME);
    }
  });

  it('after a key rotation new payloads use the new key and old runs still decode; without the old key it says so', async () => {
    const rotated = `${k2},${k1}`;
    const { worker, done } = await startWorker(rotated);
    const client = await PipelineClient.connect({ address, taskQueue, env: { MLOPS_ENCRYPTION_KEYS: rotated } });
    const retired = await PipelineClient.connect({ address, taskQueue, env: { MLOPS_ENCRYPTION_KEYS: k2 } });
    try {
      const started = await client.start(pipeline(), { requestedBy: 'ci@acme.com' });
      await awaitingApproval(client, started.workflowId);
      await client.approve(started, { by: 'bo@acme.com', comment: 'rotated' });
      await client.result(started);
      expect(payloadKeyIds(await historyJson(address, started.workflowId))).toEqual(new Set(['k2']));

      // The run sealed with k1 before the rotation: its result, and `show` (the worker replays its history).
      const old = await client.result(firstRun);
      expect(old.approval.approvals[0]).toMatchObject({ by: 'ana@acme.com', comment: COMMENT });
      const shown = await mlops(['show', firstRun], rotated);
      expect(shown.stdout).toContain(COMMENT);
      await expect(retired.result(firstRun)).rejects.toMatchObject({
        code: 'EncryptionFailed',
        message: expect.stringMatching(/encrypted with key "k1", which is not among this process's keys \(k2\)/),
      });
    } finally {
      await client.close();
      await retired.close();
      worker.shutdown();
      await done;
    }
  });
});
