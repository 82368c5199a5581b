/** Deploy targets as tagged descriptors. Sandbox-safe. */
import { z } from 'zod';
import { DurationSchema } from '../duration-schema.js';
import { CommandSchema, PassEnvSchema, SafeEnvSchema } from './common.js';

/**
 * A model server started on this machine with Vertex AI's serving contract (`AIP_HTTP_PORT`,
 * `AIP_PREDICT_ROUTE`, `AIP_HEALTH_ROUTE`, `AIP_STORAGE_URI`).
 */
export const LocalServerTargetSchema = z.strictObject({
  kind: z.literal('local'),
  command: CommandSchema,
  cwd: z.string().optional(),
  env: SafeEnvSchema.default({}),
  passEnv: PassEnvSchema,
  /** 0 picks a free port. */
  port: z.number().int().min(0).max(65535).default(0),
  predictRoute: z.string().startsWith('/').default('/predict'),
  healthRoute: z.string().startsWith('/').default('/health'),
  healthTimeout: DurationSchema.prefault('60s'),
});

/**
 * A Vertex AI Endpoint: the version's artifacts (on a gs:// registry) are uploaded as a Model with a serving
 * container, deployed to the endpoint with a traffic split, and moved by the rollout's steps.
 */
export const VertexEndpointTargetSchema = z.strictObject({
  kind: z.literal('vertex-endpoint'),
  project: z.string().min(1, 'is required: the Google Cloud project id'),
  region: z.string().regex(/^[a-z]+-[a-z]+\d+$/, 'must be a Vertex region such as "us-central1"'),
  /** Endpoint display name; created when no endpoint of that name exists. */
  endpoint: z.string().min(1, 'is required: the endpoint display name'),
  /** Serving container image (Vertex's serving contract: AIP_HTTP_PORT, AIP_PREDICT_ROUTE, AIP_HEALTH_ROUTE). */
  servingImage: z.string().min(1, 'is required: the serving container image URI'),
  predictRoute: z.string().startsWith('/').default('/predict'),
  healthRoute: z.string().startsWith('/').default('/health'),
  env: SafeEnvSchema.default({}),
  machineType: z.string().default('n1-standard-4'),
  minReplicas: z.number().int().min(1).default(1),
  maxReplicas: z.number().int().min(1).default(1),
  serviceAccount: z.string().optional(),
  /** How long deploying the candidate (model ready) may take. */
  healthTimeout: DurationSchema.prefault('30m'),
});

/**
 * A KServe InferenceService on Kubernetes: the version's gs:// artifacts become `spec.predictor.model.storageUri`
 * and a rollout moves `spec.predictor.canaryTrafficPercent` (KServe keeps the previously rolled-out revision
 * serving the rest). Chosen over a Deployment pair with Gateway API weights: one object holds both revisions,
 * the split and their readiness, and KServe already runs Vertex-style model servers.
 */
export const KServeTargetSchema = z.strictObject({
  kind: z.literal('kserve'),
  /** kubeconfig context; default: the current one, or in-cluster credentials. */
  context: z.string().optional(),
  namespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes namespace name')
    .default('default'),
  /** InferenceService name; default: the model name. */
  name: z
    .string()
    .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1035 label (lowercase, digits, "-")')
    .optional(),
  /** e.g. 'sklearn', 'xgboost', 'pytorch', 'onnx'. */
  modelFormat: z.string().min(1, 'is required: the model format KServe picks a runtime for'),
  runtime: z.string().optional(),
  serviceAccount: z.string().optional(),
  /**
   * KServe's payload logger (`spec.predictor.logger`, `mode: all`): every request and response goes as a
   * CloudEvent to `url`, a `temporal-mlops collect` that writes the monitor's windows. The served version reaches
   * the events through `metadataAnnotations`.
   */
  logger: z
    .strictObject({
      url: z.url({ message: 'must be the URL of a temporal-mlops collect, e.g. "http://mlops-collect.monitoring"' }),
      /** Request headers forwarded in the events' `metadata`. */
      metadataHeaders: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  /** How long the candidate's revision may take to become ready. */
  healthTimeout: DurationSchema.prefault('10m'),
});

/**
 * The skew gate: after the candidate is healthy and before any traffic moves, the training job's offline
 * predictions (`predictions.jsonl`) are replayed through the candidate's own serving endpoint and compared with
 * what it answers. A breach fails the run with `SkewDetected`; the candidate is stopped.
 */
export const SkewSpecSchema = z.strictObject({
  /** How many evaluation rows to replay: a seeded sample (every row when there are fewer). */
  sample: z.number().int().positive().default(200),
  /** Seed of the sample, so a rerun replays the same rows. */
  seed: z.number().int().default(0),
  /** Lowest share of rows whose served class label equals the offline one. */
  minAgreement: z.number().min(0).max(1).default(1),
  /** Largest absolute difference allowed between a served and an offline score or value. */
  maxAbsDiff: z.number().min(0).default(1e-6),
  /** Fail when the training job wrote no predictions.jsonl (default: the gate reports itself skipped). */
  required: z.boolean().default(false),
  /** How many of the worst rows the report shows. */
  worst: z.number().int().min(1).max(100).default(5),
  /** On a breach, look for the cause with a few more requests to the candidate (feature order, scaling, float32). */
  diagnose: z.boolean().default(true),
});

export type SkewSpec = z.output<typeof SkewSpecSchema>;

export const DeployTargetSchema = z.discriminatedUnion('kind', [
  LocalServerTargetSchema,
  VertexEndpointTargetSchema,
  KServeTargetSchema,
]);

export type LocalServerTarget = z.output<typeof LocalServerTargetSchema>;
export type VertexEndpointTarget = z.output<typeof VertexEndpointTargetSchema>;
export type KServeTarget = z.output<typeof KServeTargetSchema>;
export type DeployTarget = z.output<typeof DeployTargetSchema>;

/** The deploy's target when it is of `kind` (activities serving one kind call this); throws otherwise. */
export function targetOf<K extends DeployTarget['kind']>(
  deploy: { target: DeployTarget },
  kind: K,
): Extract<DeployTarget, { kind: K }> {
  if (deploy.target.kind !== kind) throw new Error(`deploy target ${deploy.target.kind} is not ${kind}`);
  return deploy.target as Extract<DeployTarget, { kind: K }>;
}
