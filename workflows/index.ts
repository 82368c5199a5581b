/** Workflow entry point bundled by the worker: the workflows and their message definitions. */
export { mlPipeline, statusQuery } from './pipeline/ml-pipeline.js';
export { approveSignal, rejectSignal, ApprovalGate } from './approval.js';
export { watchNewData } from './watch-new-data.js';
export { monitorModel, newReferenceSignal, monitorStatusQuery, checkNowUpdate } from './monitor.js';
