/**
 * How each SDK workflow moves between worker versions (Worker Deployments). A pipeline run is PINNED: it ends
 * on the code that started it, however long it waits for approval. A model's monitor and a data watcher run for
 * months (continue-as-new): they follow the current version (AUTO_UPGRADE), so their changes go behind
 * `patched()` like any long-running workflow's. Declared only on versioned workers: the server refuses a
 * versioning behaviour from a worker without a deployment version.
 */
import type { VersioningBehavior } from '@temporalio/common';
import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
import { mlPipeline } from './pipeline/ml-pipeline.js';
import { monitorModel } from './monitor.js';
import { watchNewData } from './watch-new-data.js';

const onVersionedWorkers = (versioningBehavior: VersioningBehavior) => () =>
  workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior } : {};

setWorkflowOptions(onVersionedWorkers('PINNED'), mlPipeline);
setWorkflowOptions(onVersionedWorkers('AUTO_UPGRADE'), monitorModel);
setWorkflowOptions(onVersionedWorkers('AUTO_UPGRADE'), watchNewData);
