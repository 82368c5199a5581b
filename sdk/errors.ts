/**
 * One error base for everything a pipeline can fail with. `code` equals the `ApplicationFailure.type` the
 * workflow raises, so the client maps a failed run back to a typed error without `instanceof` across realms.
 * Sandbox-safe: imported by workflow code.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';

/** Every failure type a pipeline run or the SDK can report. */
export const PIPELINE_ERROR_CODES = [
  'InvalidSpec',
  'InvalidInput',
  'DataValidationFailed',
  'GateFailed',
  'ApprovalRejected',
  'ApprovalRefused',
  'ApprovalTimedOut',
  'TrainingFailed',
  'InvalidMetrics',
  'InvalidPredictions',
  'Preempted',
  'JobLost',
  'QuotaExhausted',
  'BackendNotAvailable',
  'DeployFailed',
  'DeployRolledBack',
  'SkewDetected',
  'ShadowFailed',
  'StepFailed',
  'PipelineCancelled',
  'PipelineNotFound',
  'ConnectionFailed',
  'EncryptionFailed',
  'Unknown',
] as const;

/** A failure type; equals `ApplicationFailure.type` on the wire. */
export type PipelineErrorCode = (typeof PIPELINE_ERROR_CODES)[number];

/**
 * The error the SDK throws: a stable `code`, a human message that says what to fix, and structured `details`
 * (a gate report, the last training log lines, a validation report...).
 *
 * @example
 * try { await client.result(handle) } catch (e) {
 *   if (e instanceof PipelineError && e.code === 'GateFailed') console.log(e.details);
 * }
 */
export class PipelineError extends Error {
  constructor(
    readonly code: PipelineErrorCode,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PipelineError';
  }
}

/** True when `code` is one of the SDK's failure types. */
export function isPipelineErrorCode(code: unknown): code is PipelineErrorCode {
  return typeof code === 'string' && (PIPELINE_ERROR_CODES as readonly string[]).includes(code);
}

/**
 * Failure types that no retry can fix: bad input, a bad job, a gate that said no. Activities raising them fail
 * their stage at once; every activity proxy of the SDK's workflows uses this one list.
 */
export const NON_RETRYABLE_ERROR_TYPES: PipelineErrorCode[] = [
  'InvalidSpec',
  'InvalidInput',
  'DataValidationFailed',
  'TrainingFailed',
  'InvalidMetrics',
  'InvalidPredictions',
  'BackendNotAvailable',
  'DeployFailed',
  'SkewDetected',
  'StepFailed',
];

/** The errors of a failure's cause chain, outermost first. */
export function* causeChain(err: unknown): Generator<Error> {
  for (let current = err; current instanceof Error; current = (current as { cause?: unknown }).cause) yield current;
}

/** The first pipeline failure (or cancellation) in a failure's cause chain, or undefined when there is none. */
export function pipelineFailureOf(
  err: unknown,
): { code: PipelineErrorCode; message: string; details?: unknown } | undefined {
  for (const current of causeChain(err)) {
    if (current instanceof ApplicationFailure && isPipelineErrorCode(current.type))
      return { code: current.type, message: current.message, details: current.details?.[0] };
    if (current instanceof CancelledFailure) return { code: 'PipelineCancelled', message: 'The run was cancelled' };
  }
  return undefined;
}
