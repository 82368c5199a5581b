/**
 * The kubernetes() backend against a real control plane (kube-apiserver + etcd + kube-controller-manager with
 * the real Job controller + kube-scheduler, built from Go modules; scripts/kube.ts) whose fake GPU node is
 * run by kwok, and the GCS emulator: the Job's spec, success, a user-code exit, a disruption, cancellation,
 * a 2-node indexed Job with its headless Service (an eviction, cancellation), and a worker SIGKILLed while its Job
 * runs.
 */
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { kubernetes } from '../../sdk/factories.js';
import type { PipelineError } from '../../sdk/errors.js';
import { startKubeCluster, type KubeCluster } from '../../scripts/kube.js';
import { workerProcesses } from '../helpers/worker-processes.js';
import { createTestBucket } from '../helpers/gcs.js';
import { eventually, fixturePipeline, startHarness, type Harness } from '../helpers/harness.js';
import { simulateTrainingContainers, type SimulatedContainers } from '../kube/simulated-container.js';

let h: Harness;
let cluster: KubeCluster;
let containers: SimulatedContainers;
let batch: BatchV1Api;
let core: CoreV1Api;
let bucket: string;
const GPU_NODE = 'gpu-l4-0';

beforeAll(async () => {
  cluster = await startKubeCluster({ name: `mlops-test-${process.pid}` });
  process.env.KUBECONFIG = cluster.kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  batch = kc.makeApiClient(BatchV1Api);
  core = kc.makeApiClient(CoreV1Api);
  // A GPU node as GKE labels and taints one; kwok acts as its kubelet.
  const resources = { cpu: '48', memory: '192Gi', pods: '110', 'nvidia.com/gpu': '4' };
  await core.createNode({
    body: {
      metadata: {
        name: GPU_NODE,
        annotations: { 'kwok.x-k8s.io/node': 'fake' },
        labels: { 'cloud.google.com/gke-accelerator': 'nvidia-l4', type: 'kwok' },
      },
      spec: { taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }] },
      status: { allocatable: resources, capacity: resources },
    },
  });
  bucket = await createTestBucket('mlops-k8s');
  containers = simulateTrainingContainers(cluster.kubeconfig, inject('gcsEndpoint'));
  h = await startHarness('kubernetes');
}, 300_000);
afterAll(async () => {
  containers?.stop();
  await h?.stop();
  await cluster?.stop();
});

type Overrides = Partial<Parameters<typeof kubernetes>[0]>;

function pipeline(name: string, overrides: Overrides = {}) {
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
      backend: kubernetes({
        image: 'us-docker.pkg.dev/acme/train:1',
        command: ['python', 'train.py'],
        gpus: 1,
        nodeSelector: { 'cloud.google.com/gke-accelerator': 'nvidia-l4' },
        tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
        ...overrides,
      }),
    },
  });
}

const jobsOf = async (name: string): Promise<V1Job[]> =>
  (await batch.listNamespacedJob({ namespace: 'default', labelSelector: `mlops.temporal.io/pipeline=${name}` })).items;
const podsOf = async (jobName: string) =>
  (await core.listNamespacedPod({ namespace: 'default', labelSelector: `batch.kubernetes.io/job-name=${jobName}` }))
    .items;
const runningPod = async (name: string) => {
  const [job] = await jobsOf(name);
  if (!job) return undefined;
  return (await podsOf(job.metadata!.name!)).find(
    (p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp,
  );
};
const attemptsOf = async (run: Awaited<ReturnType<Harness['client']['start']>>) => {
  const history = await h.client.handle(run).fetchHistory();
  return history
    .events!.filter((e) => e.activityTaskStartedEventAttributes)
    .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
};

describe('kubernetes() backend', () => {
  it('creates one GPU Job with the right spec; the scheduler places it on the GPU node; it succeeds', async () => {
    const run = await h.client.start(
      pipeline('k8s-ok', {
        kueueQueue: 'gpu-team',
        activeDeadline: '2h',
        labels: { team: 'risk' },
        annotations: { 'mlops.test/run-for': '3s' },
        memory: '16Gi',
      }),
      { requestedBy: 'ci@acme.com' },
    );
    const result = await h.client.result(run);
    const jobs = await jobsOf('k8s-ok');
    expect(jobs).toHaveLength(1);
    const job = jobs[0]!;
    expect(job.metadata!.name).toBe(result.training.jobKey);
    expect(job.metadata!.labels).toMatchObject({
      'kueue.x-k8s.io/queue-name': 'gpu-team',
      team: 'risk',
      'mlops.temporal.io/job-key': result.training.jobKey,
    });
    expect(job.spec).toMatchObject({
      backoffLimit: 0,
      activeDeadlineSeconds: 7200,
      ttlSecondsAfterFinished: 86400,
      podReplacementPolicy: 'Failed',
      podFailurePolicy: {
        rules: [
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
          { action: 'FailJob', onExitCodes: { containerName: 'train', operator: 'NotIn', values: [0] } },
        ],
      },
    });
    const pod = job.spec!.template.spec!;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.nodeSelector).toEqual({ 'cloud.google.com/gke-accelerator': 'nvidia-l4' });
    const container = pod.containers[0]!;
    expect(container.resources?.limits).toEqual({ 'nvidia.com/gpu': '1', memory: '16Gi' });
    expect(container.command).toEqual(['python', 'train.py']);
    const env = Object.fromEntries(container.env!.map((e) => [e.name, e.value]));
    expect(env.AIP_MODEL_DIR).toBe(`gs://${bucket}/registry/jobs/${result.training.jobKey}/model/`);
    expect(env.MLOPS_DATA_URI).toBe(result.snapshot.uri);
    expect(job.status?.succeeded).toBe(1);
    const [ranPod] = await podsOf(job.metadata!.name!);
    expect(ranPod?.spec?.nodeName).toBe(GPU_NODE);
    expect(result.training).toMatchObject({ backend: 'kubernetes', metrics: { auc: 0.91 }, reattached: false });
    expect(result.version.manifestUri).toMatch(/^gs:\/\//);
  });

  it('a user-code exit fails the Job at once: TrainingFailed with the exit code and last lines, no retry', async () => {
    const run = await h.client.start(
      pipeline('k8s-exit', {
        labels: { 'mlops.test/fail': 'true' },
        annotations: {
          'mlops.test/run-for': '1s',
          'mlops.test/exit-code': '3',
          'mlops.test/message': 'epoch 1 loss=0.71\nValueError: column "age" has strings',
        },
      }),
      { requestedBy: 'ci@acme.com' },
    );
    const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('TrainingFailed');
    expect(err.message).toMatch(/container exited 3/);
    expect(err.message).toMatch(/ValueError: column "age" has strings/);
    expect(await attemptsOf(run)).toEqual([1, 1]); // ingest once, train once: no retry
    const [job] = await jobsOf('k8s-exit');
    expect(await podsOf(job!.metadata!.name!)).toHaveLength(1);
    expect(job!.status?.conditions?.find((c) => c.type === 'Failed')?.reason).toBe('PodFailurePolicy');
  });

  it('a disruption (eviction) is retried as a preemption: a new pod resumes from the checkpoint, same Job', async () => {
    const run = await h.client.start(pipeline('k8s-evict', { annotations: { 'mlops.test/run-for': '6s' } }), {
      requestedBy: 'ci@acme.com',
    });
    const pod = await eventually(() => runningPod('k8s-evict'), 30_000, 'pod running');
    await eventually(async () => (containers.ran.includes(pod.metadata!.name!) ? true : undefined), 10_000, 'ran');
    await core.createNamespacedPodEviction({
      name: pod.metadata!.name!,
      namespace: 'default',
      body: { metadata: { name: pod.metadata!.name!, namespace: 'default' } },
    });
    const result = await h.client.result(run);
    expect(result.training.preemptions).toBe(1);
    expect(result.training.metrics.resumed_from_checkpoint).toBe(1);
    const jobs = await jobsOf('k8s-evict');
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.status?.failed ?? 0).toBe(0); // the disruption did not count against backoffLimit 0
    expect(Math.max(...(await attemptsOf(run)))).toBe(1); // nor spend an activity retry
  });

  it('cancelling the run deletes the Job and its pods within 30 s', async () => {
    const run = await h.client.start(pipeline('k8s-cancel', { annotations: { 'mlops.test/run-for': '300s' } }), {
      requestedBy: 'ci@acme.com',
    });
    const pod = await eventually(() => runningPod('k8s-cancel'), 30_000, 'pod running');
    const jobName = pod.metadata!.labels!['batch.kubernetes.io/job-name']!;
    const started = Date.now();
    await h.client.cancel(run);
    await eventually(
      async () =>
        (await jobsOf('k8s-cancel')).length === 0 && (await podsOf(jobName)).length === 0 ? true : undefined,
      30_000,
      'Job and pods deleted',
    );
    expect(Date.now() - started).toBeLessThan(30_000);
    const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('PipelineCancelled');
  });

  it('a 2-node job: one indexed Job and its headless Service with the rendezvous variables; an eviction is one preemption', async () => {
    const run = await h.client.start(
      pipeline('k8s-multi', { replicas: 2, masterPort: 23456, annotations: { 'mlops.test/run-for': '6s' } }),
      { requestedBy: 'ci@acme.com' },
    );
    const running = await eventually(
      async () => {
        const [job] = await jobsOf('k8s-multi');
        const pods = job ? await podsOf(job.metadata!.name!) : [];
        const up = pods.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
        return up.length === 2 && up.every((p) => containers.ran.includes(p.metadata!.name!)) ? up : undefined;
      },
      30_000,
      'both pods running',
    );
    const [job] = await jobsOf('k8s-multi');
    const name = job!.metadata!.name!;
    expect(job!.spec).toMatchObject({ completionMode: 'Indexed', completions: 2, parallelism: 2 });
    expect(job!.spec!.template.spec!.subdomain).toBe(name);
    const service = await core.readNamespacedService({ name, namespace: 'default' });
    expect(service.spec).toMatchObject({
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: { 'batch.kubernetes.io/job-name': name },
      ports: [expect.objectContaining({ port: 23456 })],
    });
    expect(service.metadata!.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Job', name, uid: job!.metadata!.uid }),
    ]);
    // Each pod as the API server holds it: the rendezvous variables, RANK from the pod's own completion index.
    const ranks = running.map((p) => p.metadata!.annotations!['batch.kubernetes.io/job-completion-index']).sort();
    expect(ranks).toEqual(['0', '1']);
    const env = running[0]!.spec!.containers[0]!.env!;
    const value = (n: string) => env.find((e) => e.name === n);
    expect(value('MASTER_ADDR')?.value).toBe(`${name}-0.${name}.default.svc`);
    expect(value('MASTER_PORT')?.value).toBe('23456');
    expect(value('WORLD_SIZE')?.value).toBe('2');
    expect(value('RANK')?.valueFrom?.fieldRef?.fieldPath).toBe(
      "metadata.annotations['batch.kubernetes.io/job-completion-index']",
    );
    const evicted = running.find((p) => p.metadata!.annotations!['batch.kubernetes.io/job-completion-index'] === '1')!;
    await core.createNamespacedPodEviction({
      name: evicted.metadata!.name!,
      namespace: 'default',
      body: { metadata: { name: evicted.metadata!.name!, namespace: 'default' } },
    });
    const result = await h.client.result(run);
    expect(result.training.preemptions).toBe(1);
    expect(await jobsOf('k8s-multi')).toHaveLength(1);
    // Both ranks succeeded, rank 1 in its replacement pod (the evicted one is gone once the Job counted it).
    const pods = (await podsOf(name)).filter((p) => p.status?.phase === 'Succeeded');
    const index = (p: (typeof pods)[number]) => p.metadata!.annotations!['batch.kubernetes.io/job-completion-index'];
    expect(pods.map(index).sort()).toEqual(['0', '1']);
    expect(pods.map((p) => p.metadata!.uid)).not.toContain(evicted.metadata!.uid);
    expect(Math.max(...(await attemptsOf(run)))).toBe(1); // the whole job resumed without an activity retry
  });

  it('cancelling a 2-node job deletes the Job, its pods and its Service', async () => {
    const run = await h.client.start(
      pipeline('k8s-multi-cancel', { replicas: 2, annotations: { 'mlops.test/run-for': '300s' } }),
      { requestedBy: 'ci@acme.com' },
    );
    // The Service is created right after the Job, so the pods may run before it exists: wait for all three.
    const name = await eventually(
      async () => {
        const [job] = await jobsOf('k8s-multi-cancel');
        const name = job?.metadata?.name;
        if (!name || (await podsOf(name)).filter((p) => p.status?.phase === 'Running').length !== 2) return undefined;
        return (await core.readNamespacedService({ name, namespace: 'default' }).then(
          () => true,
          () => false,
        ))
          ? name
          : undefined;
      },
      30_000,
      'both pods running and the Service created',
    );
    await h.client.cancel(run);
    const serviceGone = () =>
      core.readNamespacedService({ name, namespace: 'default' }).then(
        () => false,
        () => true,
      );
    await eventually(
      async () =>
        (await jobsOf('k8s-multi-cancel')).length === 0 && (await podsOf(name)).length === 0 && (await serviceGone())
          ? true
          : undefined,
      30_000,
      'Job, pods and Service deleted',
    );
    const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('PipelineCancelled');
  });

  it('a worker SIGKILLed while its Job runs: the new worker reattaches, exactly one Job, the run completes', async () => {
    const workers = workerProcesses('kubernetes-crash', h.home);
    const startWorker = () => workers.start();
    try {
      const first = await startWorker();
      const { PipelineClient } = await import('../../sdk/client.js');
      const client = await PipelineClient.connect({ client: h.temporal, taskQueue: 'kubernetes-crash' });
      const run = await client.start(pipeline('k8s-crash', { annotations: { 'mlops.test/run-for': '10s' } }), {
        requestedBy: 'ci@acme.com',
      });
      await eventually(() => runningPod('k8s-crash'), 30_000, 'pod running');
      first.kill('SIGKILL');
      await startWorker();
      const result = await client.result(run);
      const jobs = await jobsOf('k8s-crash');
      expect(jobs).toHaveLength(1);
      expect(await podsOf(jobs[0]!.metadata!.name!)).toHaveLength(1);
      expect(result.training.reattached).toBe(true);
    } finally {
      workers.killAll();
    }
  });
});
