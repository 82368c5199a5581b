/** The shipped example, for real: scikit-learn training, a human decision through the CLI, a served model. */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stopLocalServer } from '../../activities/index.js';
import { breastCancerPipeline, PYTHON } from '../../examples/breast-cancer/pipeline.js';
import { startHarness, waitForStage, type Harness } from '../helpers/harness.js';

const run = promisify(execFile);
let h: Harness;
let dataFile: string;

beforeAll(async () => {
  h = await startHarness('example');
  dataFile = path.join(h.home, 'breast_cancer.csv');
  await run(PYTHON, ['examples/breast-cancer/export_dataset.py', dataFile]);
});
afterAll(async () => {
  await stopLocalServer(h.home, 'breast-cancer-classifier');
  await h?.stop();
});

function cli(...args: string[]) {
  return run(process.execPath, ['bin/temporal-mlops.js', ...args, '--address', inject('temporalAddress')]).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}

describe('the breast-cancer example', () => {
  it('trains with scikit-learn, passes the gate, is approved through the CLI and serves predictions', async () => {
    const pipeline = breastCancerPipeline(dataFile, ['ml-lead@example.com']);
    const started = await h.client.start(pipeline, { requestedBy: 'ci@example.com' });
    const waiting = await waitForStage(h, started.workflowId, 'approval', 120_000);
    expect(waiting.training!.metrics.auc).toBeGreaterThan(0.95);
    expect(waiting.snapshot!.rows).toBe(569);

    const refused = await cli('approve', started.workflowId, '--by', 'intern@example.com', '--comment', 'yolo');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('not an approver: intern@example.com');

    const shown = await cli('show', started.workflowId);
    expect(shown.stdout).toMatch(/stage: approval/);
    expect(shown.stdout).toMatch(/REFUSED \(not an approver/);

    const approved = await cli(
      'approve',
      started.workflowId,
      '--by',
      'ml-lead@example.com',
      '--comment',
      'AUC and recall above the bar',
    );
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain('accepted');

    const result = await h.client.result(started);
    const features = JSON.parse(
      await fs.readFile(path.join(new URL(result.version.uri).pathname, 'artifacts', 'features.json'), 'utf8'),
    ) as string[];
    expect(features).toHaveLength(30);
    const res = await fetch(result.deployment!.predictUrl, {
      method: 'POST',
      body: JSON.stringify({ instances: [result.snapshot.sampleFeatures] }),
    });
    const body = (await res.json()) as { predictions: { label: number; malignant_probability: number }[] };
    expect(body.predictions[0]!.label).toBe(1); // the first row of the dataset is a malignant tumour
    expect(body.predictions[0]!.malignant_probability).toBeGreaterThan(0.5);
  });
});
