/**
 * The example's sweep, for real: 8 ASHA trials of scikit-learn gradient boosting, each reporting its holdout AUC
 * as the ensemble grows; the losing trials are stopped and the best completed one is gated and registered.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openObjectStore, readManifest, resolveActivityOptions } from '../../activities/index.js';
import { breastCancerSweep, PYTHON } from '../../examples/breast-cancer/pipeline.js';
import { definePipeline } from '../../sdk/define-pipeline.js';
import type { CandidateSelection } from '../../sdk/run-types.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { checkSweep } from '../helpers/sweep.js';

const run = promisify(execFile);
let h: Harness;
let dataFile: string;

beforeAll(async () => {
  h = await startHarness('example-sweep');
  dataFile = path.join(h.home, 'breast_cancer.csv');
  await run(PYTHON, ['examples/breast-cancer/export_dataset.py', dataFile]);
});
afterAll(async () => {
  await h?.stop();
});

describe('the breast-cancer example sweep', () => {
  it('8 ASHA trials over learning rate and depth: losers stopped by the rule, the best AUC registered', async () => {
    const example = breastCancerSweep(dataFile).spec;
    const pipeline = definePipeline({ ...example, deploy: undefined, approval: { required: false } });
    const started = Date.now();
    const result = await h.client.result(await h.client.start(pipeline, { requestedBy: 'ci@example.com' }));
    const took = Date.now() - started;

    const store = openObjectStore(resolveActivityOptions({ home: h.home }).store);
    const manifest = await readManifest(store, 'breast-cancer-classifier', result.version.version);
    const selection = (manifest.lineage as { selection: CandidateSelection }).selection;
    const stopped = await checkSweep(pipeline.spec.train.sweep!, selection, async (jobKey) => {
      const model = path.join(h.home, 'jobs', jobKey, 'model');
      const metrics = await fs.readFile(path.join(model, 'metrics.json'), 'utf8').catch(() => undefined);
      return {
        reports: await fs.readFile(path.join(model, 'metrics.jsonl'), 'utf8').catch(() => ''),
        ...(metrics ? { metrics: JSON.parse(metrics) as Record<string, number> } : {}),
      };
    });
    console.log(`example sweep: ${took} ms, stopped ${stopped.length} of 8; ${selection.reason}`);
    expect(stopped.length).toBeGreaterThanOrEqual(1);
    const winner = selection.candidates[selection.winner]!;
    expect(winner.reports!.map((r) => r.step)).toEqual([
      10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150,
    ]);
    expect(result.gate.passed).toBe(true);
    expect(manifest.lineage.params).toMatchObject({
      learning_rate: winner.params.learning_rate,
      max_depth: winner.params.max_depth,
      n_estimators: 150,
    });
  });
});
