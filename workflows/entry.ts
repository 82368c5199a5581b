/**
 * The workflow bundle's entry point: exactly the SDK's workflow types (every exported function of this module
 * is registered as one, so the building blocks live in `index.ts`, not here). A team's own workflows file
 * re-exports these beside its own: `export { mlPipeline, monitorModel, watchNewData } from 'temporal-mlops/workflow'`.
 */
import './versioning.js';
export { mlPipeline } from './pipeline/ml-pipeline.js';
export { monitorModel } from './monitor.js';
export { watchNewData } from './watch-new-data.js';
