/**
 * Training backends as tagged descriptors, checked by one discriminated union. Sandbox-safe.
 * `local` runs now; `vertex` and `kubernetes` are validated here and their launchers fail with
 * `BackendNotAvailable` until they ship.
 */
import { z } from 'zod';
import { DurationSchema } from '../duration.js';
import { CommandSchema, PassEnvSchema, SafeEnvSchema } from './common.js';

export const LocalBackendSchema = z.strictObject({
  kind: z.literal('local'),
  /** The training command, run as a subprocess that follows the training job contract. */
  command: CommandSchema,
  /** Working directory, absolute or relative to the worker's cwd. */
  cwd: z.string().optional(),
  env: SafeEnvSchema.default({}),
  passEnv: PassEnvSchema,
});

/** Vertex AI accelerator types (aiplatform v1 `AcceleratorType`) and the counts a replica may request. */
export const VERTEX_ACCELERATORS = {
  NVIDIA_TESLA_T4: [1, 2, 4],
  NVIDIA_TESLA_V100: [1, 2, 4, 8],
  NVIDIA_TESLA_P100: [1, 2, 4],
  NVIDIA_TESLA_P4: [1, 2, 4],
  NVIDIA_L4: [1, 2, 4, 8],
  NVIDIA_TESLA_A100: [1, 2, 4, 8, 16],
  NVIDIA_A100_80GB: [1, 2, 4, 8],
  NVIDIA_H100_80GB: [1, 2, 4, 8],
  NVIDIA_H100_MEGA_80GB: [8],
  NVIDIA_H200_141GB: [8],
  NVIDIA_B200: [8],
} as const satisfies Record<string, readonly number[]>;

const acceleratorTypes = Object.keys(VERTEX_ACCELERATORS) as [
  keyof typeof VERTEX_ACCELERATORS,
  ...(keyof typeof VERTEX_ACCELERATORS)[],
];

export const VertexBackendSchema = z
  .strictObject({
    kind: z.literal('vertex'),
    project: z.string().min(1, 'is required: the Google Cloud project id'),
    region: z.string().regex(/^[a-z]+-[a-z]+\d+$/, 'must be a Vertex region such as "us-central1"'),
    image: z.string().min(1, 'is required: the training container image URI'),
    command: CommandSchema.optional(),
    args: z.array(z.string()).default([]),
    env: SafeEnvSchema.default({}),
    machineType: z.string().default('n1-standard-8'),
    accelerator: z.strictObject({ type: z.enum(acceleratorTypes), count: z.number().int().positive() }).optional(),
    scheduling: z.enum(['standard', 'spot', 'flex-start']).default('standard'),
    /** With spot: after this many preemptions, further attempts run on standard (on-demand) capacity. */
    spotFallbackAfter: z.number().int().min(0).optional(),
    /** Preemptions tolerated (each starts a new job from the checkpoints) before the step fails with Preempted. */
    maxPreemptions: z.number().int().min(0).default(3),
    bootDiskGb: z.number().int().min(10).default(100),
    network: z.string().optional(),
    timeout: DurationSchema.prefault('7d'),
    baseOutputDirectory: z
      .string()
      .regex(/^gs:\/\//, 'must be a gs:// URI')
      .optional(),
    serviceAccount: z.string().optional(),
    labels: z.record(z.string(), z.string()).default({}),
  })
  .superRefine((spec, ctx) => {
    if (!spec.accelerator) return;
    const allowed: readonly number[] = VERTEX_ACCELERATORS[spec.accelerator.type];
    if (!allowed.includes(spec.accelerator.count)) {
      ctx.addIssue({
        code: 'custom',
        path: ['accelerator', 'count'],
        message: `${spec.accelerator.type} takes ${allowed.join(', ')} per replica; got ${spec.accelerator.count}`,
      });
    }
  });

export const KubernetesBackendSchema = z.strictObject({
  kind: z.literal('kubernetes'),
  namespace: z.string().default('default'),
  image: z.string().min(1, 'is required: the training container image'),
  command: CommandSchema.optional(),
  args: z.array(z.string()).default([]),
  env: SafeEnvSchema.default({}),
  gpus: z.number().int().min(0).max(16).default(0),
  nodeSelector: z.record(z.string(), z.string()).default({}),
  serviceAccount: z.string().optional(),
  backoffLimit: z.number().int().min(0).default(0),
  activeDeadline: DurationSchema.optional(),
});

export const TrainingBackendSchema = z.discriminatedUnion('kind', [
  LocalBackendSchema,
  VertexBackendSchema,
  KubernetesBackendSchema,
]);

export type LocalBackend = z.output<typeof LocalBackendSchema>;
export type VertexBackend = z.output<typeof VertexBackendSchema>;
export type KubernetesBackend = z.output<typeof KubernetesBackendSchema>;
export type TrainingBackend = z.output<typeof TrainingBackendSchema>;
