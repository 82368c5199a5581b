import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineError } from '../../sdk/errors.js';
import { kubernetes, vertex } from '../../sdk/factories.js';
import { FIXTURES, fixturePipeline, startHarness, waitForStage, type Harness } from '../helpers/harness.js';
import { approveSignal } from '../../workflows/messages.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('failures');
});
afterAll(async () => {
  await h?.stop();
});

async function failure(promise: Promise<unknown>): Promise<PipelineError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PipelineError);
  return err as PipelineError;
}

describe('approval outcomes', () => {
  it('a reject ends the run with ApprovalRejected and nothing is deployed', async () => {
    const run = await h.client.start(fixturePipeline(), { requestedBy: 'ci@acme.com' });
    await waitForStage(h, run.workflowId, 'approval');
    await h.client.reject(run, { by: 'bo@acme.com', comment: 'recall too low on the new segment' });
    const err = await failure(h.client.result(run));
    expect(err.code).toBe('ApprovalRejected');
    expect(err.message).toContain('bo@acme.com');
    const status = await h.client.status(run);
    expect(status.stages.deploy).toBe('pending');
    expect(status.approval.record?.rejection?.comment).toBe('recall too low on the new segment');
  });

  it('no decision before the timeout ends the run with ApprovalTimedOut', async () => {
    const pipeline = fixturePipeline({ approval: { timeout: '2s', approvers: ['ana@acme.com'] } });
    const run = await h.client.start(pipeline, { requestedBy: 'ci@acme.com' });
    const err = await failure(h.client.result(run));
    expect(err.code).toBe('ApprovalTimedOut');
    expect((err.details as { decision: string }).decision).toBe('timed-out');
  });

  it('a malformed approval is refused and recorded; the run keeps waiting and a valid one still works', async () => {
    const run = await h.client.start(fixturePipeline(), { requestedBy: 'ci@acme.com' });
    await waitForStage(h, run.workflowId, 'approval');
    const handle = h.client.handle(run);
    await handle.signal(approveSignal, { by: 'not-an-email', comment: 42 });
    await handle.signal(approveSignal, 'LGTM');
    await handle.signal(approveSignal, { by: 'mallory@evil.com', comment: 'let me in' });
    await handle.signal(approveSignal, { by: 'ci@acme.com', comment: 'self-approval' });
    const status = await h.client.status(run);
    expect(status.stage).toBe('approval');
    expect(status.approval.attempts).toHaveLength(4);
    expect(status.approval.attempts.every((a) => !a.accepted)).toBe(true);
    expect(status.approval.attempts[0]!.reason).toMatch(/malformed payload \(by: .*; comment: /);
    expect(status.approval.attempts[1]!.reason).toMatch(/malformed payload/);
    expect(status.approval.attempts[2]!.reason).toMatch(/not an approver: mallory@evil.com/);
    expect(status.approval.attempts[3]!.reason).toMatch(/separation of duties/);
    await h.client.approve(run, { by: 'cy@acme.com', comment: 'ok' });
    const result = await h.client.result(run);
    expect(result.approval.attempts).toHaveLength(5);
    expect(result.approval.approvals.map((a) => a.by)).toEqual(['cy@acme.com']);
  });

  it('an approval sent before the candidate is registered is refused as wrong stage', async () => {
    const run = await h.client.start(fixturePipeline({}, { sleep: 3 }), { requestedBy: 'ci@acme.com' });
    await waitForStage(h, run.workflowId, 'train');
    const early = await h.client.approve(run, { by: 'ana@acme.com', comment: 'early' }).catch((e: unknown) => e);
    expect(early).toMatchObject({
      code: 'ApprovalRefused',
      message: expect.stringMatching(/^wrong stage: the candidate is not registered yet/),
    });
    const waiting = await waitForStage(h, run.workflowId, 'approval');
    expect(waiting.approval.attempts[0]).toMatchObject({ accepted: false, by: 'ana@acme.com' });
    expect(waiting.approval.attempts[0]!.reason).toMatch(/wrong stage/);
    await h.client.reject(run, { by: 'ana@acme.com', comment: 'clean up' });
    await failure(h.client.result(run));
  });
});

describe('training and data failures', () => {
  it('a crashing training script fails with TrainingFailed, its exit code and last log lines, without retry', async () => {
    const run = await h.client.start(fixturePipeline({}, { exit_code: 3, fail_message: 'feature tenure is all NaN' }), {
      requestedBy: 'ci@acme.com',
    });
    const err = await failure(h.client.result(run));
    expect(err.code).toBe('TrainingFailed');
    expect(err.message).toContain('exited with code 3');
    expect(err.message).toContain('ValueError: feature tenure is all NaN');
    const details = err.details as { exitCode: number; lastLines: string[] };
    expect(details.exitCode).toBe(3);
    expect(details.lastLines.at(-1)).toBe('ValueError: feature tenure is all NaN');
    const history = await h.client.handle(run).fetchHistory();
    const trainAttempts = history.events?.filter(
      (e) => e.activityTaskStartedEventAttributes && e.activityTaskStartedEventAttributes.attempt,
    );
    expect(trainAttempts?.every((e) => e.activityTaskStartedEventAttributes?.attempt === 1)).toBe(true);
  });

  it('NaN metrics fail closed with InvalidMetrics', async () => {
    const run = await h.client.start(fixturePipeline({}, { metrics_json: '{"auc": NaN}' }), {
      requestedBy: 'ci@acme.com',
    });
    const err = await failure(h.client.result(run));
    expect(err.code).toBe('InvalidMetrics');
    expect(err.message).toContain('auc="NaN"');
  });

  it('bad input data fails at ingest with a report, before any training', async () => {
    const pipeline = fixturePipeline({
      ingest: {
        source: path.join(FIXTURES, 'iris-bad.csv'),
        columns: {
          sepal_length: { type: 'number', min: 0 },
          sepal_width: { type: 'number' },
          petal_length: { type: 'number' },
          petal_width: { type: 'number' },
          species: { type: 'string', allowed: ['setosa', 'versicolor', 'virginica'] },
        },
        target: 'species',
      },
    });
    const run = await h.client.start(pipeline, { requestedBy: 'ci@acme.com' });
    const err = await failure(h.client.result(run));
    expect(err.code).toBe('DataValidationFailed');
    const problems = (err.details as { problems: { column?: string; kind: string }[] }).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ column: 'sepal_length', kind: 'range' }),
        expect.objectContaining({ column: 'sepal_width', kind: 'type' }),
        expect.objectContaining({ column: 'petal_width', kind: 'missing-values' }),
        expect.objectContaining({ column: 'species', kind: 'allowed-values' }),
      ]),
    );
    const status = await h.client.status(run);
    expect(status.stages.train).toBe('pending');
  });

  it.each([
    ['vertex', vertex({ project: 'acme', region: 'us-central1', image: 'us-docker.pkg.dev/acme/train:1' })],
    ['kubernetes', kubernetes({ image: 'ghcr.io/acme/train:1', gpus: 1 })],
  ])('%s() without a gs:// output location fails with a clear InvalidSpec', async (kind, backend) => {
    const base = fixturePipeline();
    const run = await h.client.start(fixturePipeline({ train: { ...base.spec.train, backend } }), {
      requestedBy: 'ci@acme.com',
    });
    const err = await failure(h.client.result(run));
    expect(err.code).toBe('InvalidSpec');
    expect(err.message).toBe(
      `The ${kind} backend needs a gs:// output: set train.backend.baseOutputDirectory or a gs:// register.store`,
    );
  });
});
