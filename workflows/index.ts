/**
 * `temporal-mlops/workflow`: the workflow entry point the worker bundles (the SDK's workflows), and the building
 * blocks a team composes into its own workflow (a file that re-exports these workflows beside its own).
 */
import './versioning.js';
export { mlPipeline } from './pipeline/ml-pipeline.js';
export { monitorModel, type MonitorInput } from './monitor.js';
export { watchNewData, type WatchInput } from './watch-new-data.js';
export { rollOut, type RolloutInput } from './rollout.js';
export { ApprovalGate } from './approval.js';
export { PipelineRunState, fail } from './pipeline/run-state.js';
export {
  ingest,
  train,
  trainJob,
  trainingParams,
  gate,
  register,
  awaitApproval,
  deploy,
  handOverToMonitor,
  type RegisterOptions,
  type ApprovalOptions,
} from './pipeline/stages.js';
export {
  WORKFLOW_TYPES,
  statusQuery,
  approveSignal,
  rejectSignal,
  approveUpdate,
  rejectUpdate,
  newReferenceSignal,
  monitorStatusQuery,
  checkNowUpdate,
  type MlPipelineWorkflow,
  type MonitorModelWorkflow,
  type WatchNewDataWorkflow,
} from './messages.js';
