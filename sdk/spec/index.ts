/**
 * The pipeline spec's public face: the config and spec types a team writes against, and the schemas a tool may
 * validate with. The per-part schemas stay internal (import them from their module inside the SDK).
 */
export { PipelineSpecSchema, STAGES, type PipelineConfig, type PipelineSpec, type Stage } from './pipeline.js';
export type { TrainSpec, GateSpec, DeploySpec } from './pipeline.js';
export type { IngestSpec, ColumnSpec } from './ingest.js';
export { ApprovalPayloadSchema, type ApprovalPolicy, type ApprovalPayload } from './approval.js';
export type { TrainingBackend, LocalBackend, VertexBackend, KubernetesBackend } from './backends.js';
export type { DeployTarget, LocalServerTarget, VertexEndpointTarget, KServeTarget, SkewSpec } from './deploy.js';
export type { Rollout, AnalysisSpec } from './rollout.js';
