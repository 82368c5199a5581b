/**
 * The vertex() backend against the Vertex stand-in (test/vertex-standin: v1 REST, requests checked against the
 * official aiplatform v1 schema) and the GCS emulator: exactly one job per step, reattach, back-off, preemption,
 * cancellation, and a worker SIGKILLed while its job runs.
 */
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { vertex } from '../../sdk/factories.js';
import type { PipelineError } from '../../sdk/errors.js';
import { workerProcesses } from '../helpers/worker-processes.js';
import { createTestBucket } from '../helpers/gcs.js';
import { eventually, fixturePipeline, startHarness, type Harness } from '../helpers/harness.js';
import { schemaProblems, startVertexStandIn, useVertexStandIn, type VertexStandIn } from '../vertex-standin/server.js';

let h: Harness;
let standIn: VertexStandIn;
let bucket: string;

beforeAll(async () => {
  standIn = await startVertexStandIn(inject('gcsEndpoint'));
  useVertexStandIn(standIn, { MLOPS_VERTEX_QUOTA_BACKOFF_MS: '1000' });
  bucket = await createTestBucket('mlops-vertex');
  h = await startHarness('vertex');
});
afterAll(async () => {
  await h?.stop();
  await standIn?.close();
});

function pipeline(name: string, overrides: Partial<Parameters<typeof vertex>[0]> = {}) {
  const base = fixturePipeline({}, { auc: 0.93 });
  return definePipeline({
    ...base.spec,
    name,
    model: undefined,
    deploy: undefined,
    approval: { required: false },
    register: { store: `gs://${bucket}/registry`, description: '' },
    train: {
      ...base.spec.train,
      heartbeatTimeout: '4s',
      backend: vertex({
        project: 'acme-ml',
        region: 'us-central1',
        image: 'us-docker.pkg.dev/acme/train:1',
        accelerator: { type: 'NVIDIA_L4', count: 1 },
        machineType: 'g2-standard-8',
        ...overrides,
      }),
    },
  });
}

const jobsOf = (name: string) =>
  standIn.jobs.filter((j) => String(j.body.labels?.['mlops-job-key']).startsWith(`mlops-${name}-`));

describe('vertex() backend', () => {
  it('the stand-in enforces the official CustomJob schema', () => {
    const require = createRequire(import.meta.url);
    const root = protobuf.Root.fromJSON(
      require('@google-cloud/aiplatform/build/protos/protos.json') as protobuf.INamespace,
    );
    const type = root.lookupType('google.cloud.aiplatform.v1.CustomJob');
    const problems = schemaProblems(
      {
        displayName: 'x',
        jobSpec: {
          workerPoolSpecs: [
            { machineSpec: { acceleratorType: 'NVIDIA_GTX_1080', acceleratorCount: 'one' }, replicaCount: 1.5 },
          ],
          scheduling: { timeout: '1 hour' },
          gpu: true,
        },
      },
      type,
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/acceleratorType: "NVIDIA_GTX_1080" is not a AcceleratorType/),
        expect.stringMatching(/acceleratorCount: expected an integer/),
        expect.stringMatching(/replicaCount: expected an int64/),
        expect.stringMatching(/scheduling.timeout: a Duration is a string like "3600s"/),
        expect.stringMatching(/jobSpec.gpu: unknown field of google.cloud.aiplatform.v1.CustomJobSpec/),
      ]),
    );
  });

  it('creates one GPU CustomJob with the right spec, polls it to success and registers its model', async () => {
    const run = await h.client.start(pipeline('vx-ok', { scheduling: 'spot', labels: { team: 'risk' } }), {
      requestedBy: 'ci@acme.com',
    });
    const result = await h.client.result(run);
    expect(standIn.rejected).toEqual([]);
    const [job] = jobsOf('vx-ok');
    expect(jobsOf('vx-ok')).toHaveLength(1);
    const spec = job!.body.jobSpec;
    expect(spec.workerPoolSpecs[0]).toMatchObject({
      machineSpec: { machineType: 'g2-standard-8', acceleratorType: 'NVIDIA_L4', acceleratorCount: 1 },
      containerSpec: { imageUri: 'us-docker.pkg.dev/acme/train:1' },
    });
    expect(spec.scheduling).toMatchObject({ strategy: 'SPOT', timeout: '604800s' });
    expect(spec.baseOutputDirectory.outputUriPrefix).toBe(`gs://${bucket}/registry/jobs/${result.training.jobKey}/`);
    expect(job!.body.labels).toMatchObject({ team: 'risk', 'mlops-job-key': result.training.jobKey });
    const env = Object.fromEntries(
      spec.workerPoolSpecs[0].containerSpec.env.map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    expect(env.MLOPS_DATA_URI).toBe(result.snapshot.uri);
    expect(env).not.toHaveProperty('AIP_MODEL_DIR'); // Vertex sets it from baseOutputDirectory
    expect(result.training).toMatchObject({ backend: 'vertex', metrics: { auc: 0.93 }, reattached: false });
    expect(result.version.manifestUri).toMatch(/^gs:\/\//);
  });

  it('a multi-node CustomJob: chief + 2 workers, accepted by the official schema check, one job', async () => {
    const run = await h.client.start(
      pipeline('vx-pools', {
        accelerator: undefined,
        workerPools: [
          { machineType: 'a2-highgpu-8g', accelerator: { type: 'NVIDIA_TESLA_A100', count: 8 } },
          { machineType: 'a2-highgpu-8g', accelerator: { type: 'NVIDIA_TESLA_A100', count: 8 }, replicaCount: 2 },
        ],
      }),
      { requestedBy: 'ci@acme.com' },
    );
    const result = await h.client.result(run);
    expect(standIn.rejected).toEqual([]);
    const jobs = jobsOf('vx-pools');
    expect(jobs).toHaveLength(1);
    const pools = jobs[0]!.body.jobSpec.workerPoolSpecs as Record<string, unknown>[];
    expect(pools.map((p) => p.replicaCount)).toEqual(['1', '2']);
    for (const pool of pools) {
      expect(pool.machineSpec).toEqual({
        machineType: 'a2-highgpu-8g',
        acceleratorType: 'NVIDIA_TESLA_A100',
        acceleratorCount: 8,
      });
      expect(pool.containerSpec).toEqual(pools[0]!.containerSpec); // every replica runs the same contract
    }
    expect(result.training).toMatchObject({ backend: 'vertex', metrics: { auc: 0.93 } });
  });

  it('429 on create backs off (QuotaExhausted) and then succeeds with one job', async () => {
    standIn.faults.quotaFailures = 1;
    const run = await h.client.start(pipeline('vx-quota'), { requestedBy: 'ci@acme.com' });
    await h.client.result(run);
    expect(jobsOf('vx-quota')).toHaveLength(1);
    const history = await h.client.handle(run).fetchHistory();
    const failure = history.events!.find(
      (e) => e.activityTaskStartedEventAttributes?.lastFailure?.applicationFailureInfo?.type === 'QuotaExhausted',
    );
    expect(failure).toBeDefined();
  });

  it('a create whose response is lost is found by its label: still exactly one job', async () => {
    standIn.faults.loseCreateResponses = 1;
    standIn.faults.unavailableGets = 2;
    const run = await h.client.start(pipeline('vx-lost'), { requestedBy: 'ci@acme.com' });
    const result = await h.client.result(run);
    expect(jobsOf('vx-lost')).toHaveLength(1);
    expect(result.training.reattached).toBe(true);
  });

  it('spot preemption starts the next job from the checkpoint, on its own budget', async () => {
    standIn.faults.preemptions = 1;
    const run = await h.client.start(pipeline('vx-preempt', { scheduling: 'spot', spotFallbackAfter: 1 }), {
      requestedBy: 'ci@acme.com',
    });
    const result = await h.client.result(run);
    const jobs = jobsOf('vx-preempt');
    expect(jobs.map((j) => standIn.stateOf(j))).toEqual(['JOB_STATE_FAILED', 'JOB_STATE_SUCCEEDED']);
    expect(jobs[1]!.body.jobSpec.scheduling.strategy).toBe('STANDARD'); // fell back to on-demand after 1 preemption
    expect(result.training.metrics.resumed_from_checkpoint).toBe(1);
    const history = await h.client.handle(run).fetchHistory();
    const attempts = history
      .events!.filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(Math.max(...attempts.map((a) => a ?? 1))).toBe(1); // the preemption did not spend an activity retry
  });

  it('cancelling the run cancels the remote job within 30 s', async () => {
    standIn.runMs = 60_000;
    try {
      const run = await h.client.start(pipeline('vx-cancel'), { requestedBy: 'ci@acme.com' });
      await eventually(
        async () =>
          jobsOf('vx-cancel')[0] && standIn.stateOf(jobsOf('vx-cancel')[0]!) === 'JOB_STATE_RUNNING' ? true : undefined,
        30_000,
        'job running',
      );
      const started = Date.now();
      await h.client.cancel(run);
      await eventually(
        async () => (standIn.stateOf(jobsOf('vx-cancel')[0]!) === 'JOB_STATE_CANCELLED' ? true : undefined),
        30_000,
        'job cancelled',
      );
      expect(Date.now() - started).toBeLessThan(30_000);
      const err = await h.client.result(run).catch((e: unknown) => e);
      expect((err as PipelineError).code).toBe('PipelineCancelled');
    } finally {
      standIn.runMs = 1500;
    }
  });

  it('a worker SIGKILLed while its job runs: the new worker reattaches, exactly one job, the run completes', async () => {
    standIn.runMs = 8000;
    const workers = workerProcesses('vertex-crash', h.home);
    const startWorker = () => workers.start();
    try {
      const first = await startWorker();
      const { PipelineClient } = await import('../../sdk/client.js');
      const client = await PipelineClient.connect({ client: h.temporal, taskQueue: 'vertex-crash' });
      const run = await client.start(pipeline('vx-crash'), { requestedBy: 'ci@acme.com' });
      await eventually(
        async () =>
          jobsOf('vx-crash')[0] && standIn.stateOf(jobsOf('vx-crash')[0]!) === 'JOB_STATE_RUNNING' ? true : undefined,
        30_000,
        'job running',
      );
      first.kill('SIGKILL');
      await startWorker();
      const result = await client.result(run);
      expect(jobsOf('vx-crash')).toHaveLength(1);
      expect(result.training.reattached).toBe(true);
    } finally {
      standIn.runMs = 1500;
      workers.killAll();
    }
  });
});
