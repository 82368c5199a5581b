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
  type DecisionOptions,
} from './client.js';
export { PipelineError, PIPELINE_ERROR_CODES, type PipelineErrorCode } from './errors.js';
export { evaluateGate } from './gate.js';
export { pipelineWorkflowId, monitorWorkflowId, retrainScheduleId, watchWorkflowId, trainingJobKey } from './ids.js';
export { parseDuration, formatDuration } from './duration.js';
export {
  DEFAULT_TASK_QUEUE,
  resolveConnectionOptions,
  describeConnection,
  type ConnectionOptions,
  type TlsSettings,
  type ResolvedConnection,
} from './connection.js';
export { EncryptionCodec, encryptionFromEnv, type EncryptionKey, type EncryptionOptions } from './encryption.js';
export { startCodecServer, type CodecServer, type CodecServerOptions } from './codec-server.js';
export { verifyIdToken, verifyAssertion, signAssertion, type AssertionSigner } from './approval-identity.js';
export type {
  Trigger,
  PipelineRunInput,
  PipelineStatus,
  PipelineResult,
  StageState,
  DataSnapshot,
  DataProblem,
  ColumnProfile,
  TrainingResult,
  GateReport,
  GateCheck,
  ChampionCheck,
  ChampionComparison,
  RegisteredVersion,
  ApprovalAttempt,
  ApprovalRecord,
  ApprovalEntry,
  VerifiedIdentity,
  Deployment,
  RolloutRecord,
  AnalysisReport,
  VersionNumbers,
  SkewReport,
  SkewRow,
  SkewExplanation,
  CandidateSelection,
  SweepStatus,
  TrialRecord,
  TrialState,
  DriftReport,
  ColumnReport,
  MonitorReference,
  MonitorState,
  MonitorStatus,
  QualityReport,
  WindowQuality,
  MonitorAlert,
} from './run-types.js';
export {
  PipelineSpecSchema,
  ApprovalPayloadSchema,
  STAGES,
  type PipelineConfig,
  type PipelineSpec,
  type Stage,
  type TrainSpec,
  type GateSpec,
  type DeploySpec,
  type IngestSpec,
  type ColumnSpec,
  type ApprovalPolicy,
  type ApprovalPayload,
  type TrainingBackend,
  type LocalBackend,
  type VertexBackend,
  type KubernetesBackend,
  type DeployTarget,
  type LocalServerTarget,
  type VertexEndpointTarget,
  type KServeTarget,
  type SkewSpec,
  type Rollout,
  type AnalysisSpec,
} from './spec/index.js';
export { type SweepConfig, type SweepSpec } from './spec/sweep.js';
export { AshaRule, sweepTrials, type RungDecision, type TrialReport } from './sweep.js';
