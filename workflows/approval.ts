/**
 * The approval gate. Decisions arrive as Signals (the Web UI's "Send a Signal") or Updates (SDK and CLI, which
 * get an immediate answer), each with one JSON argument `{ by, comment }`, and are checked against the spec's
 * policy: allowed approvers and groups, quorum, separation of duties, reject veto, timeout, escalation.
 * Every attempt, accepted or refused, goes into the audit trail; nothing a person sends can fail the run.
 *
 * Refusals happen in the Update *handler*, not its validator, on purpose: a validator's rejection leaves no
 * trace in history, and the audit trail must show refused attempts too. The validator only turns away
 * decisions on pipelines that need none.
 *
 * With `identity: 'verified'` the handlers are asynchronous: each decision's proof (the hash of an ID token the
 * client put in the registry store, or the codec server's assertion) is checked by the `verifyApprover` activity,
 * and a proof counts once per run. With `declared` the handlers are the synchronous ones they always were, so
 * recorded histories replay with the same commands.
 */
import { ApplicationFailure, condition, proxyActivities, setHandler } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import type { ApprovalPolicy } from '../sdk/spec/approval.js';
import { expandApprovers } from '../sdk/spec/approvers.js';
import { approvalSchemas } from './pipeline/lazy-schemas.js';
import type { ApprovalAttempt, ApprovalEntry, ApprovalRecord, VerifiedIdentity } from '../sdk/run-types.js';
import { approveSignal, approveUpdate, rejectSignal, rejectUpdate } from './messages.js';

const PAYLOAD_HELP = 'One JSON argument: {"by": "you@company.com", "comment": "why"}.';
const PROOF_HELP =
  "approval.identity is 'verified': send the decision with your ID token (temporal-mlops approve --id-token-file FILE, or client.approve(run, payload, { idToken })), or from the Web UI through a codec server that vouches for you";

const { verifyApprover } = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3, initialInterval: '1s' },
});

type Decision = ApprovalAttempt['decision'];
type Entry = ApprovalEntry;

/** Collects decisions for one run; `wait()` opens the gate and returns the outcome. */
export class ApprovalGate {
  readonly attempts: ApprovalAttempt[] = [];
  deadline?: string;
  escalated?: ApprovalRecord['escalated'];
  private remindedAt?: string;
  private readonly approvals = new Map<string, Entry>();
  private rejection?: Entry;
  private state: 'not-open' | 'open' | 'closed' = 'not-open';
  private readonly firstApprovers: string[];
  /** Proofs (token hashes, assertion ids) that already decided in this run, and when. */
  private readonly usedProofs = new Map<string, string>();

  constructor(
    private readonly policy: ApprovalPolicy,
    private readonly requestedBy: string,
    /** The registry store clients put ID tokens in (`register.store`; the worker's default when absent). */
    private readonly store?: string,
  ) {
    this.firstApprovers = expandApprovers(policy.approvers, policy.groups);
  }

  /** Registers the handlers; call at workflow start so early decisions are recorded (and refused), not lost. */
  install(): void {
    if (this.policy.identity === 'verified') return this.installVerified();
    setHandler(approveSignal, (raw) => void this.offer('approve', raw, 'signal'), {
      description: `Approve the candidate model for deployment. ${PAYLOAD_HELP}`,
    });
    setHandler(rejectSignal, (raw) => void this.offer('reject', raw, 'signal'), {
      description: `Reject the candidate model; the run ends with ApprovalRejected. ${PAYLOAD_HELP}`,
    });
    const validator = this.validator;
    const decide = (decision: Decision) => (raw: unknown) => {
      const attempt = this.offer(decision, raw, 'update');
      if (!attempt.accepted)
        throw ApplicationFailure.create({ type: 'ApprovalRefused', message: attempt.reason, nonRetryable: true });
      return attempt;
    };
    setHandler(approveUpdate, decide('approve'), {
      validator,
      description: `Approve and get the verdict at once. ${PAYLOAD_HELP}`,
    });
    setHandler(rejectUpdate, decide('reject'), {
      validator,
      description: `Reject and get the verdict at once. ${PAYLOAD_HELP}`,
    });
  }

  /** Turns away Updates on pipelines that need no approval (a validator's refusal leaves no history). */
  private readonly validator = (_raw: unknown) => {
    if (!this.policy.required) {
      throw ApplicationFailure.create({
        type: 'ApprovalRefused',
        message: 'wrong stage: this pipeline does not require approval (approval.required is false)',
        nonRetryable: true,
      });
    }
  };

  /** Handlers that count a decision only after `verifyApprover` vouched for its sender. */
  private installVerified(): void {
    const help = `${PAYLOAD_HELP} ${PROOF_HELP}.`;
    setHandler(approveSignal, async (raw) => void (await this.offerVerified('approve', raw, 'signal')), {
      description: `Approve the candidate model for deployment. ${help}`,
    });
    setHandler(rejectSignal, async (raw) => void (await this.offerVerified('reject', raw, 'signal')), {
      description: `Reject the candidate model; the run ends with ApprovalRejected. ${help}`,
    });
    const decide = (decision: Decision) => async (raw: unknown) => {
      const attempt = await this.offerVerified(decision, raw, 'update');
      if (!attempt.accepted)
        throw ApplicationFailure.create({ type: 'ApprovalRefused', message: attempt.reason, nonRetryable: true });
      return attempt;
    };
    const validator = this.validator;
    setHandler(approveUpdate, decide('approve'), {
      validator,
      description: `Approve and get the verdict at once. ${help}`,
    });
    setHandler(rejectUpdate, decide('reject'), {
      validator,
      description: `Reject and get the verdict at once. ${help}`,
    });
  }

  /**
   * Checks one decision's proof, then the policy, and records it. The policy is checked again after the
   * activity, since the gate may have closed (or the person approved) while the proof was being checked.
   */
  async offerVerified(decision: Decision, raw: unknown, via: ApprovalAttempt['via']): Promise<ApprovalAttempt> {
    const parsed = approvalSchemas().ApprovalPayloadSchema.safeParse(raw);
    if (!parsed.success) return this.offer(decision, raw, via);
    const at = new Date().toISOString();
    const { comment, proof } = parsed.data;
    const by = parsed.data.by.toLowerCase();
    const attempt: ApprovalAttempt = { at, decision, by, comment, via, accepted: false };
    const refuse = (reason: string, identity?: VerifiedIdentity) => {
      attempt.reason = reason;
      if (identity) attempt.identity = identity;
      this.attempts.push(attempt);
      return attempt;
    };
    if (!proof) return refuse(`unverified: the decision carries no proof of who sent it; ${PROOF_HELP}`);
    if ('refused' in proof)
      return refuse(`unverified: the codec server could not vouch for the Web UI user: ${proof.refused}`);
    const early = 'idTokenSha256' in proof ? this.replayed(`token:${proof.idTokenSha256}`) : undefined;
    if (early) return refuse(early);
    const policyFirst = this.refusal(decision, by);
    if (policyFirst) return refuse(policyFirst);
    let verified;
    try {
      verified = await verifyApprover({
        decision,
        by,
        comment,
        proof,
        issuers: this.policy.issuers,
        store: this.store,
      });
    } catch (err) {
      return refuse(`unverified: the proof could not be checked: ${rootMessage(err)}`);
    }
    if ('refused' in verified) return refuse(`unverified: ${verified.refused}`);
    const reason = this.replayed(verified.replayKey) ?? this.refusal(decision, by);
    if (reason) return refuse(reason, verified.identity);
    attempt.accepted = true;
    attempt.identity = verified.identity;
    this.usedProofs.set(verified.replayKey, at);
    const entry: Entry = { by, comment, at, identity: verified.identity };
    if (decision === 'approve') this.approvals.set(by, entry);
    else this.rejection = entry;
    this.attempts.push(attempt);
    return attempt;
  }

  private replayed(key: string): string | undefined {
    const usedAt = this.usedProofs.get(key);
    if (!usedAt) return undefined;
    const what = key.startsWith('token:') ? 'this token' : 'this Web UI assertion';
    return `replayed: ${what} already decided in this run at ${usedAt}; a proof counts once per run`;
  }

  /** The approvers allowed now: the escalation list once escalated. Empty means anyone. */
  get allowed(): string[] {
    const esc = this.policy.escalation;
    return this.escalated && esc ? expandApprovers(esc.approvers, this.policy.groups) : this.firstApprovers;
  }

  /** Checks one decision against the policy and records it. */
  offer(decision: Decision, raw: unknown, via: ApprovalAttempt['via']): ApprovalAttempt {
    const at = new Date().toISOString();
    const parsed = approvalSchemas().ApprovalPayloadSchema.safeParse(raw);
    const by = parsed.success ? parsed.data.by.toLowerCase() : byOf(raw);
    const comment = parsed.success ? parsed.data.comment : commentOf(raw);
    const attempt: ApprovalAttempt = { at, decision, by, comment, via, accepted: false };
    const reason = parsed.success ? this.refusal(decision, by as string) : malformed(raw, parsed.error.issues);
    if (reason === undefined) {
      attempt.accepted = true;
      const entry = { by: by as string, comment, at };
      if (decision === 'approve') this.approvals.set(entry.by, entry);
      else this.rejection = entry;
    } else {
      attempt.reason = reason;
    }
    this.attempts.push(attempt);
    return attempt;
  }

  private refusal(decision: Decision, by: string): string | undefined {
    if (!this.policy.required) return 'wrong stage: this pipeline does not require approval';
    if (this.state === 'not-open')
      return 'wrong stage: the candidate is not registered yet, so there is nothing to decide on';
    if (this.state === 'closed') return 'wrong stage: the decision has already been made';
    if (this.policy.separationOfDuties && by === this.requestedBy.toLowerCase()) {
      return `separation of duties: ${by} requested this run and may not decide on it`;
    }
    const allowed = this.allowed;
    if (allowed.length > 0 && !allowed.includes(by)) {
      return `not an approver: ${by} is not in ${this.escalated ? 'approval.escalation.approvers' : 'approval.approvers'}`;
    }
    if (decision === 'approve' && this.approvals.has(by))
      return `duplicate: ${by} has already approved; one person counts once`;
    return undefined;
  }

  private get decided(): boolean {
    if (this.rejection) return true;
    if (!this.escalated) return this.approvals.size >= this.policy.quorum;
    const allowed = this.allowed;
    return (
      [...this.approvals.keys()].filter((by) => allowed.length === 0 || allowed.includes(by)).length >=
      this.escalated.quorum
    );
  }

  /** Waits for quorum, a reject (which vetoes), or the timeout; escalates once when the policy says so. */
  async wait(remind?: () => Promise<void>): Promise<ApprovalRecord> {
    this.state = 'open';
    let inTime = await this.waitWithReminder(this.policy.timeout, remind);
    const esc = this.policy.escalation;
    if (!inTime && this.policy.onTimeout === 'escalate' && esc) {
      this.escalated = {
        at: new Date().toISOString(),
        approvers: expandApprovers(esc.approvers, this.policy.groups),
        quorum: esc.quorum,
      };
      inTime = await this.waitWithReminder(esc.timeout);
    }
    this.state = 'closed';
    return this.record(!inTime ? 'timed-out' : this.rejection ? 'rejected' : 'approved');
  }

  private async waitWithReminder(timeoutMs: number, remind?: () => Promise<void>): Promise<boolean> {
    this.deadline = new Date(Date.now() + timeoutMs).toISOString();
    if (!remind) return condition(() => this.decided, timeoutMs);
    const half = Math.floor(timeoutMs / 2);
    if (await condition(() => this.decided, half)) return true;
    this.remindedAt = new Date().toISOString();
    await remind();
    return condition(() => this.decided, timeoutMs - half);
  }

  record(decision: ApprovalRecord['decision']): ApprovalRecord {
    const record: ApprovalRecord = {
      decision,
      decidedAt: new Date().toISOString(),
      requestedBy: this.requestedBy,
      policy: {
        approvers: this.firstApprovers,
        quorum: this.policy.quorum,
        separationOfDuties: this.policy.separationOfDuties,
        timeoutMs: this.policy.timeout,
        onTimeout: this.policy.onTimeout,
        identity: this.policy.identity,
      },
      approvals: [...this.approvals.values()],
      attempts: [...this.attempts],
    };
    if (this.rejection) record.rejection = this.rejection;
    if (this.escalated) record.escalated = this.escalated;
    if (this.remindedAt) record.remindedAt = this.remindedAt;
    return record;
  }
}

/** The innermost message of an activity failure (its ApplicationFailure), for the audit trail. */
function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}

function byOf(raw: unknown): string | null {
  const by = raw && typeof raw === 'object' && 'by' in raw ? (raw as { by: unknown }).by : undefined;
  return typeof by === 'string' ? by.slice(0, 200) : null;
}

function commentOf(raw: unknown): string {
  const c = raw && typeof raw === 'object' && 'comment' in raw ? (raw as { comment: unknown }).comment : undefined;
  return typeof c === 'string' ? c.slice(0, 2000) : '';
}

function malformed(raw: unknown, issues: { path: PropertyKey[]; message: string }[]): string {
  const what = issues.map((i) => `${i.path.map(String).join('.') || 'payload'}: ${i.message}`).join('; ');
  const given = JSON.stringify(raw) ?? String(raw);
  return `malformed payload (${what}); got ${given.slice(0, 200)}. ${PAYLOAD_HELP}`;
}
