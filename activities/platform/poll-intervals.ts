/**
 * Every poll interval the activities use, each defined once and read from its environment variable when a wait
 * starts (so a test can set it before its workers start). The defaults are the documented ones: a remote job or
 * operation is checked every 15 s on Vertex AI and every 5 s on Kubernetes, which keeps a long training run's API
 * calls far below the projects' read quotas. Tests set them lower (e.g. `MLOPS_KUBE_POLL_MS=300`).
 */

/** Milliseconds from `name`, or `fallback` when unset; anything but a positive number names the variable. */
function envMs(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms <= 0)
    throw new Error(`${name} must be a positive number of milliseconds, got "${raw}": fix or unset it`);
  return ms;
}

/**
 * Vertex AI CustomJobs and long-running operations (model upload, deploy, undeploy): `MLOPS_VERTEX_POLL_MS`,
 * default 15 s.
 */
export const vertexPollMs = (): number => envMs('MLOPS_VERTEX_POLL_MS', 15_000);

/**
 * After a Vertex job was asked to cancel: at most 1 s, so the cancelled activity ends soon after the job does
 * (the run waits for it) without polling a running job that often.
 */
export const vertexCancelPollMs = (): number => Math.min(vertexPollMs(), 1000);

/** The time a `QuotaExhausted` training attempt waits before its retry: `MLOPS_VERTEX_QUOTA_BACKOFF_MS`, default 5 min. */
export const vertexQuotaBackoffMs = (): number => envMs('MLOPS_VERTEX_QUOTA_BACKOFF_MS', 5 * 60_000);

/** Kubernetes training Jobs and KServe InferenceService revisions: `MLOPS_KUBE_POLL_MS`, default 5 s. */
export const kubePollMs = (): number => envMs('MLOPS_KUBE_POLL_MS', 5_000);

/**
 * A local training job: how often its log is streamed and the activity heartbeats, and how often a job started by
 * another worker process is checked for its exit code (`MLOPS_LOCAL_POLL_MS`, default 1 s). A job this worker
 * started ends its stage as soon as the process exits, whatever this is.
 */
export const localPollMs = (): number => envMs('MLOPS_LOCAL_POLL_MS', 1_000);
