/** Approval policy on the real server: quorum, duplicates, separation of duties, veto, escalation, reminder, audit. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openObjectStore, readManifest, resolveActivityOptions, stopLocalServer } from '../../activities/index.js';
import { defineStep } from '../../sdk/define-step.js';
import { PipelineError } from '../../sdk/errors.js';
import type { PipelineConfig } from '../../sdk/spec/pipeline.js';
import { eventually, fixturePipeline, startHarness, waitForStage, type Harness } from '../helpers/harness.js';

const reminders: unknown[] = [];
const remindApprovers = defineStep({
  name: 'remind-approvers',
  input: z.object({ workflowId: z.string(), approvers: z.array(z.string()), deadline: z.string() }),
  output: z.object({ notified: z.number() }),
  run: async (input) => {
    reminders.push(input);
    return { notified: input.approvers.length };
  },
});

let h: Harness;
beforeAll(async () => {
  h = await startHarness('approval-policy', { steps: [remindApprovers] });
});
afterAll(async () => {
  await stopLocalServer(h.home, 'iris-test');
  await h?.stop();
});

const quorum2: PipelineConfig['approval'] = {
  approvers: ['group:leads', 'risk@acme.com'],
  groups: { leads: ['ana@acme.com', 'bo@acme.com'] },
  quorum: 2,
  timeout: '10m',
};

async function refusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PipelineError);
  expect((err as PipelineError).code).toBe('ApprovalRefused');
  return (err as PipelineError).message;
}

async function waiting(config: Partial<PipelineConfig>) {
  const run = await h.client.start(fixturePipeline(config), { requestedBy: 'ana@acme.com' });
  await waitForStage(h, run.workflowId, 'approval');
  return run;
}

describe('approval policy', () => {
  it('quorum 2 of 3: one approval waits, a duplicate counts once, self-approval and strangers are refused, the second approval completes', async () => {
    const run = await waiting({ approval: quorum2 });
    expect(await refusal(h.client.approve(run, { by: 'ana@acme.com', comment: 'mine' }))).toMatch(
      /separation of duties: ana@acme.com requested this run/,
    );
    const first = await h.client.approve(run, { by: 'bo@acme.com', comment: 'good recall' });
    expect(first).toMatchObject({ accepted: true, via: 'update', by: 'bo@acme.com' });
    expect(await refusal(h.client.approve(run, { by: 'BO@acme.com', comment: 'again' }))).toMatch(
      /duplicate: bo@acme.com has already approved/,
    );
    expect(await refusal(h.client.approve(run, { by: 'eve@acme.com', comment: '' }))).toMatch(
      /not an approver: eve@acme.com/,
    );
    expect((await h.client.status(run)).stage).toBe('approval'); // still one of two
    await h.client.approve(run, { by: 'risk@acme.com', comment: 'bias report attached' });
    const result = await h.client.result(run);
    expect(result.approval.decision).toBe('approved');
    expect(result.approval.approvals.map((a) => a.by)).toEqual(['bo@acme.com', 'risk@acme.com']);
    expect(result.approval.attempts.map((a) => a.accepted)).toEqual([false, true, false, false, true]);

    // The registry keeps the full record, and the CLI prints it.
    const store = openObjectStore(resolveActivityOptions({ home: h.home }).store);
    const manifest = await readManifest(store, 'iris-test', result.version.version);
    expect(manifest.approval?.attempts).toHaveLength(5);
    expect(manifest.approval?.policy).toMatchObject({
      quorum: 2,
      approvers: ['ana@acme.com', 'bo@acme.com', 'risk@acme.com'],
    });
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['bin/temporal-mlops.js', 'decision', `iris-test@${result.version.version}`],
      {
        env: { ...process.env, MLOPS_HOME: h.home },
      },
    );
    expect(stdout).toMatch(/decision: approved/);
    expect(stdout).toMatch(/approved by risk@acme.com .*"bias report attached"/);
    expect(stdout).toMatch(/REFUSED \(separation of duties/);
  });

  it('a reject vetoes even after an approval', async () => {
    const run = await waiting({ approval: quorum2 });
    await h.client.approve(run, { by: 'bo@acme.com', comment: 'ok' });
    await h.client.reject(run, { by: 'risk@acme.com', comment: 'uses a protected attribute' });
    const err = await h.client.result(run).catch((e: PipelineError) => e);
    expect((err as PipelineError).code).toBe('ApprovalRejected');
    expect((err as PipelineError).message).toContain('uses a protected attribute');
    expect(await refusal(h.client.approve(run, { by: 'ana@acme.com', comment: 'late' }))).toBeTruthy();
  });

  it('timeout → escalate: the reminder fires at half time, the second list decides, the first list no longer can', async () => {
    const run = await waiting({
      approval: {
        approvers: ['bo@acme.com'],
        timeout: '3s',
        onTimeout: 'escalate',
        escalation: { approvers: ['cto@acme.com'], timeout: '5m' },
        reminder: { step: 'remind-approvers' },
      },
    });
    const escalated = await eventually(
      async () => {
        const s = await h.client.status(run);
        return s.approval.escalated ? s : undefined;
      },
      20_000,
      'escalation',
    );
    expect(escalated.approval.approvers).toEqual(['cto@acme.com']);
    expect(reminders).toContainEqual(
      expect.objectContaining({ workflowId: run.workflowId, approvers: ['bo@acme.com'] }),
    );
    expect(await refusal(h.client.approve(run, { by: 'bo@acme.com', comment: 'back from lunch' }))).toMatch(
      /approval\.escalation\.approvers/,
    );
    await h.client.approve(run, { by: 'cto@acme.com', comment: 'ship it' });
    const result = await h.client.result(run);
    expect(result.approval).toMatchObject({ decision: 'approved', escalated: { approvers: ['cto@acme.com'] } });
    expect(result.approval.remindedAt).toBeDefined();
  });

  it('timeout → escalate → nobody decides: ApprovalTimedOut', async () => {
    const run = await waiting({
      approval: {
        approvers: ['bo@acme.com'],
        timeout: '1s',
        onTimeout: 'escalate',
        escalation: { approvers: ['cto@acme.com'], timeout: '1s' },
      },
    });
    const err = await h.client.result(run).catch((e: PipelineError) => e);
    expect((err as PipelineError).code).toBe('ApprovalTimedOut');
    expect((err as PipelineError).details).toMatchObject({
      decision: 'timed-out',
      escalated: { approvers: ['cto@acme.com'] },
    });
  });

  it('keeps the UI findable: MlopsStage = "awaiting-approval" lists the waiting run, pending() shows model, version and metrics', async () => {
    expect(await h.client.hasSearchAttributes()).toBe(true);
    const run = await waiting({ approval: { approvers: ['bo@acme.com'], timeout: '10m' } });
    const listed = await eventually(
      async () => {
        const found = [];
        for await (const wf of h.temporal.workflow.list({
          query: `MlopsStage = "awaiting-approval" AND WorkflowId = "${run.workflowId}"`,
        }))
          found.push(wf);
        return found.length === 1 ? found : undefined;
      },
      15_000,
      'visibility',
    );
    expect(listed[0]!.workflowId).toBe(run.workflowId);
    const pending = await h.client.pending({ pipeline: 'iris-test' });
    const mine = pending.find((p) => p.workflowId === run.workflowId);
    expect(mine).toMatchObject({ model: 'iris-test', metrics: { auc: 0.9 } });
    expect(mine!.version).toBeGreaterThan(0);
    await h.client.reject(run, { by: 'bo@acme.com', comment: 'done testing' });
    await h.client.result(run).catch(() => undefined);
    await eventually(
      async () => {
        for await (const wf of h.temporal.workflow.list({ query: `WorkflowId = "${run.workflowId}"` })) {
          if (wf.searchAttributes.MlopsStage?.[0] === 'failed') return true;
        }
        return undefined;
      },
      15_000,
      'stage failed in visibility',
    );
  });

  it('Updates on a pipeline without approval are turned away by the validator', async () => {
    const run = await h.client.start(
      fixturePipeline({ approval: { required: false }, deploy: undefined }, { sleep: 2 }),
      { requestedBy: 'ci@acme.com' },
    );
    const err = await h.client.approve(run, { by: 'bo@acme.com', comment: '' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ApprovalRefused', message: expect.stringMatching(/does not require approval/) });
    const result = await h.client.result(run);
    expect(result.approval.decision).toBe('not-required');
  });
});
