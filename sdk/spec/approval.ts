/** The human approval stage: who may decide and how long a run waits. Sandbox-safe. */
import { z } from 'zod';
import { DurationSchema } from '../duration.js';

const Email = z.email('must be an email address such as "ana@acme.com"');

export const ApprovalPolicySchema = z
  .strictObject({
    /** false skips the human gate (development pipelines); the decision is recorded as automatic. */
    required: z.boolean().default(true),
    /** Who may approve or reject; empty means anyone who names themselves in the payload. */
    approvers: z.array(Email).default([]),
    /** Distinct approvals needed. */
    quorum: z.number().int().positive().default(1),
    /** The run's requester may not approve their own model. */
    separationOfDuties: z.boolean().default(true),
    timeout: DurationSchema.prefault('7d'),
    onTimeout: z.literal('reject').default('reject'),
  })
  .superRefine((policy, ctx) => {
    if (policy.approvers.length > 0 && policy.quorum > policy.approvers.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['quorum'],
        message: `needs ${policy.quorum} approvals but only ${policy.approvers.length} approvers are allowed; lower quorum or add approvers`,
      });
    }
  });

/** The one JSON argument of the `approve` / `reject` Signals and Updates. */
export const ApprovalPayloadSchema = z.strictObject({
  by: Email,
  comment: z.string().max(2000).default(''),
});

export type ApprovalPolicy = z.output<typeof ApprovalPolicySchema>;
export type ApprovalPayload = z.output<typeof ApprovalPayloadSchema>;
