/**
 * The `kubernetes` training backend: one batch/v1 Job per training step, named by the job key, so a retried
 * or restarted activity finds the Job its predecessor created (look up first; a create answered 409 is the
 * same Job) and never starts a second one. The Job's pod failure policy sorts failures the way DESIGN.md's
 * failure types do: a user-code exit fails the Job at once (`TrainingFailed`, not retried); a disruption
 * (eviction, preemption, node loss: `DisruptionTarget`) is ignored by the Job controller, which starts a new
 * pod that resumes from the same AIP_CHECKPOINT_DIR; here each such pod counts against `maxPreemptions`.
 * Cancelling the activity deletes the Job with its pods (propagationPolicy Background). With `replicas` > 1 the
 * Job is indexed (one pod per node, RANK = its index) behind a headless Service named like it, which it owns.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { V1EnvVar, V1Job, V1Pod, V1Service } from '@kubernetes/client-node';
import type { TrainingResult } from '../../sdk/run-types.js';
import type { KubernetesBackend } from '../../sdk/spec/backends.js';
import { contractEnv, type RemoteTrainingJob } from './contract.js';
import { readRemoteMetrics, readRemotePredictions } from './remote-metrics.js';
import { KubeApi, KubeApiError } from '../platform/kubernetes-api.js';
import { kubePollMs } from '../platform/poll-intervals.js';
import { pollUntil } from '../platform/poll.js';

/** The training container's name (the pod failure policy's exit-code rule names it). */
export const CONTAINER = 'train';
/** The label that marks a Job as this package's, with its job key. */
export const JOB_KEY_LABEL = 'mlops.temporal.io/job-key';
const LOG_LINES = 30;

/** One training step on the `kubernetes` backend. */
export type KubernetesTrainingJob = RemoteTrainingJob<KubernetesBackend>;

/** The Job name: the job key, which is already lowercase and at most 63 characters. */
export function kubernetesJobName(jobKey: string): string {
  return jobKey
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '');
}

function outputs(job: KubernetesTrainingJob) {
  const base = job.outputDirectory.replace(/\/$/, '');
  return { modelDir: `${base}/model/`, checkpointDir: `${base}/checkpoints/`, tensorboardDir: `${base}/logs/` };
}

/** The annotation an indexed Job's controller sets on each pod: its index, which is the pod's rank. */
const COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']";

/**
 * The torchrun rendezvous variables of a multi-node job's pods: rank 0 is reachable as `<job>-0.<service>` (an
 * indexed Job's pod hostname in the headless Service's subdomain), each pod's RANK is its completion index.
 */
function rendezvousEnv(job: KubernetesTrainingJob, name: string): V1EnvVar[] {
  const b = job.backend;
  const rank = { valueFrom: { fieldRef: { fieldPath: COMPLETION_INDEX } } };
  return [
    { name: 'MASTER_ADDR', value: `${name}-0.${name}.${b.namespace}.svc` },
    { name: 'MASTER_PORT', value: String(b.masterPort) },
    { name: 'WORLD_SIZE', value: String(b.replicas) },
    { name: 'NNODES', value: String(b.replicas) },
    { name: 'RANK', ...rank },
    { name: 'NODE_RANK', ...rank },
  ];
}

/** The headless Service that gives a multi-node job's pods their DNS names; owned by the Job (deleted with it). */
export function serviceManifest(job: KubernetesTrainingJob, owner: V1Job): V1Service {
  const name = owner.metadata!.name!;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: job.backend.namespace,
      labels: { ...owner.metadata!.labels },
      ownerReferences: [
        {
          apiVersion: 'batch/v1',
          kind: 'Job',
          name,
          uid: owner.metadata!.uid!,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      clusterIP: 'None',
      // Rank 0 must be resolvable before it is ready: the other ranks look it up while it waits for them.
      publishNotReadyAddresses: true,
      selector: { 'batch.kubernetes.io/job-name': name },
      ports: [{ name: 'rendezvous', port: job.backend.masterPort }],
    },
  };
}

/** The Job manifest for a training step (an indexed Job of `replicas` pods for a multi-node one). */
export function jobManifest(job: KubernetesTrainingJob): V1Job {
  const b = job.backend;
  const name = kubernetesJobName(job.jobKey);
  const multiNode = b.replicas > 1;
  const labels = {
    ...b.labels,
    'app.kubernetes.io/managed-by': 'temporal-mlops',
    'mlops.temporal.io/pipeline': kubernetesJobName(job.contract.pipeline),
    [JOB_KEY_LABEL]: name,
    ...(b.kueueQueue ? { 'kueue.x-k8s.io/queue-name': b.kueueQueue } : {}),
  };
  const env = { ...b.env, ...contractEnv({ ...job.contract, jobKey: job.jobKey, ...outputs(job) }) };
  const limits: Record<string, string> = {};
  if (b.gpus > 0) limits[b.gpuResource] = String(b.gpus);
  if (b.cpu) limits.cpu = b.cpu;
  if (b.memory) limits.memory = b.memory;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: b.namespace,
      labels,
      annotations: { 'mlops.temporal.io/run-key': job.contract.runKey },
    },
    spec: {
      backoffLimit: b.backoffLimit,
      ...(multiNode ? { completionMode: 'Indexed', completions: b.replicas, parallelism: b.replicas } : {}),
      // A replacement pod only once the old one has stopped: never two pods writing the same checkpoints.
      podReplacementPolicy: 'Failed',
      podFailurePolicy: {
        rules: [
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
          { action: 'FailJob', onExitCodes: { containerName: CONTAINER, operator: 'NotIn', values: [0] } },
        ],
      },
      ...(b.activeDeadline ? { activeDeadlineSeconds: Math.ceil(b.activeDeadline / 1000) } : {}),
      ttlSecondsAfterFinished: Math.ceil(b.ttlAfterFinished / 1000),
      template: {
        metadata: { labels: { ...labels }, annotations: { ...b.annotations } },
        spec: {
          restartPolicy: 'Never',
          ...(multiNode ? { subdomain: name } : {}),
          ...(b.serviceAccount ? { serviceAccountName: b.serviceAccount } : {}),
          nodeSelector: b.nodeSelector,
          tolerations: b.tolerations,
          containers: [
            {
              name: CONTAINER,
              image: b.image,
              ...(b.command ? { command: b.command } : {}),
              args: b.args,
              env: [
                ...Object.entries(env).map(([envName, value]) => ({ name: envName, value })),
                ...(multiNode ? rendezvousEnv(job, name) : []),
              ],
              ...(multiNode ? { ports: [{ name: 'rendezvous', containerPort: b.masterPort }] } : {}),
              resources: { limits, requests: { ...limits } },
              // On a failure the kubelet puts the log's tail into the termination message.
              terminationMessagePolicy: 'FallbackToLogsOnError',
            },
          ],
        },
      },
    },
  };
}

function asFailure(err: unknown): never {
  if (err instanceof KubeApiError && err.kind === 'permanent')
    throw ApplicationFailure.nonRetryable(err.message, 'TrainingFailed', { httpStatus: err.status });
  throw err;
}

/** Finds this step's Job or creates it; a multi-node Job gets its headless Service (found or created). */
async function launchOrAttach(api: KubeApi, job: KubernetesTrainingJob): Promise<{ job: V1Job; reattached: boolean }> {
  const launched = await launchOrAttachJob(api, job);
  if (job.backend.replicas > 1) await ensureService(api, job, launched.job);
  return launched;
}

async function ensureService(api: KubeApi, job: KubernetesTrainingJob, owner: V1Job): Promise<void> {
  const { namespace } = job.backend;
  if (await api.getService(namespace, owner.metadata!.name!)) return;
  try {
    await api.createService(namespace, serviceManifest(job, owner));
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 409)) throw err; // 409: a racing attempt created it
  }
}

async function launchOrAttachJob(
  api: KubeApi,
  job: KubernetesTrainingJob,
): Promise<{ job: V1Job; reattached: boolean }> {
  const ctx = Context.current();
  const manifest = jobManifest(job);
  const name = manifest.metadata!.name!;
  const existing = await api.getJob(job.backend.namespace, name);
  if (existing) return { job: checkOwned(existing, name), reattached: true };
  try {
    const created = await api.createJob(job.backend.namespace, manifest);
    ctx.log.info(`train: created Kubernetes Job ${job.backend.namespace}/${name}`);
    return { job: created, reattached: false };
  } catch (err) {
    // 409: the Job exists (a create whose response was lost, or a racing attempt): it is ours, attach.
    if (err instanceof KubeApiError && err.status === 409) {
      const found = await api.getJob(job.backend.namespace, name);
      if (found) return { job: checkOwned(found, name), reattached: true };
    }
    return asFailure(err);
  }
}

function checkOwned(found: V1Job, name: string): V1Job {
  if (found.metadata?.labels?.[JOB_KEY_LABEL] !== name)
    throw ApplicationFailure.nonRetryable(
      `A Job named ${name} exists in ${found.metadata?.namespace} but was not created by temporal-mlops ` +
        `(label ${JOB_KEY_LABEL} missing): delete it or use another namespace`,
      'TrainingFailed',
    );
  return found;
}

function condition(job: V1Job, type: string): boolean {
  return (job.status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
}

/** What a failed pod said: exit code, reason, and the last log lines (log API, else the termination message). */
async function failureReport(api: KubeApi, namespace: string, pods: V1Pod[]) {
  const failed = pods.find((p) => p.status?.phase === 'Failed') ?? pods.at(-1);
  const terminated = failed?.status?.containerStatuses?.find((c) => c.name === CONTAINER)?.state?.terminated;
  const podName = failed?.metadata?.name;
  const logTail = podName ? await api.logTail(namespace, podName, CONTAINER, LOG_LINES) : undefined;
  return {
    pod: podName,
    exitCode: terminated?.exitCode,
    reason: terminated?.reason,
    lastLines: (logTail ?? terminated?.message ?? '').trimEnd().split('\n').slice(-LOG_LINES),
  };
}

type JobState = 'Deleted' | 'Succeeded' | 'Failed' | 'Running' | 'Pending';

function stateOf(job: V1Job | undefined): JobState {
  if (!job) return 'Deleted';
  if (condition(job, 'Complete') || condition(job, 'SuccessCriteriaMet')) return 'Succeeded';
  if (condition(job, 'Failed') || condition(job, 'FailureTarget')) return 'Failed';
  return (job.status?.active ?? 0) > 0 ? 'Running' : 'Pending';
}

/** Runs (or reattaches to) the step's Job until it ends; see the module comment for the failure classes. */
export async function trainKubernetes(job: KubernetesTrainingJob): Promise<TrainingResult> {
  const ctx = Context.current();
  const { namespace } = job.backend;
  let api: KubeApi;
  try {
    api = KubeApi.forContext(job.backend.context);
  } catch (err) {
    return asFailure(err); // a context the kubeconfig lacks: TrainingFailed, naming the fix
  }
  const startedAt = new Date().toISOString();
  const { job: launched, reattached } = await launchOrAttach(api, job).catch(asFailure);
  const name = launched.metadata!.name!;
  const previous = ctx.info.heartbeatDetails as { podUids?: string[] } | undefined;
  const podUids = new Set(previous?.podUids ?? []);
  return pollUntil(
    async () => {
      let current: V1Job | undefined;
      let pods: V1Pod[];
      try {
        current = await api.getJob(namespace, name);
        pods = await api.jobPods(namespace, name);
      } catch (err) {
        if (!(err instanceof KubeApiError && err.kind === 'transient')) return asFailure(err);
        ctx.heartbeat({ jobName: name, namespace, state: `unknown (${err.message})`, podUids: [...podUids] });
        return undefined;
      }
      for (const p of pods) if (p.metadata?.uid) podUids.add(p.metadata.uid);
      // Every pod beyond one per replica replaced one that was disrupted (user-code failures end the Job instead):
      // a lost node of a multi-node job is one preemption of the whole job.
      const preemptions = Math.max(0, podUids.size - job.backend.replicas);
      const state = stateOf(current);
      ctx.heartbeat({ jobName: name, namespace, state, preemptions, podUids: [...podUids] });

      if (!current) {
        throw ApplicationFailure.nonRetryable(
          `Kubernetes Job ${namespace}/${name} was deleted by someone else while it ran`,
          'TrainingFailed',
        );
      }
      if (state === 'Succeeded') return finish(job, name, startedAt, reattached, preemptions);
      if (state === 'Failed') {
        const report = await failureReport(api, namespace, pods);
        const why = current.status?.conditions?.find((c) => c.type === 'Failed' || c.type === 'FailureTarget');
        throw ApplicationFailure.nonRetryable(
          `Kubernetes Job ${namespace}/${name} failed (${why?.reason ?? 'unknown'}: ${why?.message ?? ''})` +
            (report.exitCode !== undefined ? `; container exited ${report.exitCode}` : '') +
            (report.lastLines.length ? `; last lines:\n${report.lastLines.join('\n')}` : ''),
          'TrainingFailed',
          { jobName: name, namespace, ...report, conditionReason: why?.reason },
        );
      }
      if (preemptions > job.backend.maxPreemptions) {
        await deleteAll(api, job, name);
        throw ApplicationFailure.nonRetryable(
          `Kubernetes Job ${namespace}/${name} was disrupted ${preemptions} times ` +
            `(train.backend.maxPreemptions is ${job.backend.maxPreemptions}); deleted it`,
          'Preempted',
          { jobName: name, namespace, preemptions },
        );
      }
      return undefined;
    },
    {
      intervalMs: kubePollMs(),
      signal: ctx.cancellationSignal,
      what: `Kubernetes Job ${namespace}/${name}`,
      onCancel: async () => {
        // A Job already gone is fine (deleteJob ignores a 404); any other failure must not hide the cancellation.
        await deleteAll(api, job, name);
        ctx.log.info(`train: cancelled; deleted Kubernetes Job ${namespace}/${name} and its pods`);
      },
    },
  );
}

/** Deletes the Job with its pods, and a multi-node job's Service (failures ignored: the Job is owned anyway). */
async function deleteAll(api: KubeApi, job: KubernetesTrainingJob, name: string): Promise<void> {
  const { namespace } = job.backend;
  await api.deleteJob(namespace, name).catch(() => undefined);
  if (job.backend.replicas > 1) await api.deleteService(namespace, name).catch(() => undefined);
}

async function finish(
  job: KubernetesTrainingJob,
  name: string,
  startedAt: string,
  reattached: boolean,
  preemptions: number,
): Promise<TrainingResult> {
  const { modelDir } = outputs(job);
  const metrics = await readRemoteMetrics(modelDir, `Kubernetes Job ${job.backend.namespace}/${name}`);
  return {
    jobKey: job.jobKey,
    backend: 'kubernetes',
    metrics,
    ...(await readRemotePredictions(modelDir)),
    modelUri: modelDir,
    startedAt,
    finishedAt: new Date().toISOString(),
    reattached,
    preemptions,
    code: { command: job.backend.command ?? [], image: job.backend.image },
  };
}
