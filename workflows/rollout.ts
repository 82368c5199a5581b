/**
 * The deploy stage with a staged rollout: the candidate's server starts healthy beside the champion's with no
 * traffic; each step moves a share of traffic to it, bakes (a durable timer: a restarted worker resumes at the
 * same step) and runs the canary analysis every `analysis.interval`. More failed analyses than tolerated, or a
 * step that ends without enough traffic to judge, is a breach: traffic goes back to the champion and the run
 * fails with DeployRolledBack. After the last step the candidate is promoted and becomes `champion`.
 * With `rollout.shadow`, a shadow stage comes first: the router mirrors a share of live requests to the
 * candidate while the champion answers every caller, and the two are compared on the same requests; a breach
 * stops the candidate (ShadowFailed) before any user saw it. Without it the command sequence is the one before
 * the shadow stage existed (the committed histories replay).
 * Deterministic: all I/O happens in activities.
 */
import { ApplicationFailure, sleep, workflowInfo } from '@temporalio/workflow';
import type { CandidateServers } from '../activities/deploy/types.js';
import type {
  AnalysisReport,
  DataSnapshot,
  Deployment,
  RegisteredVersion,
  RolloutRecord,
  ShadowReport,
  SkewReport,
} from '../sdk/run-types.js';
import type { ShadowSpec } from '../sdk/spec/rollout.js';
import type { DeploySpec } from '../sdk/spec/pipeline.js';
import type { ApprovalPolicy } from '../sdk/spec/approval.js';
import type { PipelineActivities } from '../activities/index.js';
import { ApprovalGate } from './approval.js';
import { deployActivities } from './pipeline/activities.js';

export interface RolloutInput {
  version: RegisteredVersion;
  deploy: DeploySpec & { rollout: NonNullable<DeploySpec['rollout']> };
  snapshot: DataSnapshot;
  store?: string;
  requestedBy: string;
  monitor?: { windowMs: number };
  /** Where progress is shown (the status query's `rollout`). */
  record: RolloutRecord;
  /** Who may decide when a breach pauses the rollout (the pipeline's approval policy). */
  approval: ApprovalPolicy;
  /** The candidate, already started with no traffic (the skew gate started it); else the rollout starts it. */
  servers?: CandidateServers;
  /** The skew gate the candidate passed, kept with the deployment. */
  skew?: SkewReport;
}

function describeBreach(report: AnalysisReport | undefined, reason: string): string {
  if (!report) return reason;
  const c = report.candidate;
  const rate = c.errorRate === null ? 'n/a' : `${(c.errorRate * 100).toFixed(1)} %`;
  const failed = report.checks.filter((ch) => !ch.passed).map((ch) => `${ch.name} ${ch.value ?? 'no data'}`);
  return `${reason} at step ${report.step} (${report.traffic} % of traffic): candidate ${c.errors}/${c.requests} errors (${rate})${failed.length ? `; failed: ${failed.join(', ')}` : ''}`;
}

type Step = RolloutInput['deploy']['rollout']['steps'][number];
type Route = { version: number; url: string; weight: number };

/** The rollout workflow code: start the candidate, move traffic step by step, promote or roll back. */
export async function rollOut(input: RolloutInput): Promise<Deployment> {
  const rollout = await Rollout.start(input);
  const shadow = input.deploy.rollout.shadow;
  if (shadow && rollout.champion) await rollout.shadow(shadow);
  for (const [i, step] of rollout.steps.entries()) {
    const routes = await rollout.route(i + 1, step);
    if (!rollout.champion) break; // a first deployment: nothing to compare with
    await rollout.bake(i + 1, step, routes);
  }
  return rollout.promote();
}

/** One rollout's state: the servers, the router, and the record the status query shows. */
class Rollout {
  private readonly acts: PipelineActivities;
  private readonly policy: RolloutInput['deploy']['rollout'];
  private readonly record: RolloutRecord;
  private routerEndpoint = '';
  readonly champion: CandidateServers['champion'];
  readonly steps: Step[];

  private constructor(
    private readonly input: RolloutInput,
    private readonly servers: CandidateServers,
    acts: PipelineActivities,
  ) {
    this.acts = acts;
    this.policy = input.deploy.rollout;
    this.record = input.record;
    this.champion = servers.champion;
    this.record.champion = this.champion?.version;
    // A first deployment has nothing to compare with or fall back to: it takes all traffic once healthy.
    this.steps = this.champion ? this.policy.steps : [{ traffic: 100, bake: 0 }];
    this.record.steps = this.steps.length;
  }

  /** Starts the candidate healthy beside the champion, with no traffic (unless the skew gate started it). */
  static async start(input: RolloutInput): Promise<Rollout> {
    const acts = deployActivities(input.deploy);
    const { version, deploy, snapshot, store, monitor } = input;
    const servers = input.servers ?? (await acts.startCandidate({ version, deploy, snapshot, store, monitor }));
    return new Rollout(input, servers, acts);
  }

  /** Sets the step's traffic split. */
  async route(stepNumber: number, step: Step): Promise<Route[]> {
    const { version, deploy } = this.input;
    const routes: Route[] = [{ version: version.version, url: this.servers.candidate.endpoint, weight: step.traffic }];
    if (this.champion && step.traffic < 100)
      routes.push({ version: this.champion.version, url: this.champion.endpoint, weight: 100 - step.traffic });
    ({ routerEndpoint: this.routerEndpoint } = await this.acts.routeTraffic({
      model: version.model,
      step: `${workflowInfo().workflowId}/step-${stepNumber}`,
      routes,
      target: deploy.target,
      candidate: version.version,
    }));
    Object.assign(this.record, {
      step: stepNumber,
      state: 'baking',
      routerEndpoint: this.routerEndpoint,
      traffic: Object.fromEntries(routes.map((r) => [String(r.version), r.weight])),
    } satisfies Partial<RolloutRecord>);
    return routes;
  }

  /**
   * The shadow stage: all live traffic stays on the champion, `share` of it is mirrored to the candidate, and
   * the comparison runs every `interval` (the status shows it). A conclusive breach, or too little mirrored
   * traffic by the end, stops the candidate.
   */
  async shadow(spec: ShadowSpec): Promise<void> {
    const { version, deploy } = this.input;
    const champion = this.champion!;
    ({ routerEndpoint: this.routerEndpoint } = await this.acts.routeTraffic({
      model: version.model,
      step: `${workflowInfo().workflowId}/shadow`,
      routes: [{ version: champion.version, url: champion.endpoint, weight: 100 }],
      target: deploy.target,
      candidate: version.version,
      mirror: { version: version.version, url: this.servers.candidate.endpoint, share: spec.share },
    }));
    Object.assign(this.record, {
      state: 'shadowing',
      routerEndpoint: this.routerEndpoint,
      traffic: { [String(champion.version)]: 100 },
    } satisfies Partial<RolloutRecord>);
    let report: ShadowReport | undefined;
    for (let elapsed = 0; elapsed < spec.duration;) {
      const wait = Math.min(spec.interval, spec.duration - elapsed);
      await sleep(wait);
      elapsed += wait;
      report = await this.acts.analyzeShadow({ routerEndpoint: this.routerEndpoint, shadow: spec });
      this.record.shadow = report;
      if (!report.passed) await this.stopShadowed(report, report.summary);
    }
    if (!report?.conclusive)
      await this.stopShadowed(
        report,
        `not enough mirrored traffic to judge the candidate (fewer than rollout.shadow.minRequests = ${spec.minRequests} requests answered by both)`,
      );
  }

  /** Bakes the step on durable timers, analysing every interval; a breach rolls back or pauses. */
  async bake(stepNumber: number, step: Step, routes: Route[]): Promise<void> {
    const bake = step.bake ?? this.policy.bake;
    if (bake === 0) return; // a direct switch (no rollout in the spec): nothing to judge
    const stepStartedAt = new Date().toISOString();
    let last: AnalysisReport | undefined;
    for (let elapsed = 0; elapsed < bake;) {
      const wait = Math.min(this.policy.analysis.interval, bake - elapsed);
      await sleep(wait);
      elapsed += wait;
      last = await this.analyze(stepNumber, step, routes, stepStartedAt);
      this.record.latestAnalysis = last;
      if (!last.passed && ++this.record.failedAnalyses > this.policy.failuresTolerated)
        await this.breach(last, 'the canary analysis failed');
    }
    if (last) this.record.analyses.push(last);
    if (!last?.conclusive) {
      const minRequests = this.policy.analysis.minRequests;
      await this.breach(
        last,
        `not enough traffic to judge the candidate (fewer than analysis.minRequests = ${minRequests} requests)`,
      );
    }
  }

  /** Makes the candidate the champion. */
  async promote(): Promise<Deployment> {
    const { version, deploy, store, requestedBy } = this.input;
    const deployment = await this.acts.promoteCandidate({
      version,
      deploy,
      servers: this.servers,
      routerEndpoint: this.routerEndpoint,
      rollout: { ...this.record, state: 'promoted' },
      store,
      requestedBy,
      ...(this.input.skew && { skew: this.input.skew }),
    });
    this.record.state = 'promoted';
    return deployment;
  }

  private analyze(stepNumber: number, step: Step, routes: Route[], stepStartedAt: string): Promise<AnalysisReport> {
    const { version } = this.input;
    return this.acts.analyzeCanary({
      model: version.model,
      candidate: version.version,
      champion: this.champion!.version,
      routerEndpoint: this.routerEndpoint,
      analysis: this.policy.analysis,
      step: stepNumber,
      traffic: step.traffic,
      stepStartedAt,
      targets: Object.fromEntries(routes.map((r) => [String(r.version), r.url])),
    });
  }

  private breach(report: AnalysisReport | undefined, reason: string): Promise<void> {
    return this.policy.onBreach === 'pause' ? this.pause(report, reason) : this.rollBack(report, reason);
  }

  /** Traffic back to the champion, the candidate stopped, then the run fails with DeployRolledBack. */
  private async rollBack(report: AnalysisReport | undefined, reason: string): Promise<never> {
    const { version, deploy, store, requestedBy } = this.input;
    const message = describeBreach(report, reason);
    const champion = this.champion;
    this.record.state = 'rolled-back';
    if (champion) this.record.traffic = { [String(champion.version)]: 100 };
    const servers = this.servers;
    await this.acts.rollBackCandidate({
      version,
      deploy,
      servers,
      routerEndpoint: this.routerEndpoint,
      report,
      reason: message,
      requestedBy,
      store,
    });
    throw ApplicationFailure.create({
      type: 'DeployRolledBack',
      message: `${version.model} v${version.version} was rolled back; ${champion ? `v${champion.version} keeps serving` : 'nothing else was serving'}. ${message}`,
      nonRetryable: true,
      details: [{ rollout: this.record }],
    });
  }

  /** The shadow stage breached: mirroring off, the candidate stopped, then the run fails with ShadowFailed. */
  private async stopShadowed(report: ShadowReport | undefined, reason: string): Promise<never> {
    const { version, deploy, store, requestedBy } = this.input;
    const champion = this.champion!;
    Object.assign(this.record, { state: 'rolled-back', traffic: { [String(champion.version)]: 100 } });
    await this.acts.rollBackCandidate({
      version,
      deploy,
      servers: this.servers,
      routerEndpoint: this.routerEndpoint,
      report,
      reason: `shadow stage: ${reason}`,
      requestedBy,
      store,
    });
    throw ApplicationFailure.create({
      type: 'ShadowFailed',
      message: `${version.model} v${version.version} was stopped in the shadow stage before any user saw it; v${champion.version} keeps serving. ${reason}`,
      nonRetryable: true,
      details: [{ rollout: this.record, shadow: report }],
    });
  }

  /** onBreach: pause. Holds the split until a decision; returns when approved, rolls back otherwise. */
  private async pause(report: AnalysisReport | undefined, reason: string): Promise<void> {
    const message = describeBreach(report, reason);
    const gate = new ApprovalGate({ ...this.input.approval, required: true }, this.input.requestedBy);
    gate.install(); // the approve/reject Signals and Updates now decide on the rollout
    Object.assign(this.record, { state: 'paused', pausedBecause: message, decisionAttempts: gate.attempts });
    const outcome = await gate.wait();
    (this.record.decisions ??= []).push(outcome);
    if (outcome.decision !== 'approved') {
      const by = outcome.rejection?.by;
      await this.rollBack(report, `${reason}; paused for a decision: ${outcome.decision}${by ? ` by ${by}` : ''}`);
    }
    Object.assign(this.record, { state: 'baking', pausedBecause: undefined, failedAnalyses: 0 });
  }
}
