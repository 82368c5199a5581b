import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest, openObjectStore, stopLocalServer } from '../../activities/index.js';
import { resolveActivityOptions } from '../../activities/index.js';
import { PipelineError } from '../../sdk/errors.js';
import { fixturePipeline, startHarness, waitForStage, type Harness } from '../helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('pipeline');
});
afterAll(async () => {
  await stopLocalServer(h.home, 'iris-test');
  await h?.stop();
});

describe('mlPipeline on the real dev server', () => {
  it('runs ingest → train → gate → register → approval → deploy, and the model answers', async () => {
    const pipeline = fixturePipeline();
    const run = await h.client.start(pipeline, { requestedBy: 'ci@acme.com' });
    const waiting = await waitForStage(h, run.workflowId, 'approval');
    expect(waiting.stages).toMatchObject({
      ingest: 'succeeded',
      train: 'succeeded',
      gate: 'succeeded',
      register: 'succeeded',
      approval: 'running',
    });
    expect(waiting.snapshot?.rows).toBe(6);
    expect(waiting.training?.metrics.auc).toBe(0.9);

    await h.client.approve(run, { by: 'ana@acme.com', comment: 'AUC 0.9 on the holdout' });
    const result = await h.client.result(run);

    expect(result.approval.decision).toBe('approved');
    expect(result.approval.approvals.map((a) => a.by)).toEqual(['ana@acme.com']);
    expect(result.deployment?.smoke?.response).toMatchObject({ predictions: [expect.any(Number)] });
    const res = await fetch(result.deployment!.predictUrl, {
      method: 'POST',
      body: JSON.stringify({ instances: [{ sepal_length: 1, sepal_width: 1, petal_length: 1, petal_width: 1 }] }),
    });
    expect(await res.json()).toMatchObject({ predictions: [1] });

    const store = openObjectStore(resolveActivityOptions({ home: h.home }).store);
    const manifest = await readManifest(store, 'iris-test', result.version.version);
    expect(manifest.status).toBe('approved');
    expect(manifest.lineage.snapshot.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.lineage.workflowId).toBe(run.workflowId);
    expect(manifest.approval?.approvals[0]?.by).toBe('ana@acme.com');
    expect(manifest.deployments).toHaveLength(1);
    expect(manifest.artifacts.map((a) => a.path).sort()).toEqual(['metrics.json', 'model.json', 'predictions.jsonl']);
    expect(result.training.predictions).toEqual({ file: 'predictions.jsonl', rows: 6 });

    // The approval record is written while the deploy starts: both scheduled by the Signal's workflow task.
    const events = (await h.client.handle(run).fetchHistory()).events ?? [];
    const scheduledIn = (activity: string) => {
      const i = events.findIndex((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity);
      return Number(events[i]?.activityTaskScheduledEventAttributes?.workflowTaskCompletedEventId);
    };
    expect(scheduledIn('deployModel')).toBe(scheduledIn('recordApproval'));
  });

  it('fails with GateFailed and the report when a metric misses its threshold', async () => {
    const run = await h.client.start(fixturePipeline({}, { auc: 0.7 }), { requestedBy: 'ci@acme.com' });
    const err = await h.client.result(run).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect((err as PipelineError).code).toBe('GateFailed');
    expect((err as PipelineError).details).toMatchObject({
      passed: false,
      checks: [{ metric: 'auc', value: 0.7, passed: false }],
    });
    const status = await h.client.status(run);
    expect(status.stages.register).toBe('pending');
  });
});
