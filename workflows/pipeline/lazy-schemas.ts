/**
 * The zod schemas a workflow needs only now and then, loaded when it needs them. The SDK evaluates every module a
 * workflow imports once per workflow and keeps them while the run is cached: zod and the spec schemas were 1.6 of
 * the 1.83 MiB of heap each cached pipeline run cost (measured by evaluating the workflow bundle's modules per
 * workflow, as the SDK does). So workflow code imports nothing that builds a zod schema (a unit test bundles the
 * workflows and checks it), and reaches for the schemas through these functions: a run started by this release's
 * client carries a spec already parsed by the same schema (`specVersion`), and it loads them only when an
 * approval arrives or it rolls out to a remote target.
 */
import type * as ApprovalSpec from '../../sdk/spec/approval.js';
import type * as PipelineSpecModule from '../../sdk/spec/pipeline.js';
import type * as RolloutSpec from '../../sdk/spec/rollout.js';

// webpack's `require` in the workflow bundle: the module is bundled, and evaluated at the first call.
declare const require: (id: string) => unknown;

export const pipelineSchemas = () => require('../../sdk/spec/pipeline.js') as typeof PipelineSpecModule;
export const approvalSchemas = () => require('../../sdk/spec/approval.js') as typeof ApprovalSpec;
export const rolloutSchemas = () => require('../../sdk/spec/rollout.js') as typeof RolloutSpec;
