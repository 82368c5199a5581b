/**
 * The `vertex` training backend: one Vertex AI CustomJob per training step. The job key (workflow id +
 * activity id) is a label on the job; every attempt first looks for its job (heartbeat details, then a label
 * query) and reattaches, so a retried or restarted activity never starts a second job. A create whose response
 * was lost is found by the same query. Cancelling the activity cancels the job.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { TrainingResult } from '../../sdk/run-types.js';
import type { VertexBackend } from '../../sdk/spec/backends.js';
import { contractEnv, type RemoteTrainingJob } from './contract.js';
import { readRemoteMetrics, readRemotePredictions } from './remote-metrics.js';
import { vertexCancelPollMs, vertexPollMs, vertexQuotaBackoffMs } from '../platform/poll-intervals.js';
import { pollUntil, sleepOrCancel } from '../platform/poll.js';
import { consoleUrl, VertexApi, VertexApiError, type CustomJob } from '../platform/vertex-api.js';

const JOB_KEY_LABEL = 'mlops-job-key';
const ACTIVE = new Set([
  'JOB_STATE_QUEUED',
  'JOB_STATE_PENDING',
  'JOB_STATE_RUNNING',
  'JOB_STATE_CANCELLING',
  'JOB_STATE_PAUSED',
  'JOB_STATE_UPDATING',
]);
/** How long after a create lost in transit the job is looked for (the server may still be creating it). */
const LOST_CREATE_RECHECK_MS = 2000;

/** One training step on the `vertex` backend (Vertex sets AIP_MODEL_DIR etc. below the output directory). */
export interface VertexTrainingJob extends RemoteTrainingJob<VertexBackend> {
  /** Preemptions seen so far; spot falls back to standard after `spotFallbackAfter`. */
  preemptions: number;
}

const SCHEDULING = { standard: 'STANDARD', spot: 'SPOT', 'flex-start': 'FLEX_START' } as const;

/** The CustomJob body (v1 REST JSON). */
export function customJobBody(job: VertexTrainingJob): CustomJob {
  const b = job.backend;
  const env = {
    ...b.env,
    ...contractEnv({ ...job.contract, jobKey: job.jobKey, modelDir: '', checkpointDir: '', tensorboardDir: '' }),
  };
  // Vertex sets AIP_MODEL_DIR, AIP_CHECKPOINT_DIR and AIP_TENSORBOARD_LOG_DIR itself from baseOutputDirectory.
  delete env.AIP_MODEL_DIR;
  delete env.AIP_CHECKPOINT_DIR;
  delete env.AIP_TENSORBOARD_LOG_DIR;
  const spotFallback =
    b.scheduling === 'spot' && b.spotFallbackAfter !== undefined && job.preemptions >= b.spotFallbackAfter;
  const containerSpec = {
    imageUri: b.image,
    ...(b.command ? { command: b.command } : {}),
    args: b.args,
    env: Object.entries(env).map(([name, value]) => ({ name, value })),
  };
  // One pool of one replica, or the spec's pools (chief first): every replica runs the same container.
  const pools = b.workerPools ?? [{ machineType: b.machineType, accelerator: b.accelerator, replicaCount: 1 }];
  return {
    displayName: job.jobKey,
    labels: { ...b.labels, [JOB_KEY_LABEL]: job.jobKey },
    jobSpec: {
      workerPoolSpecs: pools.map((pool) => ({
        machineSpec: {
          machineType: pool.machineType,
          ...(pool.accelerator
            ? { acceleratorType: pool.accelerator.type, acceleratorCount: pool.accelerator.count }
            : {}),
        },
        replicaCount: String(pool.replicaCount),
        diskSpec: { bootDiskType: 'pd-ssd', bootDiskSizeGb: ('bootDiskGb' in pool && pool.bootDiskGb) || b.bootDiskGb },
        containerSpec,
      })),
      baseOutputDirectory: { outputUriPrefix: job.outputDirectory },
      scheduling: {
        timeout: `${Math.round(b.timeout / 1000)}s`,
        strategy: spotFallback ? 'STANDARD' : SCHEDULING[b.scheduling],
      },
      ...(b.serviceAccount ? { serviceAccount: b.serviceAccount } : {}),
      ...(b.network ? { network: b.network } : {}),
    },
  };
}

function looksPreempted(job: CustomJob): boolean {
  return /preempt/i.test(job.error?.message ?? '') || job.error?.code === 14;
}

async function findJob(api: VertexApi, parent: string, jobKey: string): Promise<CustomJob | undefined> {
  const jobs = await api.listByLabel(parent, JOB_KEY_LABEL, jobKey);
  // Adopt a job that runs or succeeded; a failed (preempted) one stays behind and a new one is created.
  return jobs.find((j) => ACTIVE.has(j.state ?? '')) ?? jobs.find((j) => j.state === 'JOB_STATE_SUCCEEDED');
}

function asFailure(err: unknown): never {
  if (err instanceof VertexApiError) {
    if (err.kind === 'quota') {
      throw ApplicationFailure.create({
        type: 'QuotaExhausted',
        message: err.message,
        nextRetryDelay: vertexQuotaBackoffMs(),
      });
    }
    if (err.kind === 'permanent')
      throw ApplicationFailure.nonRetryable(err.message, 'TrainingFailed', {
        httpStatus: err.httpStatus,
        status: err.grpcStatus,
      });
  }
  throw err;
}

/** Finds this step's job or creates it; a create that may have reached the server is checked before retrying. */
async function launchOrAttach(
  api: VertexApi,
  parent: string,
  job: VertexTrainingJob,
): Promise<{ name: string; reattached: boolean }> {
  const ctx = Context.current();
  const fromHeartbeat = (ctx.info.heartbeatDetails as { jobName?: string } | undefined)?.jobName;
  if (fromHeartbeat) {
    const known = await api.get(fromHeartbeat);
    if (ACTIVE.has(known.state ?? '') || known.state === 'JOB_STATE_SUCCEEDED')
      return { name: fromHeartbeat, reattached: true };
  }
  const existing = await findJob(api, parent, job.jobKey);
  if (existing?.name) return { name: existing.name, reattached: true };
  try {
    const created = await api.create(parent, customJobBody(job));
    ctx.heartbeat({ jobName: created.name, state: created.state, preemptions: job.preemptions });
    ctx.log.info(`train: created Vertex CustomJob ${created.name} (${consoleUrl(created.name!)})`);
    return { name: created.name!, reattached: false };
  } catch (err) {
    if (err instanceof VertexApiError && err.kind === 'transient') {
      // The request may have created the job before the response was lost: look before trying again.
      await sleepOrCancel(LOST_CREATE_RECHECK_MS, ctx.cancellationSignal);
      const maybe = await findJob(api, parent, job.jobKey);
      if (maybe?.name) {
        ctx.log.warn(`train: create of ${job.jobKey} failed in transit, but the job exists: ${maybe.name}; attaching`);
        return { name: maybe.name, reattached: true };
      }
    }
    return asFailure(err);
  }
}

/**
 * Runs (or reattaches to) the step's CustomJob until it ends. A preemption starts the next job right here
 * (resuming from the same AIP_CHECKPOINT_DIR), on its own budget `maxPreemptions`, so preemptions never spend
 * the activity's retries meant for infrastructure failures.
 */
export async function trainVertex(job: VertexTrainingJob): Promise<TrainingResult> {
  const ctx = Context.current();
  let preemptions = (ctx.info.heartbeatDetails as { preemptions?: number } | undefined)?.preemptions ?? job.preemptions;
  for (;;) {
    try {
      return await runOnce({ ...job, preemptions });
    } catch (err) {
      if (!(err instanceof ApplicationFailure) || err.type !== 'Preempted') throw err;
      preemptions++;
      ctx.heartbeat({ preemptions });
      if (preemptions > job.backend.maxPreemptions) {
        throw ApplicationFailure.nonRetryable(
          `${err.message} (${preemptions} preemptions; train.backend.maxPreemptions is ${job.backend.maxPreemptions})`,
          'Preempted',
        );
      }
      ctx.log.warn(`train: ${err.message}; starting job ${preemptions + 1} from the checkpoints`);
    }
  }
}

/** The job's state, or undefined while the API is unavailable (heartbeated as such); permanent errors fail. */
async function readState(api: VertexApi, name: string): Promise<{ job: CustomJob; state: string } | undefined> {
  try {
    const job = await api.get(name);
    return { job, state: job.state ?? 'JOB_STATE_UNSPECIFIED' };
  } catch (err) {
    if (err instanceof VertexApiError && err.kind !== 'permanent') {
      Context.current().heartbeat({ jobName: name, state: 'unknown (API unavailable)' });
      return undefined;
    }
    return asFailure(err);
  }
}

/** Asks Vertex to cancel the job and waits until it reports the job ended (the activity ends after it). */
async function cancelJob(api: VertexApi, name: string): Promise<void> {
  const ctx = Context.current();
  // A job that ended meanwhile refuses the cancel: nothing to do then.
  await api.cancel(name).catch(() => undefined);
  const state = await pollUntil(
    async () => {
      const current = await readState(api, name);
      if (current) ctx.heartbeat({ jobName: name, state: current.state });
      return current && !ACTIVE.has(current.state) ? current.state : undefined;
    },
    { intervalMs: vertexCancelPollMs() },
  );
  ctx.log.info(`train: Vertex job ${name} ended ${state} after cancellation`);
}

async function runOnce(job: VertexTrainingJob): Promise<TrainingResult> {
  const ctx = Context.current();
  const api = new VertexApi(job.backend.region);
  const parent = `projects/${job.backend.project}/locations/${job.backend.region}`;
  const startedAt = new Date().toISOString();
  const { name, reattached } = await launchOrAttach(api, parent, job).catch(asFailure);
  return pollUntil(
    async () => {
      const current = await readState(api, name);
      if (!current) return undefined;
      const { state } = current;
      ctx.heartbeat({ jobName: name, state, consoleUrl: consoleUrl(name), preemptions: job.preemptions });
      if (state === 'JOB_STATE_SUCCEEDED') return finish(job, name, startedAt, reattached);
      if (state === 'JOB_STATE_FAILED' && looksPreempted(current.job)) {
        throw ApplicationFailure.create({
          type: 'Preempted',
          message: `Vertex job ${name} was preempted: ${current.job.error?.message ?? ''}`,
          details: [{ jobName: name }],
        });
      }
      if (!ACTIVE.has(state)) {
        throw ApplicationFailure.nonRetryable(
          `Vertex job ${name} ended ${state}: ${current.job.error?.message ?? 'no error message'}`,
          'TrainingFailed',
          { jobName: name, state, error: current.job.error, consoleUrl: consoleUrl(name) },
        );
      }
      return undefined;
    },
    {
      intervalMs: vertexPollMs(),
      signal: ctx.cancellationSignal,
      what: `Vertex job ${name}`,
      onCancel: () => cancelJob(api, name),
    },
  );
}

async function finish(
  job: VertexTrainingJob,
  name: string,
  startedAt: string,
  reattached: boolean,
): Promise<TrainingResult> {
  const modelUri = `${job.outputDirectory.replace(/\/$/, '')}/model/`;
  const metrics = await readRemoteMetrics(modelUri, `Vertex job ${name}`);
  return {
    jobKey: job.jobKey,
    backend: 'vertex',
    metrics,
    ...(await readRemotePredictions(modelUri)),
    modelUri,
    startedAt,
    finishedAt: new Date().toISOString(),
    reattached,
    code: { command: job.backend.command ?? [], image: job.backend.image },
  };
}
