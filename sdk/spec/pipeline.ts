/**
 * The whole pipeline spec: plain JSON that travels as workflow input and is recorded in history, so a run
 * in flight never depends on the team's current source files. Sandbox-safe.
 */
import { z } from 'zod';
import { DurationSchema } from '../duration-schema.js';
import { ApprovalPolicySchema } from './approval.js';
import { TrainingBackendSchema, VERTEX_POOL_ROLES } from './backends.js';
import { machineAcceleratorProblem } from './vertex-machines.js';
import { CommandSchema, ParamsSchema, SlugSchema } from './common.js';
import { cronProblem } from './cron.js';
import { RolloutSchema } from './rollout.js';
import { SweepSpecSchema } from './sweep.js';
import { TrainPlacementSchema } from './placement.js';
import { DeployTargetSchema, SkewSpecSchema } from './deploy.js';
import { IngestSpecSchema } from './ingest.js';
import { STAGES } from './stages.js';
import { SPEC_VERSION } from './version.js';

export { STAGES, type Stage } from './stages.js';

export const TrainSpecSchema = z.strictObject({
  backend: TrainingBackendSchema,
  params: ParamsSchema.default({}),
  /** Longest a training job may run, queueing included. */
  timeout: DurationSchema.prefault('24h'),
  /** A worker that stops heartbeating this long is presumed dead; the next one reattaches to the job. */
  heartbeatTimeout: DurationSchema.prefault('60s'),
  /** Attempts for infrastructure failures (a user-code failure is never retried). */
  maxAttempts: z.number().int().positive().default(5),
  /** A hyperparameter sweep: trials on `backend`, the best one goes on to the gate. */
  sweep: SweepSpecSchema.optional(),
  /** Which workers train, and how a local job stays on the machine that started it (see spec/placement.ts). */
  placement: TrainPlacementSchema.optional(),
});

export const MetricThresholdSchema = z
  .strictObject({ min: z.number().optional(), max: z.number().optional() })
  .refine((t) => t.min !== undefined || t.max !== undefined, 'give min, max or both');

/** Champion/challenger: the candidate must beat the model behind an alias on named metrics, on the same data. */
export const ChampionGateSchema = z.strictObject({
  alias: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/)
    .default('champion'),
  /** Per metric: the candidate must be better by at least `minDelta` (`higherIsBetter: false` for losses). */
  metrics: z
    .record(
      z.string().min(1),
      z.strictObject({ minDelta: z.number().default(0), higherIsBetter: z.boolean().default(true) }),
    )
    .refine((m) => Object.keys(m).length > 0, 'name at least one metric to compare, e.g. { auc: { minDelta: 0.005 } }'),
  /**
   * Re-evaluates the champion on the candidate's snapshot when the two were trained on different data:
   * runs with AIP_MODEL_DIR = the champion's artifacts, MLOPS_DATA_PATH = the snapshot, and writes a metrics
   * JSON object to $MLOPS_EVAL_OUTPUT. Without it, differing snapshots fail the gate (fail closed).
   */
  evaluate: z.strictObject({ command: CommandSchema, cwd: z.string().optional() }).optional(),
});

export const GateSpecSchema = z
  .strictObject({
    /** Every named metric must be present in metrics.json and inside its bounds. */
    metrics: z.record(z.string().min(1), MetricThresholdSchema).default({}),
    champion: ChampionGateSchema.optional(),
  })
  .refine(
    (g) => Object.keys(g.metrics).length > 0 || g.champion,
    'give metric thresholds (metrics: { auc: { min: 0.8 } }), a champion comparison, or both',
  );

export const RegisterSpecSchema = z.strictObject({
  /** Object store holding the registry: `file:///abs/dir` (default: the worker's store). */
  store: z.string().optional(),
  description: z.string().default(''),
});

export const DeploySpecSchema = z.strictObject({
  target: DeployTargetSchema,
  /** Request body for the smoke prediction; defaults to `{ instances: [<first data row's features>] }`. */
  smokeRequest: z.record(z.string(), z.unknown()).optional(),
  /** Staged rollout behind a traffic router (local target); without it the candidate takes all traffic at once. */
  rollout: RolloutSchema.optional(),
  /** Replay the training job's offline predictions through the candidate before it gets any traffic. */
  skew: SkewSpecSchema.optional(),
});

/**
 * Delayed labels: where the real outcomes arrive, and the quality the model must keep. Each file under `prefix`
 * (JSONL, CSV or Parquet) has an id column (the request id `x-mlops-request-id` returned, or a key column of the
 * served features) and a label column; labels are joined to the served predictions as they arrive, late ones
 * included, and the metrics of each window checked against `metrics` like the gate's.
 */
export const MonitorLabelsSchema = z
  .strictObject({
    prefix: z
      .string()
      .regex(/^(gs|file):\/\/.+\/$/, 'must be a gs:// or file:// prefix ending in "/", e.g. "gs://acme-labels/churn/"'),
    task: z.enum(['classification', 'regression']),
    /** The label files' column holding the request id (or, with `keyColumn`, the key). */
    idColumn: z.string().min(1).default('request_id'),
    /** Join on this served feature instead of the request id: the label files' `idColumn` holds its value. */
    keyColumn: z.string().min(1).optional(),
    labelColumn: z.string().min(1).default('label'),
    /** The positive class for precision, recall, AUC and log loss (as the served label reads, e.g. "1", "yes"). */
    positiveLabel: z.string().default('1'),
    /** Per metric bounds, as the gate's: accuracy, precision, recall, auc, logLoss; rmse, mae. */
    metrics: z
      .partialRecord(
        z.enum(['accuracy', 'precision', 'recall', 'auc', 'logLoss', 'rmse', 'mae']),
        MetricThresholdSchema,
      )
      .refine((m) => Object.keys(m).length > 0, 'name at least one metric bound, e.g. { accuracy: { min: 0.8 } }'),
    /** A window is judged once this many of its predictions have labels. */
    minLabels: z.number().int().positive().default(10),
    /** Consecutive judged windows below the bounds before the model is `quality-degraded`. */
    sustainedWindows: z.number().int().positive().default(2),
    /** How many of the latest windows are re-scored as late labels arrive. */
    lookbackWindows: z.number().int().positive().default(24),
    /** Start a retrain (deduplicated and cooled down like a drift-triggered one) when quality degrades. */
    retrain: z.boolean().default(true),
  })
  .superRefine((labels, ctx) => {
    const allowed =
      labels.task === 'regression' ? ['rmse', 'mae'] : ['accuracy', 'precision', 'recall', 'auc', 'logLoss'];
    for (const name of Object.keys(labels.metrics))
      if (!allowed.includes(name))
        ctx.addIssue({
          code: 'custom',
          path: ['metrics', name],
          input: name,
          message: `is not a ${labels.task} metric: use ${allowed.join(', ')}`,
        });
  });

export const MonitorSpecSchema = z.strictObject({
  /** Log served requests in windows and check them for drift against the training snapshot. */
  enabled: z.boolean().default(false),
  /** Length of a serving window, and how often the monitor checks the latest closed one. */
  window: DurationSchema.prefault('1h'),
  /**
   * Deprecated (0.1 specs, recorded in the history of runs in flight): accepted so that those runs still replay;
   * use `window`. A spec change that rejects older specs breaks replay: test/replay's committed histories catch it.
   */
  interval: DurationSchema.optional(),
  /** Columns to check (default: every declared column except the target). */
  columns: z.array(z.string()).optional(),
  /** Per-column test and threshold overrides; default: Evidently's selection. */
  tests: z
    .record(
      z.string(),
      z.strictObject({
        test: z.enum(['ks', 'chisquare', 'z', 'wasserstein', 'psi', 'jensenshannon', 'kl']),
        threshold: z.number().optional(),
      }),
    )
    .default({}),
  /** Dataset drift when at least this share of the columns drift (Evidently: 0.5). */
  driftShare: z.number().min(0).max(1).default(0.5),
  /** Consecutive drifted windows before a retrain starts. */
  sustainedWindows: z.number().int().positive().default(2),
  /** Least time between two drift-triggered retrains of the model. */
  cooldown: DurationSchema.prefault('6h'),
  /** Model quality once the real outcomes arrive (optional). */
  labels: MonitorLabelsSchema.optional(),
  /**
   * A named step (`defineStep`) called on drift, prediction drift or degraded quality (e.g. a chat webhook), with
   * a `MonitorAlert` as input; its failure is logged, never stops the monitor.
   */
  onAlert: z.strictObject({ step: z.string().min(1) }).optional(),
});

export const RetrainSpecSchema = z.strictObject({
  /**
   * A Temporal Schedule (see `client.schedules.apply`): cron expressions in UTC (unless prefixed `TZ=<zone> `),
   * checked here against the server's grammar so that a typo fails at definition, not at `schedules.apply`.
   */
  cron: z.union([z.string(), z.array(z.string())]).optional(),
  /** Or a fixed interval, e.g. '1d' (a Schedule interval). */
  every: DurationSchema.optional(),
  /** What a scheduled run does while the previous one still runs. */
  overlap: z.enum(['skip', 'buffer-one', 'allow-all', 'cancel-other']).default('skip'),
  /** Start a run when the monitor sees sustained drift (needs monitor.enabled). */
  onDrift: z.boolean().default(false),
  /** Start a run for each new object under this prefix (`gs://bucket/incoming/` or `file:///dir/`), ingesting it. */
  onNewDataPrefix: z
    .string()
    .regex(/^(gs|file):\/\/.+\/$/, 'must be a gs:// or file:// prefix ending in "/", e.g. "gs://acme-data/incoming/"')
    .optional(),
  /** How often the new-data watcher lists the prefix. */
  newDataPoll: DurationSchema.prefault('5m'),
  /** Who the triggered runs are requested by (their approvals then need someone else). */
  requestedBy: z.email().default('retrain-bot@temporal-mlops.dev'),
});

/** A custom step (see `defineStep`) run after a stage; its output is recorded in the run's status. */
export const StepCallSchema = z.strictObject({
  step: z.string().min(1),
  after: z.enum(STAGES),
  input: z.unknown().optional(),
});

export const PipelineSpecSchema = z.strictObject({
  name: SlugSchema,
  /** Registered model name; defaults to the pipeline name. */
  model: SlugSchema.optional(),
  description: z.string().default(''),
  ingest: IngestSpecSchema,
  train: TrainSpecSchema,
  gate: GateSpecSchema,
  register: RegisterSpecSchema.prefault({}),
  approval: ApprovalPolicySchema.prefault({}),
  deploy: DeploySpecSchema.optional(),
  monitor: MonitorSpecSchema.prefault({}),
  retrain: RetrainSpecSchema.prefault({}),
  steps: z.array(StepCallSchema).default([]),
});

/** What a team writes (defaults optional, durations as strings). */
export type PipelineConfig = z.input<typeof PipelineSpecSchema>;
/** The validated, defaulted spec that a run carries (durations in milliseconds). */
export type PipelineSpec = z.output<typeof PipelineSpecSchema>;
export type TrainSpec = z.output<typeof TrainSpecSchema>;
export type GateSpec = z.output<typeof GateSpecSchema>;
export type DeploySpec = z.output<typeof DeploySpecSchema>;
export type MonitorLabelsSpec = z.output<typeof MonitorLabelsSchema>;

/**
 * The rules `definePipeline` adds on top of `PipelineSpecSchema`: an ingest column's `min` above its `max`, a
 * `retrain.cron` the Temporal Schedule parser would refuse, and a shadow stage on a target that cannot mirror. The workflow re-parses a run's recorded spec with
 * `PipelineSpecSchema` alone, so a rule added here never fails the replay of a run already in flight.
 */
export const PipelineDefinitionSchema = PipelineSpecSchema.superRefine((spec, ctx) => {
  for (const [name, column] of Object.entries(spec.ingest.columns)) {
    if (column.min !== undefined && column.max !== undefined && column.min > column.max) {
      ctx.addIssue({
        code: 'custom',
        path: ['ingest', 'columns', name, 'min'],
        input: column.min,
        message: `is above max (${column.max}), so no value could pass: swap the two bounds or fix the wrong one`,
      });
    }
  }
  const backend = spec.train.backend;
  for (const [i, pool] of (backend.kind === 'vertex' ? (backend.workerPools ?? []) : []).entries()) {
    const problem = machineAcceleratorProblem(pool.machineType, pool.accelerator);
    if (problem)
      ctx.addIssue({
        code: 'custom',
        path: ['train', 'backend', 'workerPools', i, ...problem.field.split('.')],
        message: `the ${VERTEX_POOL_ROLES[i]} pool: ${problem.message}`,
      });
  }
  const cron = spec.retrain.cron;
  if (Array.isArray(cron) && cron.length === 0)
    ctx.addIssue({
      code: 'custom',
      path: ['retrain', 'cron'],
      input: cron,
      message: 'give at least one cron expression, or leave cron out',
    });
  for (const [i, expression] of (Array.isArray(cron) ? cron : cron === undefined ? [] : [cron]).entries()) {
    const problem = cronProblem(expression);
    const path = Array.isArray(cron) ? ['retrain', 'cron', i] : ['retrain', 'cron'];
    if (problem) ctx.addIssue({ code: 'custom', path, input: expression, message: problem });
  }
  if (spec.deploy?.rollout?.shadow && spec.deploy.target.kind !== 'local')
    ctx.addIssue({
      code: 'custom',
      path: ['deploy', 'rollout', 'shadow'],
      message: `needs the local target's router, which mirrors requests; ${spec.deploy.target.kind} has none: remove shadow (the skew gate checks the candidate alone)`,
    });
  // A local trial's progress (metrics.jsonl) is read from its job folder by an activity on the pipeline's queue,
  // which a host-bound trial (train.placement) may not share.
  if (spec.train.sweep && spec.train.placement && backend.kind === 'local')
    ctx.addIssue({
      code: 'custom',
      path: ['train', 'placement'],
      message:
        "a sweep on the local backend reads each trial's progress from the pipeline worker's home, so its trials cannot be bound to other machines yet: remove train.placement, or sweep on Kubernetes or Vertex",
    });
});

/**
 * The spec as a run's input carries it: parsed by this schema and stamped with its version, so the workflow need
 * not parse it again (see `./version.ts`). A spec this schema refuses travels as it is, for the workflow to report.
 */
export function runSpecInput(spec: unknown): { spec: PipelineSpec; specVersion?: string } {
  const parsed = PipelineSpecSchema.safeParse(spec);
  return parsed.success ? { spec: parsed.data, specVersion: SPEC_VERSION } : { spec: spec as PipelineSpec };
}
