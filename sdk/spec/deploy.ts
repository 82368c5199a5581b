/** Deploy targets as tagged descriptors. Sandbox-safe. */
import { z } from 'zod';
import { DurationSchema } from '../duration.js';
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

export const DeployTargetSchema = z.discriminatedUnion('kind', [LocalServerTargetSchema, VertexEndpointTargetSchema]);

export type LocalServerTarget = z.output<typeof LocalServerTargetSchema>;
export type VertexEndpointTarget = z.output<typeof VertexEndpointTargetSchema>;
export type DeployTarget = z.output<typeof DeployTargetSchema>;
