/**
 * A team's own workflow from the building blocks (examples/custom-workflow): two candidates trained in parallel
 * on the real dev server, the better one registered with both in its lineage, approved through the same gate
 * and deployed, with the same status query as mlPipeline.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { modelsCommand } from '../../cli/models.js';
import { openObjectStore, readManifest, resolveActivityOptions, stopLocalServer } from '../../activities/index.js';
import { fixturePipeline, startHarness, waitForStage, type Harness } from '../helpers/harness.js';

const workflows = fileURLToPath(new URL('../../examples/custom-workflow/workflows.ts', import.meta.url));

let h: Harness;
beforeAll(async () => {
  // Bundles the example's workflows module (its own workflow + the SDK's) instead of the suite's bundle.
  h = await startHarness('custom', { workflowBundle: undefined, workflowsPath: workflows });
});
afterAll(async () => {
  await stopLocalServer(h.home, 'iris-test');
  await h?.stop();
});

describe('a custom workflow built from temporal-mlops/workflow', () => {
  it('trains two candidates in parallel and registers the better one, with lineage naming the winner', async () => {
    const starts = path.join(h.home, 'starts.txt');
    const run = await h.client.start(fixturePipeline({}, { starts_file: starts, sleep: 1 }), {
      requestedBy: 'ci@acme.com',
      workflowType: 'trainTwoCandidates',
      input: { candidates: [{ auc: 0.85 }, { auc: 0.95 }], metric: 'auc' },
    });

    const waiting = await waitForStage(h, run.workflowId, 'approval');
    expect(waiting.stages).toMatchObject({ ingest: 'succeeded', train: 'succeeded', gate: 'succeeded' });
    expect(waiting.training?.metrics.auc).toBe(0.95);
    // Two jobs, each with its own job key.
    const lines = (await fs.readFile(starts, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2);
    const jobKeys = lines.map((l) => l.split(' ')[1]);
    expect(new Set(jobKeys).size).toBe(2);

    // In parallel: both training activities were scheduled before either completed.
    const history = await h.temporal.workflow.getHandle(run.workflowId).fetchHistory();
    const events = history.events ?? [];
    const scheduled = events
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'trainModel')
      .map((e) => Number(e.eventId));
    const completed = events
      .filter((e) => scheduled.includes(Number(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? -1)))
      .map((e) => Number(e.eventId));
    expect(scheduled).toHaveLength(2);
    expect(completed).toHaveLength(2);
    expect(Math.max(...scheduled)).toBeLessThan(Math.min(...completed));

    await h.client.approve(run, { by: 'ana@acme.com', comment: 'the better candidate' });
    const result = await h.client.result(run);
    expect(result.approval.decision).toBe('approved');
    expect(result.deployment?.smoke?.response).toMatchObject({ predictions: [expect.any(Number)] });

    const store = openObjectStore(resolveActivityOptions({ home: h.home }).store);
    const manifest = await readManifest(store, 'iris-test', result.version.version);
    const selection = manifest.lineage.selection!;
    expect(selection.winner).toBe(1);
    expect(selection.candidates.map((c) => c.metrics.auc)).toEqual([0.85, 0.95]);
    expect(selection.candidates.map((c) => c.jobKey).sort()).toEqual([...jobKeys].sort());
    expect(selection.candidates[selection.winner]!.jobKey).toBe(manifest.lineage.training.jobKey);
    expect(selection.reason).toBe('auc 0.95 > 0.85 (candidate 0)');
    expect(manifest.lineage.params).toMatchObject({ auc: 0.95 });
    expect(manifest.metrics.auc).toBe(0.95);
    expect(manifest.approval?.approvals[0]?.by).toBe('ana@acme.com');

    // A reviewer reads the choice in one command.
    const printed: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((text: string) => void printed.push(text));
    try {
      expect(await modelsCommand(store, ['lineage', `iris-test@${result.version.version}`], { json: false })).toBe(0);
    } finally {
      log.mockRestore();
    }
    const text = printed.join('\n');
    expect(text).toContain('candidates: 2, winner 1 by auc: auc 0.95 > 0.85 (candidate 0)');
    expect(text).toMatch(new RegExp(`\\* 1  job ${manifest.lineage.training.jobKey} `));
  });
});
