/**
 * The pipeline's activity proxies. Short activities share one proxy; training and deploy take their timeouts
 * from the spec. Every proxy refuses to retry the same failure types (`NON_RETRYABLE_ERROR_TYPES`).
 */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { PipelineActivities } from '../../activities/index.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../../sdk/errors.js';
import type { PipelineSpec } from '../../sdk/spec/pipeline.js';

/** Heartbeat timeout of activities the worker keeps alive: how soon one lost with its worker is retried. */
export const KEEP_ALIVE_TIMEOUT = '30s';

/**
 * Ingest, gate, register, approval records, named steps, hand-over. The worker heartbeats for them
 * (workers/keep-alive.ts), so one lost with its worker is retried after the heartbeat timeout, not 10 minutes.
 */
export const quick = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: KEEP_ALIVE_TIMEOUT,
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

/** A sweep's reads of its trials' reported metrics: short, so a read lost with its worker is retried soon. */
export const progressReads = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '10s',
  retry: { maximumAttempts: 10, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

/**
 * The training activity under the spec's timeout, heartbeat and attempts. It waits for the job's cancellation to
 * complete, so a cancelled run never leaves a job running. `route` sends it to another task queue (placement).
 */
export function trainActivity(
  spec: PipelineSpec,
  route: { taskQueue?: string; scheduleToStartTimeout?: number } = {},
): PipelineActivities['trainModel'] {
  return proxyActivities<PipelineActivities>({
    ...(route.taskQueue ? { taskQueue: route.taskQueue } : {}),
    ...(route.scheduleToStartTimeout ? { scheduleToStartTimeout: route.scheduleToStartTimeout } : {}),
    startToCloseTimeout: spec.train.timeout,
    heartbeatTimeout: spec.train.heartbeatTimeout,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      maximumAttempts: spec.train.maxAttempts,
      initialInterval: '2s',
      nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
    },
  }).trainModel;
}

/** Activities of the deploy stage and the rollout, with time for the target's health check. */
export function deployActivities(deploy: PipelineSpec['deploy']): PipelineActivities {
  return proxyActivities<PipelineActivities>({
    startToCloseTimeout: deploy ? deploy.target.healthTimeout + 120_000 : '10 minutes',
    heartbeatTimeout: '30s',
    retry: { maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
  });
}
