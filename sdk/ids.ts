/** Deterministic ids (DESIGN.md §3). Sandbox-safe: no Node built-ins. */

/** Workflow id of a pipeline run: `pipeline/<name>/<runKey>`. */
export function pipelineWorkflowId(pipeline: string, runKey: string): string {
  return `pipeline/${pipeline}/${runKey}`;
}

/** The pipeline name in a pipeline run's workflow id, or undefined when it is not one. */
export function pipelineOfWorkflowId(workflowId: string): string | undefined {
  const [kind, pipeline] = workflowId.split('/');
  return kind === 'pipeline' ? pipeline : undefined;
}

/** Workflow id of a model's monitor: `monitor/<model>`. */
export function monitorWorkflowId(model: string): string {
  return `monitor/${model}`;
}

/** Schedule id of a pipeline's retraining schedule: `retrain/<name>`. */
export function retrainScheduleId(pipeline: string): string {
  return `retrain/${pipeline}`;
}

/** Workflow id of a pipeline's new-data watcher: `watch/<name>`. */
export function watchWorkflowId(pipeline: string): string {
  return `watch/${pipeline}`;
}

/** Workflow id prefix of a schedule's runs: the schedule appends `-<time>`, giving `pipeline/<name>/schedule-<time>`. */
export function scheduledRunWorkflowId(pipeline: string): string {
  return pipelineWorkflowId(pipeline, 'schedule');
}

/** The run key of a drift-triggered retrain: one per model version and serving window. */
export function driftRunKey(version: number, window: string): string {
  return `drift-v${version}-${window.replace(/[-:.]/g, '').toLowerCase()}`;
}

/** The run key of a quality-triggered retrain: one per model version and the window that sustained the breach. */
export function qualityRunKey(version: number, window: string): string {
  return `quality-v${version}-${window.replace(/[-:.]/g, '').toLowerCase()}`;
}

/** The run key of a new-data run: stable per object, label-safe, ≤ 40 characters. */
export function newDataRunKey(objectUri: string): string {
  return `data-${fnv1a64(objectUri)}`;
}

const RUN_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** True when `runKey` may be used in a workflow id (letters, digits, `.`, `_`, `-`). */
export function isValidRunKey(runKey: string): boolean {
  return RUN_KEY_RE.test(runKey);
}

/**
 * A run key from a time and a few random characters, e.g. `20261122-193005-k3f9`. Sortable by start time.
 * Callers that may fire twice (schedules, drift, new data) pass their own deterministic key instead.
 */
export function newRunKey(now: Date, random: () => number): string {
  const iso = now.toISOString().replace(/[-:]/g, '');
  const suffix = Array.from({ length: 4 }, () => 'abcdefghijkmnpqrstuvwxyz23456789'[Math.floor(random() * 32)]).join(
    '',
  );
  return `${iso.slice(0, 8)}-${iso.slice(9, 15)}-${suffix}`;
}

/**
 * FNV-1a 64-bit as 16 hex characters: a stable, dependency-free hash for job keys (not for security).
 */
export function fnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * prime) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, '0');
}

/**
 * The training job key: deterministic from namespace + workflow id + activity id, never the attempt, so a
 * retried or restarted activity finds the job its predecessor launched. Lowercase, label-safe, ≤ 63 chars.
 */
export function trainingJobKey(namespace: string, workflowId: string, activityId: string, pipeline: string): string {
  const prefix = `mlops-${pipeline}`.slice(0, 40).replace(/-+$/, '');
  return `${prefix}-${fnv1a64(`${namespace}\u0000${workflowId}\u0000${activityId}`)}`;
}

/** A sweep trial's job key: like `trainingJobKey`, keyed by the trial's index instead of the activity id. */
export function trialJobKey(namespace: string, workflowId: string, pipeline: string, trial: number): string {
  return trainingJobKey(namespace, workflowId, `sweep-trial-${trial}`, pipeline);
}
