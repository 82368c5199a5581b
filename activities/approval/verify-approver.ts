/**
 * The `verifyApprover` activity: checks the proof a decision carries when the policy's identity is `verified`.
 * An ID token is read from the registry store by the hash the decision names (the token never enters history),
 * checked against the spec's issuers and deleted; a codec server assertion is checked against its JWKS.
 * A bad proof is an answer (`refused`), not a failure; only an unreachable store or issuer fails (and retries).
 */
import type { ObjectStore } from '../../registry/object-store.js';
import {
  IdentityRefused,
  idTokenObjectKey,
  sha256Hex,
  verifyAssertion,
  verifyIdToken,
  type StoredIdToken,
} from '../../sdk/approval-identity.js';
import type { VerifiedIdentity } from '../../sdk/run-types.js';
import type { ApprovalProof, IdentityIssuer } from '../../sdk/spec/approval.js';

/** The activity's input, as the approval gate sends it (recorded in histories: keep its shape). */
export interface VerifyApproverInput {
  decision: 'approve' | 'reject';
  /** Lowercase email the decision names. */
  by: string;
  comment: string;
  proof: Exclude<ApprovalProof, { refused: string }>;
  issuers: IdentityIssuer[];
  /** The registry store the client put the ID token in (`register.store`; the worker's default when absent). */
  store?: string;
}

/** Verified: who, and the key that makes the proof single-use in the run. Refused: why. */
export type VerifyApproverResult = { identity: VerifiedIdentity; replayKey: string } | { refused: string };

/** Verifies one decision's proof for the run `workflowId`. */
export async function verifyApprover(
  store: ObjectStore,
  workflowId: string,
  input: VerifyApproverInput,
): Promise<VerifyApproverResult> {
  try {
    if ('assertion' in input.proof) {
      const { identity, id } = await verifyAssertion(input.proof.assertion, input.by, input.comment, input.issuers);
      return { identity, replayKey: `assertion:${id}` };
    }
    const hash = input.proof.idTokenSha256;
    const key = idTokenObjectKey(workflowId, hash);
    const stored = await store.get(key);
    if (!stored) {
      throw new IdentityRefused(
        `no token: nothing under ${store.uri(key)}; the client must put the ID token in the registry store the workers use (MLOPS_STORE or register.store) before sending the decision`,
      );
    }
    await store.delete(key);
    const { token, decision, by, comment } = JSON.parse(stored.data.toString('utf8')) as StoredIdToken;
    if (sha256Hex(token) !== hash) throw new IdentityRefused(`tampered: the stored token's sha256 is not ${hash}`);
    if (decision !== input.decision || by.toLowerCase() !== input.by || comment !== input.comment) {
      throw new IdentityRefused(
        `token stored for another decision: it was put there for ${decision} by ${by}, not ${input.decision} by ${input.by} with this comment`,
      );
    }
    const identity = await verifyIdToken(token, input.by, input.issuers);
    return { identity, replayKey: `token:${hash}` };
  } catch (err) {
    if (err instanceof IdentityRefused) return { refused: err.message };
    throw err;
  }
}
