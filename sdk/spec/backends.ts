/**
 * Training backends as tagged descriptors, checked by one discriminated union. Sandbox-safe.
 * `local` runs a process on the worker's machine; `vertex` a Vertex AI CustomJob; `kubernetes` a batch/v1 Job.
 */
import { z } from 'zod';
import { DurationSchema } from '../duration-schema.js';
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

const AcceleratorSchema = z.strictObject({ type: z.enum(acceleratorTypes), count: z.number().int().positive() });

/** The roles of Vertex's worker pools, in order (CustomJobSpec.workerPoolSpecs). */
export const VERTEX_POOL_ROLES = ['chief', 'workers', 'parameter servers', 'evaluators'] as const;

/** One Vertex worker pool: its machines and how many replicas. */
export const VertexWorkerPoolSchema = z.strictObject({
  machineType: z.string().min(1, 'is required, e.g. "a2-highgpu-8g"'),
  accelerator: AcceleratorSchema.optional(),
  replicaCount: z.number().int().positive().max(1000).default(1),
  bootDiskGb: z.number().int().min(10).optional(),
});

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
    accelerator: AcceleratorSchema.optional(),
    /**
     * A multi-node job: the chief pool (one replica), then the workers (and optionally parameter servers and
     * evaluators), each with its machine, accelerators and replica count. Replaces machineType and accelerator.
     */
    workerPools: z.array(VertexWorkerPoolSchema).min(1).max(4).optional(),
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
    for (const [i, pool] of (spec.workerPools ?? []).entries()) {
      const role = VERTEX_POOL_ROLES[i];
      if (i === 0 && pool.replicaCount !== 1)
        ctx.addIssue({
          code: 'custom',
          path: ['workerPools', 0, 'replicaCount'],
          message: `the chief pool runs exactly 1 replica; put the other ${pool.replicaCount - 1} in workerPools[1] (workers)`,
        });
      const allowed: readonly number[] | undefined = pool.accelerator && VERTEX_ACCELERATORS[pool.accelerator.type];
      if (pool.accelerator && allowed && !allowed.includes(pool.accelerator.count))
        ctx.addIssue({
          code: 'custom',
          path: ['workerPools', i, 'accelerator', 'count'],
          message: `the ${role} pool: ${pool.accelerator.type} takes ${allowed.join(', ')} per replica; got ${pool.accelerator.count}`,
        });
    }
    if (spec.workerPools && spec.accelerator)
      ctx.addIssue({
        code: 'custom',
        path: ['accelerator'],
        message: 'give accelerators per pool in workerPools, not beside them',
      });
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

const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QuantitySchema = z
  .string()
  .regex(/^\d+(\.\d+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$/, 'must be a Kubernetes quantity such as "4", "500m" or "16Gi"');

export const TolerationSchema = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).default('Equal'),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
});

export const KubernetesBackendSchema = z.strictObject({
  kind: z.literal('kubernetes'),
  /** kubeconfig context to use; default: the current context, or in-cluster credentials in a pod. */
  context: z.string().optional(),
  namespace: z
    .string()
    .regex(K8S_NAME, 'must be a Kubernetes namespace name (lowercase, digits, "-")')
    .default('default'),
  image: z.string().min(1, 'is required: the training container image'),
  command: CommandSchema.optional(),
  args: z.array(z.string()).default([]),
  env: SafeEnvSchema.default({}),
  /**
   * Pods of one multi-node job: above 1, an indexed Job with a headless Service, each pod given the torchrun
   * rendezvous variables (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK).
   */
  replicas: z.number().int().min(1).max(512).default(1),
  /** Rank 0's rendezvous port (MASTER_PORT) of a multi-node job. */
  masterPort: z.number().int().min(1).max(65535).default(29500),
  /** GPUs per pod, requested as the extended resource `gpuResource`. */
  gpus: z.number().int().min(0).max(16).default(0),
  gpuResource: z.string().default('nvidia.com/gpu'),
  cpu: QuantitySchema.optional(),
  memory: QuantitySchema.optional(),
  /** e.g. { 'cloud.google.com/gke-accelerator': 'nvidia-l4' } */
  nodeSelector: z.record(z.string(), z.string()).default({}),
  tolerations: z.array(TolerationSchema).default([]),
  serviceAccount: z.string().optional(),
  /** Pod failures other than user-code exits and disruptions tolerated by the Job controller. */
  backoffLimit: z.number().int().min(0).default(0),
  /** Disruptions (eviction, preemption, node loss) tolerated; each gets a new pod from the checkpoints. */
  maxPreemptions: z.number().int().min(0).default(3),
  activeDeadline: DurationSchema.optional(),
  /** How long the finished Job is kept for inspection before Kubernetes deletes it. */
  ttlAfterFinished: DurationSchema.prefault('1d'),
  /** Kueue LocalQueue: sets the `kueue.x-k8s.io/queue-name` label so Kueue admits the Job. */
  kueueQueue: z.string().optional(),
  /** gs:// directory for the job's outputs (AIP_MODEL_DIR etc.); default: under a gs:// register.store. */
  baseOutputDirectory: z
    .string()
    .regex(/^gs:\/\//, 'must be a gs:// URI')
    .optional(),
  labels: z.record(z.string(), z.string()).default({}),
  annotations: z.record(z.string(), z.string()).default({}),
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
