/**
 * Every name Temporal knows this SDK by: the workflow types and each workflow's signals, updates and queries.
 * The client, the CLI, schedules, the monitor's triggers and the workflows themselves use these definitions,
 * never the strings, so a rename is one edit and a typo is a type error. Sandbox-safe (definitions only), so
 * Node code may import it too.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  ApprovalAttempt,
  DriftReport,
  MonitorReference,
  MonitorStatus,
  PipelineResult,
  PipelineRunInput,
  PipelineStatus,
} from '../sdk/run-types.js';
import type { MonitorInput } from './monitor.js';
import type { WatchInput } from './watch-new-data.js';

/** Workflow types, as the worker registers them (the exported function names of `workflows/index.ts`). */
export const WORKFLOW_TYPES = {
  mlPipeline: 'mlPipeline',
  monitorModel: 'monitorModel',
  watchNewData: 'watchNewData',
} as const;

/** The signature of each workflow type, for typed `client.workflow.start<...>(WORKFLOW_TYPES.x, ...)`. */
export type MlPipelineWorkflow = (input: PipelineRunInput) => Promise<PipelineResult>;
export type MonitorModelWorkflow = (input: MonitorInput) => Promise<void>;
export type WatchNewDataWorkflow = (input: WatchInput) => Promise<void>;

/** Search attributes of pipeline runs: registered by `scripts/dev-server.ts` on the dev server, or `temporal-mlops setup-search-attributes` on a cluster. */
export const SEARCH_ATTRIBUTE_KEYS = {
  pipeline: defineSearchAttributeKey('MlopsPipeline', SearchAttributeType.KEYWORD),
  model: defineSearchAttributeKey('MlopsModel', SearchAttributeType.KEYWORD),
  stage: defineSearchAttributeKey('MlopsStage', SearchAttributeType.KEYWORD),
  modelVersion: defineSearchAttributeKey('MlopsModelVersion', SearchAttributeType.INT),
};

// ── mlPipeline ────────────────────────────────────────────────────────────────────────────────────────────────

/** The run's current state: stage, stage results, approval attempts. */
export const statusQuery = defineQuery<PipelineStatus>('status');
/** Approve the candidate (the Web UI's Send a Signal): one JSON argument `{ by, comment }`. */
export const approveSignal = defineSignal<[unknown]>('approve');
/** Reject the candidate (the Web UI's Send a Signal): one JSON argument `{ by, comment }`. */
export const rejectSignal = defineSignal<[unknown]>('reject');
/** Approve and get the verdict at once (SDK and CLI). */
export const approveUpdate = defineUpdate<ApprovalAttempt, [unknown]>('approve');
/** Reject and get the verdict at once (SDK and CLI). */
export const rejectUpdate = defineUpdate<ApprovalAttempt, [unknown]>('reject');

// ── monitorModel ──────────────────────────────────────────────────────────────────────────────────────────────

/** Re-points the monitor at a newly deployed version. */
export const newReferenceSignal = defineSignal<[MonitorReference]>('newReference');
/** The monitor's state and latest report. */
export const monitorStatusQuery = defineQuery<MonitorStatus>('status');
/** Runs a check now and returns the latest report (for operators and tests). */
export const checkNowUpdate = defineUpdate<DriftReport | null>('checkNow');
