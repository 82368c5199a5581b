/**
 * `train.sweep` on the kubernetes() backend against the real control plane (kube-apiserver + Job controller +
 * scheduler, kwok as the kubelet; scripts/kube.ts) and the GCS emulator: 12 ASHA trials, 3 at a time, each a Job
 * whose simulated container reports its metric into metrics.jsonl (test/kube/simulated-container.ts). The winner and
 * ASHA's stops against those reports, the stopped trials' Jobs deleted; cancelling the run deletes every trial's Job;
 * a worker SIGKILLed mid-sweep leaves exactly one Job (one pod) per trial.
 */
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openObjectStore, readManifest } from '../../activities/index.js';
import { definePipeline } from '../../sdk/define-pipeline.js';
import type { PipelineError } from '../../sdk/errors.js';
import { kubernetes } from '../../sdk/factories.js';
import type { CandidateSelection } from '../../sdk/run-types.js';
import type { SweepConfig } from '../../sdk/spec/sweep.js';
import { startKubeCluster, type KubeCluster } from '../../scripts/kube.js';
import { createTestBucket } from '../helpers/gcs.js';
import { eventually, fixturePipeline, startHarness, type Harness } from '../helpers/harness.js';
import { checkSweep } from '../helpers/sweep.js';
import { workerProcesses } from '../helpers/worker-processes.js';
import { simulateTrainingContainers, type SimulatedContainers } from '../kube/simulated-container.js';

let h: Harness;
let cluster: KubeCluster;
let containers: SimulatedContainers;
let batch: BatchV1Api;
let core: CoreV1Api;
let bucket: string;
let storage: Storage;

beforeAll(async () => {
  cluster = await startKubeCluster({ name: `mlops-sweep-${process.pid}` });
  process.env.KUBECONFIG = cluster.kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  batch = kc.makeApiClient(BatchV1Api);
  core = kc.makeApiClient(CoreV1Api);
  const resources = { cpu: '32', memory: '128Gi', pods: '110' };
  await core.createNode({
    body: {
      metadata: { name: 'cpu-0', annotations: { 'kwok.x-k8s.io/node': 'fake' }, labels: { type: 'kwok' } },
      status: { allocatable: resources, capacity: resources },
    },
  });
  bucket = await createTestBucket('mlops-sweep');
  storage = new Storage({ apiEndpoint: inject('gcsEndpoint'), projectId: 'local' });
  containers = simulateTrainingContainers(cluster.kubeconfig, inject('gcsEndpoint'));
  h = await startHarness('sweep-kubernetes');
}, 300_000);
afterAll(async () => {
  containers?.stop();
  await h?.stop();
  await cluster?.stop();
});

const ASHA: SweepConfig = {
  method: 'asha',
  metric: 'auc',
  trials: 12,
  parallelism: 3,
  seed: 5,
  space: { auc: { min: 0.6, max: 0.99 } },
  asha: { minSteps: 1, reductionFactor: 3, maxSteps: 8 },
  progressPoll: '500ms',
};

function pipeline(name: string, runFor: string, params: Record<string, number>, sweep: SweepConfig = ASHA) {
  const base = fixturePipeline();
  return definePipeline({
    ...base.spec,
    name,
    model: undefined,
    deploy: undefined,
    approval: { required: false },
    register: { store: `gs://${bucket}/registry`, description: '' },
    gate: { metrics: { auc: { min: 0.5 } } },
    train: {
      ...base.spec.train,
      heartbeatTimeout: '4s',
      params,
      sweep,
      backend: kubernetes({
        image: 'us-docker.pkg.dev/acme/train:1',
        command: ['python', 'train.py'],
        cpu: '1',
        annotations: { 'mlops.test/run-for': runFor },
      }),
    },
  });
}

const jobsOf = async (name: string): Promise<V1Job[]> =>
  (await batch.listNamespacedJob({ namespace: 'default', labelSelector: `mlops.temporal.io/pipeline=${name}` })).items;
const podsOfPipeline = async (name: string) =>
  (await core.listNamespacedPod({ namespace: 'default', labelSelector: `mlops.temporal.io/pipeline=${name}` })).items;

const gcsText = async (uri: string) => {
  const m = /^gs:\/\/([^/]+)\/(.*)$/.exec(uri)!;
  const file = storage.bucket(m[1]!).file(m[2]!);
  const [exists] = await file.exists();
  return exists ? (await file.download())[0].toString('utf8') : undefined;
};

const outputsIn = (jobKey: string) => async () => {
  const model = `gs://${bucket}/registry/jobs/${jobKey}/model/`;
  const metrics = await gcsText(`${model}metrics.json`);
  return {
    reports: (await gcsText(`${model}metrics.jsonl`)) ?? '',
    ...(metrics ? { metrics: JSON.parse(metrics) as Record<string, number> } : {}),
  };
};

/** Pods the simulated containers ran, counted per Job (a pod's name is its Job's name and a suffix). */
const podsRanPerJob = (jobNames: string[]) =>
  jobNames.map((job) => containers.ran.filter((pod) => pod.replace(/-[a-z0-9]{5}$/, '') === job).length);

describe('train.sweep on the kubernetes() backend', () => {
  it('12 ASHA trials, 3 Jobs at a time: the best completed trial wins, stopped trials lose their Job', async () => {
    const definition = pipeline('k8s-sweep', '8s', { report_steps: 8, step_seconds: 0.6 });
    let mostJobs = 0;
    const run = await h.client.start(definition, { requestedBy: 'ci@acme.com' });
    const watching = (async () => {
      for (;;) {
        const active = (await jobsOf('k8s-sweep')).filter((j) => (j.status?.active ?? 0) > 0).length;
        mostJobs = Math.max(mostJobs, active);
        const s = await h.client.status(run).catch(() => undefined);
        if (s?.stage === 'done' || s?.stage === 'failed') return;
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    const started = Date.now();
    const result = await h.client.result(run);
    const took = Date.now() - started;
    await watching;

    const store = openObjectStore(`gs://${bucket}/registry`);
    const manifest = await readManifest(store, 'k8s-sweep', result.version.version);
    const selection = (manifest.lineage as { selection: CandidateSelection }).selection;
    const stopped = await checkSweep(definition.spec.train.sweep!, selection, (key) => outputsIn(key)());
    console.log(`k8s-sweep: ${took} ms; stopped ${stopped.length} of 12; ${selection.reason}`);
    expect(stopped.length).toBeGreaterThanOrEqual(3);
    expect(result.training.jobKey).toBe(selection.candidates[selection.winner]!.jobKey);

    // The API server keeps the Jobs of trials that ran to their end; every Job stopped while it ran is gone.
    const status = await h.client.status(run);
    const remaining = new Set((await jobsOf('k8s-sweep')).map((j) => j.metadata!.name!));
    for (const t of status.sweep!.trials) {
      expect(t.jobId).toBe(`default/${t.jobKey}`);
      expect(remaining.has(t.jobKey), `trial ${t.index} (${t.state})`).toBe(!(t.state === 'stopped' && t.jobCancelled));
    }
    expect(status.sweep!.trials.some((t) => t.state === 'stopped' && t.jobCancelled)).toBe(true);
    expect(podsRanPerJob(status.sweep!.trials.map((t) => t.jobKey))).toEqual(Array(12).fill(1));
    expect(mostJobs).toBeLessThanOrEqual(3);
  });

  it('cancelling the run deletes every trial Job and its pods', async () => {
    const run = await h.client.start(
      pipeline(
        'k8s-sweep-cancel',
        '300s',
        { report_steps: 2, step_seconds: 120 },
        { method: 'grid', metric: 'auc', parallelism: 3, space: { auc: { values: [0.7, 0.8, 0.9, 0.95] } } },
      ),
      { requestedBy: 'ci@acme.com' },
    );
    await eventually(
      async () => ((await podsOfPipeline('k8s-sweep-cancel')).length === 3 ? true : undefined),
      60_000,
      'three trial pods',
    );
    await h.client.cancel(run);
    await eventually(
      async () =>
        (await jobsOf('k8s-sweep-cancel')).length === 0 && (await podsOfPipeline('k8s-sweep-cancel')).length === 0
          ? true
          : undefined,
      30_000,
      'every trial Job and pod deleted',
    );
    const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('PipelineCancelled');
  });

  it('a worker SIGKILLed mid-sweep: exactly one Job and one pod per trial, the sweep completes', async () => {
    const queue = `k8s-sweep-crash-${Date.now()}`;
    const workers = workerProcesses(queue, h.home);
    try {
      const first = await workers.start();
      const { PipelineClient } = await import('../../sdk/client.js');
      const client = await PipelineClient.connect({ client: h.temporal, taskQueue: queue });
      const run = await client.start(
        pipeline(
          'k8s-sweep-crash',
          '6s',
          { report_steps: 6, step_seconds: 0.6 },
          { ...ASHA, trials: 6, seed: 9, asha: { minSteps: 2, reductionFactor: 2, maxSteps: 6 } },
        ),
        { requestedBy: 'ci@acme.com' },
      );
      await eventually(
        async () => ((await jobsOf('k8s-sweep-crash')).length >= 3 ? true : undefined),
        60_000,
        'three trial Jobs',
      );
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      await workers.start();
      await client.result(run);
      const status = await client.status(run);
      const keys = status.sweep!.trials.map((t) => t.jobKey);
      expect(new Set(keys).size).toBe(6);
      expect(podsRanPerJob(keys)).toEqual(Array(6).fill(1));
      for (const job of await jobsOf('k8s-sweep-crash')) expect(keys).toContain(job.metadata!.name);
      // The kill really hit running trials: their activities were retried on the new worker, which reattached.
      const events = (await client.handle(run).fetchHistory()).events!;
      const types = new Map(
        events
          .filter((e) => e.activityTaskScheduledEventAttributes)
          .map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name]),
      );
      const trialAttempts = events
        .filter((e) => types.get(String(e.activityTaskStartedEventAttributes?.scheduledEventId)) === 'trainModel')
        .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
      expect(Math.max(...trialAttempts)).toBeGreaterThanOrEqual(2);
    } finally {
      workers.killAll();
    }
  });
});
