/**
 * Staged rollout policy of a deploy: traffic steps with a bake time each, the analysis run during the bake,
 * and what a breach does. Sandbox-safe.
 */
import { z } from 'zod';
import { DurationSchema } from '../duration-schema.js';

export const RolloutStepSchema = z.strictObject({
  /** Percent of requests sent to the candidate during this step. */
  traffic: z.number().int().min(1).max(100),
  /** How long the step runs before the next one; default: the rollout's `bake`. */
  bake: DurationSchema.optional(),
});

/** A PromQL query whose value (a scalar or a one-element vector) must stay within min/max. */
export const MetricQuerySchema = z
  .strictObject({
    name: z.string().min(1),
    /** PromQL; `$model`, `$version` and `$window` (e.g. `90s`, the step so far) are substituted. */
    query: z.string().min(1),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .refine((q) => q.min !== undefined || q.max !== undefined, 'give min, max or both');

export const AnalysisSchema = z.strictObject({
  /** Where the numbers come from: the local router's own counters, or a Prometheus server scraping it. */
  source: z
    .union([z.literal('router'), z.strictObject({ prometheus: z.url('must be the Prometheus base URL') })])
    .default('router'),
  /** Highest share of candidate requests answered 5xx (or not at all). */
  maxErrorRate: z.number().min(0).max(1).default(0.01),
  /** Latency limit of the candidate at a percentile, e.g. { percentile: 95, maxMs: 300 }. */
  latency: z
    .strictObject({ percentile: z.number().gt(0).lt(100).default(95), maxMs: z.number().positive() })
    .optional(),
  /**
   * PromQL templates for the candidate's numbers over the step (`$model`, `$version`, `$target` = the traffic
   * target: URL or deployed model id, `$window`); the defaults read the local router's metrics. Give them for
   * other targets, e.g. Cloud Monitoring's PromQL API for a Vertex endpoint.
   */
  metrics: z
    .strictObject({ requests: z.string().min(1), errors: z.string().min(1), latencyMs: z.string().min(1).optional() })
    .optional(),
  /** Custom checks (Prometheus source only). */
  queries: z.array(MetricQuerySchema).default([]),
  /** Fewer candidate requests than this in a step and the analysis is inconclusive: not judged yet. */
  minRequests: z.number().int().min(1).default(20),
  /** How often the analysis runs during a bake. */
  interval: DurationSchema.prefault('10s'),
});

/** Drift statistics the shadow stage can compare the two prediction distributions with (sdk/drift). */
export const SHADOW_DISTANCES = ['jensenshannon', 'psi', 'wasserstein'] as const;

/**
 * The shadow stage, before the canary steps: the router mirrors a share of live requests to the candidate
 * (callers always get the champion's answer) and the two are compared on the same requests. A breach stops the
 * candidate before any user saw it (`ShadowFailed`); a pass goes on to the canary steps. Local target only.
 */
export const ShadowSchema = z.strictObject({
  /** Share of live requests mirrored to the candidate (0 < share ≤ 1). */
  share: z.number().gt(0, 'must be above 0: the share of live requests mirrored, e.g. 0.1').max(1).default(0.1),
  /** How long the stage mirrors before it is judged. */
  duration: DurationSchema.prefault('5m'),
  /** How often the comparison is updated (the status shows it; a conclusive breach stops the stage early). */
  interval: DurationSchema.prefault('10s'),
  /** Fewer mirrored requests than this and the comparison is inconclusive; at the end of the stage, a breach. */
  minRequests: z.number().int().min(1).default(50),
  /** Highest share of mirrored requests the candidate answers 5xx (or not at all). */
  maxErrorRate: z.number().min(0).max(1).default(0.01),
  /** Lowest share of predictions on which the candidate agrees with the champion. */
  minAgreement: z.number().min(0).max(1).default(0.99),
  /**
   * Two predictions agree when their class labels are equal (when they have labels) and every score differs by
   * at most this much.
   */
  tolerance: z.number().min(0).default(1e-6),
  /** Highest ratio of the candidate's latency to the champion's at a percentile, e.g. { percentile: 95, maxRatio: 2 }. */
  latency: z
    .strictObject({ percentile: z.number().gt(0).lt(100).default(95), maxRatio: z.number().positive() })
    .optional(),
  /** Highest distance between the two prediction distributions (scores, else class labels). */
  distribution: z
    .strictObject({
      test: z.enum(SHADOW_DISTANCES).default('jensenshannon'),
      /** Default: the test's drift threshold in sdk/drift (0.1 for all three). */
      threshold: z.number().positive().optional(),
    })
    .prefault({}),
});

export const RolloutSchema = z
  .strictObject({
    steps: z
      .array(RolloutStepSchema)
      .min(1)
      .default([{ traffic: 10 }, { traffic: 50 }, { traffic: 100 }])
      .refine(
        (s) => s.every((step, i) => i === 0 || step.traffic > s[i - 1]!.traffic),
        'traffic must increase step by step',
      )
      .refine((s) => s.at(-1)!.traffic === 100, 'the last step must send 100 % of traffic to the candidate'),
    bake: DurationSchema.prefault('5m'),
    analysis: AnalysisSchema.prefault({}),
    /** Failed analyses tolerated over the whole rollout before it counts as a breach. */
    failuresTolerated: z.number().int().min(0).default(0),
    /**
     * On a breach: restore the champion's traffic and fail with DeployRolledBack (`rollback`), or hold the
     * current split and wait for a decision through the approval Signals/Updates (`pause`): approve continues
     * the rollout, reject or the approval timeout rolls back. The pipeline's approval policy applies.
     */
    onBreach: z.enum(['rollback', 'pause']).default('rollback'),
    /** Mirror live requests to the candidate before the canary steps (see ShadowSchema); off when absent. */
    shadow: ShadowSchema.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.analysis.source === 'router' && r.analysis.queries.length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['analysis', 'queries'],
        message: 'custom queries need a Prometheus source: set analysis.source to { prometheus: "http://..." }',
      });
  });

export type Rollout = z.output<typeof RolloutSchema>;
export type AnalysisSpec = z.output<typeof AnalysisSchema>;
export type ShadowSpec = z.output<typeof ShadowSchema>;
