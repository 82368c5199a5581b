/**
 * `train.sweep`: a hyperparameter search whose trials are training jobs on the pipeline's own backend. Grid,
 * seeded random, or ASHA (seeded random sampling with asynchronous successive halving, which stops trials whose
 * reported intermediate metric falls behind at a rung). Sandbox-safe.
 */
import { z } from 'zod';
import { DurationSchema } from '../duration-schema.js';

const ScalarSchema = z.union([z.string(), z.number(), z.boolean()]);

/** One parameter's domain: a list of values, or a numeric range (uniform on a linear or log scale). */
export const ParamDomainSchema = z.union([
  z.strictObject({ values: z.array(ScalarSchema).min(1, 'give at least one value') }),
  z
    .strictObject({
      min: z.number(),
      max: z.number(),
      scale: z.enum(['linear', 'log']).default('linear'),
      /** Draw integers in [min, max]. */
      integer: z.boolean().default(false),
    })
    .superRefine((d, ctx) => {
      if (d.min >= d.max) ctx.addIssue({ code: 'custom', path: ['min'], message: `must be below max (${d.max})` });
      if (d.scale === 'log' && d.min <= 0)
        ctx.addIssue({ code: 'custom', path: ['min'], message: 'must be above 0 on a log scale' });
    }),
]);

/** ASHA's rungs: `minSteps * reductionFactor^k`, below `maxSteps` when given. */
export const AshaSchema = z.strictObject({
  /** The first rung: the step at which trials are first compared. */
  minSteps: z.number().positive().default(1),
  /** Keep the best 1/reductionFactor of the trials recorded at a rung (at least one). */
  reductionFactor: z.number().int().min(2).default(3),
  /** The steps a full trial runs; rungs stop below it. */
  maxSteps: z.number().positive().optional(),
});

export const SweepSpecSchema = z
  .strictObject({
    method: z.enum(['grid', 'random', 'asha']),
    /** Parameter name → domain; each trial's parameters override `train.params`. */
    space: z
      .record(z.string().min(1), ParamDomainSchema)
      .refine((s) => Object.keys(s).length > 0, 'name at least one parameter, e.g. { lr: { min: 1e-4, max: 1e-1 } }'),
    /** Trial budget. Grid: default every combination; random and asha: required. */
    trials: z.number().int().positive().max(1000).optional(),
    /** Trials running at once. */
    parallelism: z.number().int().positive().max(100).default(1),
    /** Seed of random and asha sampling: the same seed draws the same trials. */
    seed: z.number().int().default(0),
    /** The metric to optimise: a key of the job's metrics.json (and of its metrics.jsonl lines for asha). */
    metric: z.string().min(1, 'is required: the metric to optimise, e.g. "auc"'),
    direction: z.enum(['maximize', 'minimize']).default('maximize'),
    asha: AshaSchema.optional(),
    /** asha: how often the workflow reads the running trials' reported metrics. */
    progressPoll: DurationSchema.prefault('30s'),
  })
  .superRefine((s, ctx) => {
    if (s.method === 'grid') {
      for (const [name, domain] of Object.entries(s.space)) {
        if (!('values' in domain))
          ctx.addIssue({
            code: 'custom',
            path: ['space', name],
            message: 'a grid needs a list of values: { values: [...] } (ranges suit method "random" or "asha")',
          });
      }
    } else if (s.trials === undefined) {
      ctx.addIssue({ code: 'custom', path: ['trials'], message: `is required with method "${s.method}"` });
    }
    if (s.asha && s.method !== 'asha')
      ctx.addIssue({ code: 'custom', path: ['asha'], message: 'applies to method "asha" only' });
    if (s.asha?.maxSteps !== undefined && s.asha.maxSteps <= s.asha.minSteps)
      ctx.addIssue({ code: 'custom', path: ['asha', 'maxSteps'], message: 'must be above minSteps' });
  });

export type SweepConfig = z.input<typeof SweepSpecSchema>;
export type SweepSpec = z.output<typeof SweepSpecSchema>;
export type ParamDomain = z.output<typeof ParamDomainSchema>;
