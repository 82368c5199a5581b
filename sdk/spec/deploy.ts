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

export const DeployTargetSchema = z.discriminatedUnion('kind', [LocalServerTargetSchema]);

export type LocalServerTarget = z.output<typeof LocalServerTargetSchema>;
export type DeployTarget = z.output<typeof DeployTargetSchema>;
