/**
 * Champion/challenger on a gs:// registry (fake-gcs-server) with a gs:// data source: the first model becomes
 * champion; a worse candidate on the same snapshot fails the gate with both sides in the report; a candidate on
 * new data is compared with the champion re-evaluated on that data.
 */
import path from 'node:path';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentLog, openObjectStore, readManifest, stopLocalServer } from '../../activities/index.js';
import type { PipelineError } from '../../sdk/errors.js';
import type { ChampionComparison, GateReport } from '../../sdk/run-types.js';
import type { PipelineConfig } from '../../sdk/spec/pipeline.js';
import { FIXTURES, fixturePipeline, startHarness, waitForStage, type Harness } from '../helpers/harness.js';

let h: Harness;
let bucket: string;
let store: string;
beforeAll(async () => {
  h = await startHarness('champion');
  bucket = `mlops-champion-${Date.now()}`;
  const storage = new Storage({ apiEndpoint: process.env.MLOPS_GCS_API_ENDPOINT, projectId: 'local' });
  await storage.createBucket(bucket);
  await storage.bucket(bucket).upload(path.join(FIXTURES, 'iris-mini.csv'), { destination: 'raw/iris.csv' });
  await storage
    .bucket(bucket)
    .file('raw/iris-v2.csv')
    .save(
      'sepal_length,sepal_width,petal_length,petal_width,species\n5.0,3.4,1.5,0.2,setosa\n6.9,3.1,4.9,1.5,versicolor\n6.5,3.0,5.8,2.2,virginica\n',
    );
  store = `gs://${bucket}/registry`;
});
afterAll(async () => {
  await stopLocalServer(h.home, 'iris-test');
  await h?.stop();
});

function pipeline(source: string, auc: number, champion?: NonNullable<PipelineConfig['gate']>['champion']) {
  const base = fixturePipeline({}, { auc });
  return fixturePipeline(
    {
      ingest: { ...base.spec.ingest, source },
      register: { store, description: '' },
      gate: { metrics: { auc: { min: 0.5 } }, ...(champion ? { champion } : {}) },
    },
    { auc },
  );
}

async function approveAndFinish(run: { workflowId: string }) {
  await waitForStage(h, run.workflowId, 'approval');
  await h.client.approve(run.workflowId, { by: 'ana@acme.com', comment: 'ok' });
  return h.client.result(run.workflowId);
}

describe('champion/challenger gate on gs://', () => {
  it('the first model passes (no champion yet), deploys from gs:// and becomes champion', async () => {
    const first = await h.client.start(
      pipeline(`gs://${bucket}/raw/iris.csv`, 0.9, { metrics: { auc: { minDelta: 0 } } }),
      { requestedBy: 'ci@acme.com' },
    );
    const result = await approveAndFinish(first);
    expect(result.gate.champion).toMatchObject({ basis: 'no-champion', passed: true, version: null });
    expect(result.snapshot.uri).toMatch(
      new RegExp(`^gs://${bucket}/registry/snapshots/iris-test/[0-9a-f]{64}/data.csv$`),
    );
    expect(result.version.manifestUri).toBe(`gs://${bucket}/registry/models/iris-test/versions/1/manifest.json`);
    const gcs = openObjectStore(store);
    const manifest = await readManifest(gcs, 'iris-test', 1);
    expect(manifest.lineage.training.code?.command[0]).toBe('python3');
    expect(manifest.lineage.training.code?.gitCommit).toMatch(/^[0-9a-f]{40}$/);
    expect((await deploymentLog(gcs, 'iris-test', 'champion')).map((e) => [e.action, e.to])).toEqual([['deploy', 1]]);
  });

  it('a worse candidate on the same snapshot fails the gate with both sides in the report', async () => {
    const run = await h.client.start(
      pipeline(`gs://${bucket}/raw/iris.csv`, 0.85, { metrics: { auc: { minDelta: 0 } } }),
      { requestedBy: 'ci@acme.com' },
    );
    const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('GateFailed');
    expect(err.message).toMatch(/does not beat iris-test v1 \(champion\): auc: candidate 0.85 vs champion 0.9/);
    const champion = (err.details as GateReport).champion as ChampionComparison;
    expect(champion).toMatchObject({ version: 1, basis: 'same-snapshot', passed: false });
    expect(champion.checks[0]).toMatchObject({ metric: 'auc', candidate: 0.85, champion: 0.9, passed: false });
    expect(champion.checks[0]!.delta).toBeCloseTo(-0.05, 10);
  });

  it('on new data the champion is re-evaluated on the candidate snapshot; without an evaluator the gate fails closed', async () => {
    const source = `gs://${bucket}/raw/iris-v2.csv`;
    const closed = await h.client.start(pipeline(source, 0.95, { metrics: { auc: { minDelta: 0 } } }), {
      requestedBy: 'ci@acme.com',
    });
    const err = (await h.client.result(closed).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('GateFailed');
    expect((err.details as GateReport).champion).toMatchObject({ basis: 'different-snapshot', passed: false });
    expect(err.message).toMatch(/configure gate.champion.evaluate/);

    const evaluate = { command: ['python3', path.join(FIXTURES, 'eval_fixture.py')] };
    const run = await h.client.start(pipeline(source, 0.82, { metrics: { auc: { minDelta: 0.01 } }, evaluate }), {
      requestedBy: 'ci@acme.com',
    });
    const status = await waitForStage(h, run.workflowId, 'approval');
    expect(status.gate?.champion).toMatchObject({ version: 1, basis: 're-evaluated', passed: true });
    expect(status.gate?.champion?.checks[0]).toMatchObject({ candidate: 0.82, champion: 0.8 }); // EVAL_AUC default
    await h.client.reject(run, { by: 'ana@acme.com', comment: 'enough' });
    await h.client.result(run).catch(() => undefined);
  });
});
