/** The data a pipeline run carries and reports: workflow input, stage results, status and result. Sandbox-safe. */
import type { PipelineSpec, Stage } from './spec/pipeline.js';
import type { SweepSpec } from './spec/sweep.js';
import type { RungDecision, TrialReport } from './sweep.js';

/** Why a run started; recorded in lineage. */
export type Trigger =
  | { kind: 'manual' }
  | { kind: 'schedule'; scheduleId: string }
  | { kind: 'drift'; reportUri: string }
  | { kind: 'quality-degraded'; reportUri: string }
  | { kind: 'new-data'; objectUri: string };

/** Input of the `mlPipeline` workflow. Holds references only, never secrets. */
export interface PipelineRunInput {
  spec: PipelineSpec;
  runKey: string;
  /** Who asked for the run (an email); may not approve it when separation of duties is on. */
  requestedBy: string;
  trigger: Trigger;
  /** Overrides of `spec.train.params` for this run. */
  params: Record<string, string | number | boolean>;
  /** True when the server has the Mlops* search attributes registered; the workflow then keeps them current. */
  searchAttributes?: boolean;
  /**
   * `SPEC_VERSION` of the schema that parsed `spec` (set by the SDK's client, schedules and monitor): the workflow
   * then uses the spec as it is; without it, or with another version, the workflow parses the spec again.
   */
  specVersion?: string;
}

/** A data-quality finding from ingest. */
export interface DataProblem {
  column?: string;
  kind:
    | 'missing-column'
    | 'extra-column'
    | 'type'
    | 'missing-values'
    | 'range'
    | 'allowed-values'
    | 'rows'
    | 'parse'
    | 'source';
  message: string;
  /** The file (shard) it was found in, when it is about one. */
  file?: string;
  /** The first offending values and where they are. CSV rows count the header as row 1; Parquet rows from 1. */
  examples?: { file: string; row: number; value?: string }[];
}

/** Per-column summary kept as the monitoring reference. */
export interface ColumnProfile {
  type: 'number' | 'integer' | 'string' | 'boolean';
  /** Rows profiled (missing ones included). */
  count: number;
  missing: number;
  min?: number;
  max?: number;
  mean?: number;
  /** Population standard deviation. */
  std?: number;
  /** Quantiles keyed by probability (`{ "0.5": median }`), exact over the reference rows: all up to 100,000. */
  quantiles?: Record<string, number>;
  /** Category counts for string/boolean columns (top 100). */
  categories?: Record<string, number>;
  /** String/boolean columns: how many distinct values. */
  distinct?: number;
}

/** An immutable copy of the ingested data, addressed by its hash. */
export interface DataSnapshot {
  /** What training jobs get (`MLOPS_DATA_URI`): `data.csv` for a CSV source, `data.parquet` for Parquet. */
  uri: string;
  /** sha256 of the source bytes (several shards: of their sha256s and sizes, in name order). */
  sha256: string;
  /** Source bytes, all shards. */
  bytes: number;
  rows: number;
  columns: string[];
  profileUri: string;
  /** First data row's features (target excluded): the default smoke request. */
  sampleFeatures: Record<string, string | number | boolean | null>;
  /** The source's format; absent on snapshots taken before Parquet support (CSV). */
  format?: 'csv' | 'parquet';
  /** The columnar copy (typed Parquet) profiling and monitoring read. */
  parquetUri?: string;
  /** The monitor's reference: every row up to 100,000, else a seeded uniform sample of that many (Parquet). */
  referenceUri?: string;
  /** How many files the source had, and the manifest listing each one's URI, generation, size and sha256. */
  shards?: number;
  manifestUri?: string;
}

export interface TrainingResult {
  jobKey: string;
  backend: PipelineSpec['train']['backend']['kind'];
  metrics: Record<string, number>;
  /** The job's offline predictions on its evaluation rows (`predictions.jsonl`), when it wrote them. */
  predictions?: { file: 'predictions.jsonl'; rows: number };
  /** Where the model artifacts are (the job's `AIP_MODEL_DIR`). */
  modelUri: string;
  startedAt: string;
  finishedAt: string;
  /** True when this attempt found the job already running and attached to it. */
  reattached: boolean;
  /** Disruptions (spot preemption, eviction) survived by resuming from checkpoints; absent when none. */
  preemptions?: number;
  /** What code trained the model: the command, and the git commit of its directory when it is a checkout. */
  code?: { command: string[]; gitCommit?: string; gitDirty?: boolean; image?: string };
}

export interface GateCheck {
  metric: string;
  value: number | null;
  min?: number;
  max?: number;
  passed: boolean;
  reason: string;
}

/** One metric of the champion/challenger comparison, both sides shown. */
export interface ChampionCheck {
  metric: string;
  candidate: number | null;
  champion: number | null;
  delta: number | null;
  minDelta: number;
  higherIsBetter: boolean;
  passed: boolean;
  reason: string;
}

export interface ChampionComparison {
  alias: string;
  /** The champion's version, or null when there is none yet (the first model passes). */
  version: number | null;
  /** Where the champion's numbers come from. */
  basis: 'no-champion' | 'same-snapshot' | 're-evaluated' | 'different-snapshot';
  passed: boolean;
  checks: ChampionCheck[];
  reason: string;
}

export interface GateReport {
  passed: boolean;
  checks: GateCheck[];
  champion?: ChampionComparison;
}

export interface RegisteredVersion {
  model: string;
  version: number;
  /** `<store>/models/<model>/versions/<n>/` */
  uri: string;
  manifestUri: string;
}

/**
 * Who vouched for an approver (identity `verified`): never the token, only where it came from and its hash.
 * `via` is `oidc` for the approver's own ID token (CLI, SDK) and `web-ui` for the codec server's assertion.
 */
export interface VerifiedIdentity {
  via: 'oidc' | 'web-ui';
  /** The OIDC issuer of the person's token (for `web-ui`, the UI's issuer the codec server checked). */
  issuer: string;
  subject: string;
  email: string;
  /** sha256 (hex) of the person's token; the token itself is never recorded. */
  tokenSha256: string;
  /** When the token or assertion expires. */
  expiresAt: string;
}

/** An accepted approval or rejection. `identity` is set when it was verified; without it, `by` was declared. */
export interface ApprovalEntry {
  by: string;
  comment: string;
  at: string;
  identity?: VerifiedIdentity;
}

/** One approve/reject attempt, accepted or refused, as the audit trail keeps it. */
export interface ApprovalAttempt {
  at: string;
  decision: 'approve' | 'reject';
  by: string | null;
  comment: string;
  via: 'signal' | 'update';
  accepted: boolean;
  /** Why it was refused, when it was. */
  reason?: string;
  /** Who vouched for `by` (identity `verified`, when the proof checked out). */
  identity?: VerifiedIdentity;
}

export interface ApprovalRecord {
  decision: 'approved' | 'rejected' | 'timed-out' | 'not-required';
  decidedAt: string;
  requestedBy: string;
  /** The policy the decision was checked against (approvers expanded from groups). */
  policy: {
    approvers: string[];
    quorum: number;
    separationOfDuties: boolean;
    timeoutMs: number;
    onTimeout: 'reject' | 'escalate';
    /** `verified` when each decision had to prove who sent it (absent in records made before it existed). */
    identity?: 'declared' | 'verified';
  };
  /** Set when the first timeout passed and the decision moved to the escalation list. */
  escalated?: { at: string; approvers: string[]; quorum: number };
  /** When the reminder step was called. */
  remindedAt?: string;
  approvals: ApprovalEntry[];
  rejection?: ApprovalEntry;
  attempts: ApprovalAttempt[];
}

export interface Deployment {
  target: 'local' | 'vertex-endpoint' | 'kserve';
  model: string;
  version: number;
  /** The model's endpoint: the local server or router URL, the Vertex endpoint's resource name, or the InferenceService URL. */
  endpoint: string;
  predictUrl: string;
  /** Local target: the model server's process. */
  pid?: number;
  deployedAt: string;
  /** Local target: the smoke prediction sent before any traffic. */
  smoke?: { request: unknown; response: unknown; latencyMs: number };
  /** The staged rollout that led here, when the deploy spec has one. */
  rollout?: RolloutRecord;
  /** The skew gate the version passed before it got any traffic, when the deploy spec has one. */
  skew?: SkewReport;
}

/** One evaluation row of a skew report: what training predicted, what the candidate served. */
export interface SkewRow {
  key: string | number;
  instance: unknown;
  offline: unknown;
  /** Undefined when the candidate gave no answer for the row (its request failed). */
  served?: unknown;
  /** Whether the class labels agree; null when the prediction has no label. */
  agree: boolean | null;
  /** Largest absolute difference of the row's scores or values; null when it has none to compare. */
  absDiff: number | null;
}

/** Why the served predictions differ, as far as the gate could tell. */
export interface SkewExplanation {
  /**
   * `feature-swap`: sending two features exchanged reproduces the offline predictions; `unscaled-inputs`: sending
   * standardised features does; `float32-inputs`: the candidate cannot tell a feature's values apart below float32
   * precision; `constant-output`: it answers the same for every row; `structure`: its answers have another shape;
   * `association`: the features the differences move with (correlation), when nothing above explains them.
   */
  kind: 'feature-swap' | 'unscaled-inputs' | 'float32-inputs' | 'constant-output' | 'structure' | 'association';
  features: string[];
  message: string;
  /** The numbers behind the message (the probe's agreement and difference, correlations...). */
  evidence?: Record<string, unknown>;
}

/**
 * The skew gate's report: the training job's offline predictions replayed through the candidate's own serving
 * endpoint before it got any traffic, compared row by row.
 */
export interface SkewReport {
  at: string;
  /** `skipped`: nothing to compare (the job wrote no predictions, or the target cannot address the candidate). */
  status: 'passed' | 'failed' | 'skipped';
  /** One line: the numbers and what differs (or why the gate was skipped). */
  summary: string;
  /** How the candidate was addressed (its URL, a Vertex batch prediction job, a KServe revision's tag URL). */
  via?: string;
  /** Rows in predictions.jsonl, and how many of them were replayed (the seeded sample). */
  offlineRows: number;
  rows: number;
  seed: number;
  /** Share of rows whose served class equals the offline one (null when the predictions carry no label). */
  agreement: number | null;
  /** Largest absolute difference of a score or value (null when they carry none). */
  maxAbsDiff: number | null;
  meanAbsDiff: number | null;
  /** Rows the candidate gave no answer for (failed requests, too few predictions). */
  errors: number;
  checks: { name: string; value: number | null; min?: number; max?: number; passed: boolean }[];
  /** The worst rows first. */
  worst: SkewRow[];
  explanations: SkewExplanation[];
  /** Extra requests the diagnosis sent to the candidate. */
  probes?: number;
}

export interface VersionNumbers {
  requests: number;
  errors: number;
  errorRate: number | null;
  /** At the analysis's latency percentile. */
  latencyMs: number | null;
}

/** One canary analysis: the step so far, measured and judged. */
export interface AnalysisReport {
  at: string;
  source: 'router' | 'prometheus';
  windowSeconds?: number;
  step: number;
  traffic: number;
  candidate: VersionNumbers;
  champion?: VersionNumbers;
  checks: { name: string; value: number | null; min?: number; max?: number; passed: boolean }[];
  /** False while the candidate has had fewer requests than `minRequests`: not judged yet. */
  conclusive: boolean;
  passed: boolean;
}

/** What the status query shows of a rollout, and what the deployment keeps. */
export interface RolloutRecord {
  candidate: number;
  champion?: number;
  /** 1-based step now running (or the last one run). */
  step: number;
  steps: number;
  /** Percent of traffic by version, e.g. { "3": 10, "2": 90 }. */
  traffic: Record<string, number>;
  state: 'starting' | 'shadowing' | 'baking' | 'paused' | 'promoted' | 'rolled-back';
  /** While paused (onBreach: pause): why, and the decision attempts so far. */
  pausedBecause?: string;
  decisionAttempts?: ApprovalAttempt[];
  /** Every pause's outcome. */
  decisions?: ApprovalRecord[];
  failedAnalyses: number;
  latestAnalysis?: AnalysisReport;
  /** The last analysis of each step. */
  analyses: AnalysisReport[];
  routerEndpoint?: string;
  /** The shadow stage's comparison (rollout.shadow): live while it runs, then its final one. */
  shadow?: ShadowReport;
}

/** One side of the shadow comparison: how it answered the mirrored requests (the canary analysis's numbers). */
export type ShadowSide = VersionNumbers;

/**
 * The shadow stage's comparison of champion and candidate on the same mirrored requests: error rate, latency,
 * prediction agreement and the distance between their prediction distributions.
 */
export interface ShadowReport {
  at: string;
  /** Share of live requests mirrored. */
  share: number;
  /** Live requests the champion answered during the stage, and how many of them were mirrored. */
  liveRequests: number;
  mirrored: number;
  /** Mirrored requests dropped because too many were already waiting for the candidate. */
  skipped: number;
  champion: ShadowSide;
  candidate: ShadowSide;
  /** Predictions compared (a request may hold several instances), and the share that agree. */
  predictions: number;
  agreement: number | null;
  maxAbsDiff: number | null;
  /** What the distribution distance was computed on: a score path, or class labels. */
  distribution: { test: string; on: string; value: number | null } | null;
  checks: { name: string; value: number | null; min?: number; max?: number; passed: boolean }[];
  /** A few mirrored requests where the two disagree: the instance and both answers. */
  disagreements: { instance: unknown; champion: unknown; candidate: unknown }[];
  /** False while fewer than `minRequests` mirrored requests were answered by both. */
  conclusive: boolean;
  passed: boolean;
  summary: string;
}

export type StageState = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

/** When a run trains several candidates: each one, the winner, and why it won (recorded in lineage). */
export interface CandidateSelection {
  /** The metric that decided, and whether higher is better. */
  metric: string;
  higherIsBetter: boolean;
  candidates: {
    params: Record<string, string | number | boolean>;
    metrics: Record<string, number>;
    jobKey: string;
    /** Sweeps: how the trial ended, its backend's job, its reports and why it stopped or failed. */
    state?: TrialState;
    jobId?: string;
    reports?: TrialReport[];
    error?: string;
  }[];
  /** Index into `candidates`. */
  winner: number;
  reason: string;
  /** Sweeps: the method, and ASHA's decisions in the order they were made. */
  sweep?: { method: SweepSpec['method']; decisions: RungDecision[] };
}

/** A sweep trial's state. `stopped`: early stopping cancelled its job. */
export type TrialState = 'pending' | 'running' | 'completed' | 'stopped' | 'failed';

/** One row of the sweep's progress table. */
export interface TrialRecord {
  index: number;
  params: Record<string, string | number | boolean>;
  state: TrialState;
  jobKey: string;
  /** The backend's name for its job: the local job directory, `namespace/name` of the Kubernetes Job, ... */
  jobId?: string;
  /** Reported intermediate values of the sweep metric (asha reads them while the trial runs). */
  reports: TrialReport[];
  /** The final metrics (metrics.json) of a completed trial. */
  metrics?: Record<string, number>;
  /** Why it stopped (the rung decision) or failed. */
  stoppedAt?: RungDecision;
  /** False when its job had already ended when the stop decision came. */
  jobCancelled?: boolean;
  error?: string;
}

/** A sweep's progress: every trial, ASHA's decisions, and once done the winner. */
export interface SweepStatus {
  method: SweepSpec['method'];
  metric: string;
  direction: SweepSpec['direction'];
  parallelism: number;
  trials: TrialRecord[];
  decisions: RungDecision[];
  winner?: number;
  reason?: string;
}

/** What the `status` query answers. */
export interface PipelineStatus {
  pipeline: string;
  model: string;
  runKey: string;
  requestedBy: string;
  trigger: Trigger;
  /** The stage now running or waiting; `done` or `failed` at the end. */
  stage: Stage | 'done' | 'failed';
  stages: Record<Stage, StageState>;
  snapshot?: DataSnapshot;
  training?: TrainingResult;
  gate?: GateReport;
  version?: RegisteredVersion;
  approval: {
    required: boolean;
    quorum: number;
    approvers: string[];
    deadline?: string;
    escalated?: ApprovalRecord['escalated'];
    attempts: ApprovalAttempt[];
    record?: ApprovalRecord;
  };
  deployment?: Deployment;
  /** The skew gate's report, once it ran (before any traffic moved). */
  skew?: SkewReport;
  rollout?: RolloutRecord;
  /** The sweep's progress table (`train.sweep`). */
  sweep?: SweepStatus;
  steps: { step: string; after: Stage; output: unknown }[];
  error?: { code: string; message: string };
}

/** What a successful run returns. */
export interface PipelineResult {
  pipeline: string;
  model: string;
  runKey: string;
  snapshot: DataSnapshot;
  training: TrainingResult;
  gate: GateReport;
  version: RegisteredVersion;
  approval: ApprovalRecord;
  deployment?: Deployment;
}

/** One column of a drift report. */
export interface ColumnReport {
  column: string;
  test?: string;
  score?: number;
  threshold?: number;
  drifted: boolean;
  referenceRows?: number;
  currentRows?: number;
  error?: string;
}

/** A monitor check of one serving window against the training snapshot. */
export interface DriftReport {
  model: string;
  version: number;
  window: string;
  checkedAt: string;
  rows: number;
  drifted: boolean;
  share: number;
  driftedColumns: number;
  columns: ColumnReport[];
  problems: string[];
  reportUri: string;
  htmlUri: string;
  /** Served predictions against the training job's offline ones (absent on reports written before it existed). */
  predictions?: PredictionDriftReport;
}

/** Prediction drift of a window: the label's distribution and each score's, against `predictions.jsonl`. */
export interface PredictionDriftReport {
  drifted: boolean;
  offlineRows: number;
  servedRows: number;
  columns: ColumnReport[];
  /** Why nothing was compared (no predictions.jsonl, an unreadable one). */
  skipped?: string;
}

/** What a model's monitor compares serving windows against: the deployed version and its training snapshot. */
export interface MonitorReference {
  model: string;
  version: number;
  snapshot: DataSnapshot;
  spec: PipelineSpec;
  store?: string;
}

/** One window's model quality from the labels that have arrived so far. */
export interface WindowQuality {
  window: string;
  predictions: number;
  labelled: number;
  metrics: Record<string, number>;
  /** Bounds broken, e.g. "accuracy 0.61 < min 0.8"; empty when judged and fine. */
  breaches: string[];
  /** False while fewer than `minLabels` labels have arrived. */
  judged: boolean;
}

/** A quality check: every recent window's metrics, and whether the model is `quality-degraded`. */
export interface QualityReport {
  model: string;
  version: number;
  checkedAt: string;
  degraded: boolean;
  /** The window whose breach made the verdict (the latest of the sustained run). */
  window?: string;
  windows: WindowQuality[];
  labels: { files: number; rows: number; joined: number; unknownIds: number; duplicates: number; wrongType: number };
  problems: string[];
  reportUri: string;
  htmlUri: string;
}

/** The input of the `monitor.onAlert` step. */
export interface MonitorAlert {
  kind: 'drift' | 'prediction-drift' | 'quality-degraded';
  model: string;
  version: number;
  window: string;
  /** One line for a chat message. */
  summary: string;
  reportUri: string;
  htmlUri: string;
}

/** The monitor's state, carried across continue-as-new. */
export interface MonitorState {
  lastWindow?: string;
  /** Consecutive drifted windows. */
  streak: number;
  lastRetrainAt?: string;
  retrains: {
    workflowId: string;
    window: string;
    at: string;
    reportUri: string;
    kind?: 'drift' | 'quality-degraded';
  }[];
  latest?: DriftReport;
  checks: number;
  /** The latest quality check (with `monitor.labels`). */
  quality?: QualityReport;
}

/** What the monitor's `status` query answers. */
export interface MonitorStatus extends MonitorState {
  model: string;
  version?: number;
  referenceSnapshot?: string;
}
