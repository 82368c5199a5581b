/**
 * The approval gate: Signals `approve` / `reject` carrying `{ by, comment }`, checked against the spec's policy.
 * Every attempt, accepted or refused, goes into the audit trail; a malformed payload is refused and recorded,
 * never thrown, so nothing a person types into the Web UI can fail the run.
 */
import { condition, defineSignal, setHandler } from '@temporalio/workflow';
import { ApprovalPayloadSchema, type ApprovalPayload, type ApprovalPolicy } from '../sdk/spec/approval.js';
import type { ApprovalAttempt, ApprovalRecord } from '../sdk/run-types.js';

export const approveSignal = defineSignal<[unknown]>('approve');
export const rejectSignal = defineSignal<[unknown]>('reject');

const SIGNAL_HELP = 'One JSON argument: {"by": "you@company.com", "comment": "why"}.';

type Decision = ApprovalAttempt['decision'];

/** Collects decisions for one run; `open()` starts accepting them, `wait()` returns the outcome. */
export class ApprovalGate {
  readonly attempts: ApprovalAttempt[] = [];
  private readonly approvals = new Map<string, ApprovalPayload & { at: string }>();
  private rejection?: ApprovalPayload & { at: string };
  private state: 'not-open' | 'open' | 'closed' = 'not-open';

  constructor(
    private readonly policy: ApprovalPolicy,
    private readonly requestedBy: string,
  ) {}

  /** Registers the Signal handlers; call at workflow start so early signals are recorded, not lost. */
  install(): void {
    setHandler(
      approveSignal,
      (raw) => {
        this.offer('approve', raw, 'signal');
      },
      {
        description: `Approve the candidate model for deployment. ${SIGNAL_HELP}`,
      },
    );
    setHandler(
      rejectSignal,
      (raw) => {
        this.offer('reject', raw, 'signal');
      },
      {
        description: `Reject the candidate model; the run ends with ApprovalRejected. ${SIGNAL_HELP}`,
      },
    );
  }

  open(): void {
    this.state = 'open';
  }

  /**
   * Checks one decision against the policy and records it. Returns the attempt, with `accepted` and the
   * refusal `reason` when refused.
   */
  offer(decision: Decision, raw: unknown, via: ApprovalAttempt['via']): ApprovalAttempt {
    const at = new Date().toISOString();
    const parsed = ApprovalPayloadSchema.safeParse(raw);
    const by = parsed.success ? parsed.data.by.toLowerCase() : byOf(raw);
    const comment = parsed.success ? parsed.data.comment : commentOf(raw);
    const attempt: ApprovalAttempt = { at, decision, by, comment, via, accepted: false };
    attempt.reason = parsed.success ? this.refusal(decision, by as string) : malformed(raw, parsed.error.issues);
    if (attempt.reason === undefined) {
      attempt.accepted = true;
      delete attempt.reason;
      const entry = { by: by as string, comment, at };
      if (decision === 'approve') this.approvals.set(entry.by, entry);
      else this.rejection = entry;
    }
    this.attempts.push(attempt);
    return attempt;
  }

  private refusal(decision: Decision, by: string): string | undefined {
    if (this.state === 'not-open')
      return 'wrong stage: the candidate is not registered yet, so there is nothing to decide on';
    if (this.state === 'closed') return 'wrong stage: the decision has already been made';
    if (this.policy.separationOfDuties && by === this.requestedBy.toLowerCase()) {
      return `separation of duties: ${by} requested this run and may not decide on it`;
    }
    const allowed = this.policy.approvers.map((a) => a.toLowerCase());
    if (allowed.length > 0 && !allowed.includes(by)) return `not an approver: ${by} is not in approval.approvers`;
    if (decision === 'approve' && this.approvals.has(by))
      return `duplicate: ${by} has already approved; one person counts once`;
    return undefined;
  }

  private get decided(): boolean {
    return this.rejection !== undefined || this.approvals.size >= this.policy.quorum;
  }

  /** Waits for quorum, a rejection (which vetoes) or the timeout. */
  async wait(): Promise<ApprovalRecord> {
    this.open();
    const inTime = await condition(() => this.decided, this.policy.timeout);
    this.state = 'closed';
    const decision = !inTime ? 'timed-out' : this.rejection ? 'rejected' : 'approved';
    return this.record(decision);
  }

  record(decision: ApprovalRecord['decision']): ApprovalRecord {
    const record: ApprovalRecord = {
      decision,
      decidedAt: new Date().toISOString(),
      requestedBy: this.requestedBy,
      approvals: [...this.approvals.values()],
      attempts: [...this.attempts],
    };
    if (this.rejection) record.rejection = this.rejection;
    return record;
  }
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
  return `malformed payload (${what}); got ${given.slice(0, 200)}. ${SIGNAL_HELP}`;
}
