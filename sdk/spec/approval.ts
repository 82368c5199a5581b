/** The human approval stage: who may decide, how many must agree, and what happens when nobody does. Sandbox-safe. */
import { z } from 'zod';
import { DurationSchema } from '../duration-schema.js';
import { expandApprovers } from './approvers.js';

export { expandApprovers } from './approvers.js';

const Email = z.email('must be an email address such as "ana@acme.com"');
/** An approver: an email, or `group:<name>` naming an entry of `approval.groups`. */
const ApproverSchema = z.union([Email, z.string().regex(/^group:[a-z][a-z0-9-]*$/)], {
  error: 'must be an email ("ana@acme.com") or a group reference ("group:ml-leads")',
});

export const EscalationSchema = z.strictObject({
  /** Who decides once the first timeout has passed (emails or groups). */
  approvers: z.array(ApproverSchema).min(1, 'name at least one escalation approver'),
  quorum: z.number().int().positive().default(1),
  timeout: DurationSchema.prefault('1d'),
});

/** An OIDC issuer whose tokens prove an approver's identity (references only: URLs and audiences, no secrets). */
export const IdentityIssuerSchema = z.strictObject({
  /** The tokens' `iss`, exactly: an OIDC issuer URL such as "https://accounts.google.com", or the codec server's name. */
  issuer: z.string().min(1, 'must be the tokens\' iss, e.g. "https://accounts.google.com"'),
  /** Accepted `aud` values: the OAuth client id the tokens are minted for (one or more). */
  audiences: z.array(z.string().min(1)).min(1, 'name at least one audience (the OAuth client id of the tokens)'),
  /** The issuer's JWKS; default: `jwks_uri` of `<issuer>/.well-known/openid-configuration`. */
  jwksUri: z.url().optional(),
  /**
   * `oidc`: the approver's own ID token (CLI, SDK). `codec-server`: identity assertions the codec server signs
   * for Web UI decisions after it verified the UI's token; `jwksUri` is the codec server's `/.well-known/jwks.json`.
   */
  kind: z.enum(['oidc', 'codec-server']).default('oidc'),
});

export const ApprovalPolicySchema = z
  .strictObject({
    /**
     * `declared`: the `by` a person sends is taken as given (local use). `verified`: a decision counts only with
     * proof that `by` sent it (an OIDC ID token, or the codec server's assertion for the Web UI); see README.
     */
    identity: z.enum(['declared', 'verified']).default('declared'),
    /** Who may vouch for an approver's identity when `identity` is `verified`. */
    issuers: z.array(IdentityIssuerSchema).default([]),
    /** false skips the human gate (development pipelines); the decision is recorded as not required. */
    required: z.boolean().default(true),
    /** Who may approve or reject (emails or `group:<name>`); empty means anyone who names themselves. */
    approvers: z.array(ApproverSchema).default([]),
    /** Named lists of emails that `approvers` can reference as `group:<name>`. */
    groups: z
      .record(z.string().regex(/^[a-z][a-z0-9-]*$/, 'group names are lowercase, e.g. "ml-leads"'), z.array(Email))
      .default({}),
    /** Distinct people who must approve; one person counts once. Any accepted reject vetoes. */
    quorum: z.number().int().positive().default(1),
    /** The run's requester may not decide on their own model. */
    separationOfDuties: z.boolean().default(true),
    timeout: DurationSchema.prefault('7d'),
    /** `reject` ends the run with ApprovalTimedOut; `escalate` hands the decision once to `escalation`. */
    onTimeout: z.enum(['reject', 'escalate']).default('reject'),
    escalation: EscalationSchema.optional(),
    /** A custom step (see defineStep) called once when half the timeout has passed without a decision. */
    reminder: z.strictObject({ step: z.string().min(1) }).optional(),
  })
  .superRefine((policy, ctx) => {
    const checkGroups = (list: string[], path: string) =>
      list.forEach((a, i) => {
        if (a.startsWith('group:') && !(a.slice(6) in policy.groups)) {
          ctx.addIssue({
            code: 'custom',
            path: [path, i],
            message: `"${a}" names no group; define it under approval.groups`,
          });
        }
      });
    checkGroups(policy.approvers, 'approvers');
    if (policy.escalation) checkGroups(policy.escalation.approvers, 'escalation');
    const allowed = expandApprovers(policy.approvers, policy.groups);
    if (allowed.length > 0 && policy.quorum > allowed.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['quorum'],
        message: `needs ${policy.quorum} approvals but only ${allowed.length} approvers are allowed; lower quorum or add approvers`,
      });
    }
    if (policy.identity === 'verified' && policy.issuers.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['issuers'],
        message:
          "needs at least one issuer when identity is 'verified', e.g. [{ issuer: 'https://accounts.google.com', audiences: ['<client id>'] }]",
      });
    }
    policy.issuers.forEach((issuer, i) => {
      if (issuer.kind === 'codec-server' && !issuer.jwksUri) {
        ctx.addIssue({
          code: 'custom',
          path: ['issuers', i, 'jwksUri'],
          message: "is required for kind 'codec-server': the codec server's https://…/.well-known/jwks.json",
        });
      }
    });
    if (policy.onTimeout === 'escalate' && !policy.escalation) {
      ctx.addIssue({
        code: 'custom',
        path: ['escalation'],
        message: "is required when onTimeout is 'escalate': give { approvers: [...], timeout: '1d' }",
      });
    }
  });

/**
 * Proof of who sent a decision. Never the token itself: `idTokenSha256` names an ID token the client put in the
 * registry store for the worker to verify; `assertion` is the codec server's short-lived signed statement.
 */
export const ApprovalProofSchema = z.union([
  z.strictObject({ idTokenSha256: z.string().regex(/^[0-9a-f]{64}$/, "must be the token's sha256 in hex") }),
  z.strictObject({ assertion: z.string().min(1).max(8000) }),
  /** Set by the codec server when it could not vouch for the Web UI user (audited as the refusal's reason). */
  z.strictObject({ refused: z.string().max(500) }),
]);

/** The one JSON argument of the `approve` / `reject` Signals and Updates. */
export const ApprovalPayloadSchema = z.strictObject({
  by: Email,
  comment: z.string().max(2000).default(''),
  proof: ApprovalProofSchema.optional(),
});

export type ApprovalPolicy = z.output<typeof ApprovalPolicySchema>;
export type ApprovalPayload = z.output<typeof ApprovalPayloadSchema>;
export type ApprovalProof = z.output<typeof ApprovalProofSchema>;
export type IdentityIssuer = z.output<typeof IdentityIssuerSchema>;
