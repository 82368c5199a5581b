/**
 * Training under `train.placement`. Without it the training activity is scheduled exactly as before (same
 * commands, so recorded histories replay). With it, remote jobs (Vertex, Kubernetes) go to the placement's
 * queue and reattach from any worker there; a local job is first placed on a machine by whichever worker takes
 * `placeLocalJob` there, and then every attempt of it runs on that machine's own task queue, so a retry or a
 * restarted worker finds the job's process. When no worker polls that queue within `lostAfter`, the machine
 * is gone: the run fails with JobLost naming it, or the job starts again elsewhere when `onLost: 'restart'`.
 */
import { TimeoutType } from '@temporalio/common';
import { ActivityFailure, TimeoutFailure, log, proxyActivities } from '@temporalio/workflow';
import type { PipelineActivities, TrainInput } from '../../activities/index.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../../sdk/errors.js';
import type { TrainingResult } from '../../sdk/run-types.js';
import type { PipelineSpec } from '../../sdk/spec/pipeline.js';
import { formatDuration } from '../../sdk/duration.js';
import { trainActivity } from './activities.js';
import { fail } from './run-state.js';

/** Placing a job is a quick answer from a worker of the placement's queue. */
function placementActivity(taskQueue: string | undefined): PipelineActivities['placeLocalJob'] {
  return proxyActivities<PipelineActivities>({
    ...(taskQueue ? { taskQueue } : {}),
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
  }).placeLocalJob;
}

/** True when an activity failed because no worker took its task in time (its machine is gone). */
function noWorkerTookIt(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === TimeoutType.SCHEDULE_TO_START
  );
}

/** Runs one training job where the spec's placement says (see the module comment). */
export async function trainPlaced(spec: PipelineSpec, input: TrainInput): Promise<TrainingResult> {
  const placement = spec.train.placement;
  if (!placement) return trainActivity(spec)(input);
  if (spec.train.backend.kind !== 'local') return trainActivity(spec, { taskQueue: placement.taskQueue })(input);
  for (let restarts = 0; ; restarts++) {
    const placed = await placementActivity(placement.taskQueue)();
    try {
      return await trainActivity(spec, { taskQueue: placed.taskQueue, scheduleToStartTimeout: placement.lostAfter })(
        input,
      );
    } catch (err) {
      if (!noWorkerTookIt(err)) throw err;
      const lost = `no worker of host "${placed.host}" took the local training job within ${formatDuration(placement.lostAfter)} (task queue "${placed.taskQueue}")`;
      if (placement.onLost === 'restart' && restarts < placement.maxRestarts) {
        log.warn(`train: ${lost}; starting the job again on another machine`, { host: placed.host });
        continue;
      }
      fail(
        'JobLost',
        `The training job was lost with its machine: ${lost}. Restart that worker with the same host name and home to reattach in a new run, or set train.placement.onLost: 'restart'`,
        { host: placed.host, taskQueue: placed.taskQueue, restarts },
      );
    }
  }
}
