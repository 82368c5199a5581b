/**
 * One error base for everything a pipeline can fail with. `code` equals the `ApplicationFailure.type` the
 * workflow raises, so the client maps a failed run back to a typed error without `instanceof` across realms.
 * Sandbox-safe: imported by workflow code.
 */

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
  'Preempted',
  'QuotaExhausted',
  'BackendNotAvailable',
  'DeployFailed',
  'DeployRolledBack',
  'StepFailed',
  'PipelineCancelled',
  'PipelineNotFound',
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
