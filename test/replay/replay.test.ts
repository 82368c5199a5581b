/**
 * Replay: recorded `mlPipeline` histories must replay on the current workflow code (a change that breaks
 * determinism fails here), and fresh histories from this run must replay too.
 * `RECORD_HISTORIES=1 npx vitest run test/replay` re-records the committed histories.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { approveSignal } from '../../workflows/messages.js';
import { HISTORIES, historyJson as historyFromServer } from '../helpers/histories.js';
import { stopLocalServer } from '../../activities/deploy/local/deploy.js';
import { fixturePipeline, startHarness, waitForStage, type Harness } from '../helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('replay');
});
afterAll(async () => {
  await stopLocalServer(h.home, 'iris-test');
  await h?.stop();
});

const historyJson = (workflowId: string) => historyFromServer(inject('temporalAddress'), workflowId);

async function replay(histories: { workflowId: string; history: unknown }[]) {
  const results = [];
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { codePath: inject('workflowBundlePath') } },
    histories,
  )) {
    results.push(result);
  }
  return results;
}

describe('mlPipeline replay', () => {
  it('fresh histories of every outcome replay on the current code', async () => {
    const scenarios: [string, () => Promise<string>][] = [
      [
        'approved-and-deployed',
        async () => {
          const r = await h.client.start(fixturePipeline(), { requestedBy: 'ci@acme.com' });
          await waitForStage(h, r.workflowId, 'approval');
          await h.client.handle(r).signal(approveSignal, { by: 'nobody' });
          await h.client.approve(r, { by: 'ana@acme.com', comment: 'ok' });
          await h.client.result(r);
          return r.workflowId;
        },
      ],
      [
        'rejected',
        async () => {
          const r = await h.client.start(fixturePipeline(), { requestedBy: 'ci@acme.com' });
          await waitForStage(h, r.workflowId, 'approval');
          await h.client.reject(r, { by: 'bo@acme.com', comment: 'no' });
          await h.client.result(r).catch(() => undefined);
          return r.workflowId;
        },
      ],
      [
        'gate-failed',
        async () => {
          const r = await h.client.start(fixturePipeline({}, { auc: 0.5 }), { requestedBy: 'ci@acme.com' });
          await h.client.result(r).catch(() => undefined);
          return r.workflowId;
        },
      ],
    ];
    const fresh = [];
    for (const [name, scenario] of scenarios) {
      const workflowId = await scenario();
      const history = await historyJson(workflowId);
      fresh.push({ name, workflowId, history });
      if (process.env.RECORD_HISTORIES === '1') {
        await fs.writeFile(path.join(HISTORIES, `ml-pipeline-${name}.json`), JSON.stringify(history, null, 1));
      }
    }
    const results = await replay(fresh);
    expect(results).toHaveLength(3);
    for (const r of results) expect(r.error, `${r.workflowId}: ${String(r.error)}`).toBeUndefined();
  });

  it('committed histories replay on the current code', async () => {
    const files = (await fs.readdir(HISTORIES)).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(5); // mlPipeline outcomes, monitorModel, watchNewData
    const histories = await Promise.all(
      files.map(async (f) => ({
        workflowId: f,
        history: JSON.parse(await fs.readFile(path.join(HISTORIES, f), 'utf8')) as unknown,
      })),
    );
    const results = await replay(histories);
    expect(results).toHaveLength(files.length);
    for (const r of results) expect(r.error, `${r.workflowId}: ${String(r.error)}`).toBeUndefined();
  });
});
