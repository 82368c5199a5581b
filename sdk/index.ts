/** temporal-mlops: ML pipelines as durable Temporal workflows. The public API. */
export { definePipeline, type PipelineDefinition } from './define-pipeline.js';
export { defineStep, type StepDefinition, type StepContext } from './define-step.js';
export { local, vertex, kubernetes, localServer, vertexEndpoint, kserve } from './factories.js';
export {
  PipelineClient,
  toPipelineError,
  type PipelineRun,
  type StartOptions,
  type PipelineClientOptions,
} from './client.js';
export { PipelineError, PIPELINE_ERROR_CODES, type PipelineErrorCode } from './errors.js';
export { evaluateGate } from './gate.js';
export { pipelineWorkflowId, monitorWorkflowId, retrainScheduleId, trainingJobKey } from './ids.js';
export { parseDuration, formatDuration } from './duration.js';
export { DEFAULT_TASK_QUEUE } from './connection.js';
export type * from './run-types.js';
export * from './spec/index.js';
