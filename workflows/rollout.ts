/**
 * The deploy stage with a staged rollout: the candidate's server starts healthy beside the champion's with no
 * traffic; each step moves a share of traffic to it, bakes (a durable timer: a restarted worker resumes at the
 * same step) and runs the canary analysis every `analysis.interval`. More failed analyses than tolerated, or a
 * step that ends without enough traffic to judge, is a breach: traffic goes back to the champion and the run
 * fails with DeployRolledBack. After the last step the candidate is promoted and becomes `champion`.
 * Deterministic: all I/O happens in activities.
 */
import { ApplicationFailure, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import type { CandidateServers } from '../activities/deploy/types.js';
import type { AnalysisReport, DataSnapshot, Deployment, RegisteredVersion, RolloutRecord } from '../sdk/run-types.js';
import type { DeploySpec } from '../sdk/spec/pipeline.js';
import type { ApprovalPolicy } from '../sdk/spec/approval.js';
import { ApprovalGate } from './approval.js';

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
}

function describeBreach(report: AnalysisReport | undefined, reason: string): string {
  if (!report) return reason;
  const c = report.candidate;
  const rate = c.errorRate === null ? 'n/a' : `${(c.errorRate * 100).toFixed(1)} %`;
  const failed = report.checks.filter((ch) => !ch.passed).map((ch) => `${ch.name} ${ch.value ?? 'no data'}`);
  return `${reason} at step ${report.step} (${report.traffic} % of traffic): candidate ${c.errors}/${c.requests} errors (${rate})${failed.length ? `; failed: ${failed.join(', ')}` : ''}`;
}

export async function rollOut(input: RolloutInput): Promise<Deployment> {
  const { deploy, version, record } = input;
  const rollout = deploy.rollout;
  const model = version.model;
  const acts = proxyActivities<PipelineActivities>({
    startToCloseTimeout: deploy.target.healthTimeout + 120_000,
    heartbeatTimeout: '30s',
    retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['DeployFailed'] },
  });
  const { workflowId } = workflowInfo();

  const servers: CandidateServers = await acts.startCandidate({
    version,
    deploy,
    snapshot: input.snapshot,
    store: input.store,
    monitor: input.monitor,
  });
  const champion = servers.champion;
  record.champion = champion?.version;
  // A first deployment has nothing to compare with or fall back to: it takes all traffic once healthy.
  const steps = champion ? rollout.steps : [{ traffic: 100, bake: 0 }];
  record.steps = steps.length;

  let routerEndpoint = '';
  const rollBack = async (report: AnalysisReport | undefined, reason: string): Promise<never> => {
    const message = describeBreach(report, reason);
    record.state = 'rolled-back';
    if (champion) record.traffic = { [String(champion.version)]: 100 };
    await acts.rollBackCandidate({
      version,
      deploy,
      servers,
      routerEndpoint,
      report,
      reason: message,
      requestedBy: input.requestedBy,
      store: input.store,
    });
    throw ApplicationFailure.create({
      type: 'DeployRolledBack',
      message: `${model} v${version.version} was rolled back; ${champion ? `v${champion.version} keeps serving` : 'nothing else was serving'}. ${message}`,
      nonRetryable: true,
      details: [{ rollout: record }],
    });
  };

  /** onBreach: pause. Holds the split until a decision; returns when approved, rolls back otherwise. */
  const pause = async (report: AnalysisReport | undefined, reason: string): Promise<void> => {
    const message = describeBreach(report, reason);
    const gate = new ApprovalGate({ ...input.approval, required: true }, input.requestedBy);
    gate.install(); // the approve/reject Signals and Updates now decide on the rollout
    Object.assign(record, { state: 'paused', pausedBecause: message, decisionAttempts: gate.attempts });
    const outcome = await gate.wait();
    (record.decisions ??= []).push(outcome);
    if (outcome.decision !== 'approved') {
      const by = outcome.rejection?.by;
      await rollBack(report, `${reason}; paused for a decision: ${outcome.decision}${by ? ` by ${by}` : ''}`);
    }
    Object.assign(record, { state: 'baking', pausedBecause: undefined, failedAnalyses: 0 });
  };
  const breach = rollout.onBreach === 'pause' ? pause : rollBack;

  for (const [i, step] of steps.entries()) {
    const stepNumber = i + 1;
    const routes = [{ version: version.version, url: servers.candidate.endpoint, weight: step.traffic }];
    if (champion && step.traffic < 100)
      routes.push({ version: champion.version, url: champion.endpoint, weight: 100 - step.traffic });
    ({ routerEndpoint } = await acts.routeTraffic({
      model,
      step: `${workflowId}/step-${stepNumber}`,
      routes,
      target: deploy.target,
      candidate: version.version,
    }));
    Object.assign(record, {
      step: stepNumber,
      state: 'baking',
      routerEndpoint,
      traffic: Object.fromEntries(routes.map((r) => [String(r.version), r.weight])),
    } satisfies Partial<RolloutRecord>);
    if (!champion) break;

    const stepStartedAt = new Date().toISOString();
    const bake = step.bake ?? rollout.bake;
    let last: AnalysisReport | undefined;
    for (let elapsed = 0; elapsed < bake;) {
      const wait = Math.min(rollout.analysis.interval, bake - elapsed);
      await sleep(wait);
      elapsed += wait;
      last = await acts.analyzeCanary({
        model,
        candidate: version.version,
        champion: champion.version,
        routerEndpoint,
        analysis: rollout.analysis,
        step: stepNumber,
        traffic: step.traffic,
        stepStartedAt,
        targets: Object.fromEntries(routes.map((r) => [String(r.version), r.url])),
      });
      record.latestAnalysis = last;
      if (!last.passed && ++record.failedAnalyses > rollout.failuresTolerated)
        await breach(last, 'the canary analysis failed');
    }
    if (bake === 0) continue; // a direct switch (no rollout in the spec): nothing to judge
    if (last) record.analyses.push(last);
    if (!last?.conclusive)
      await breach(
        last,
        `not enough traffic to judge the candidate (fewer than analysis.minRequests = ${rollout.analysis.minRequests} requests)`,
      );
  }

  const deployment = await acts.promoteCandidate({
    version,
    deploy,
    servers,
    routerEndpoint,
    rollout: { ...record, state: 'promoted' },
    store: input.store,
    requestedBy: input.requestedBy,
  });
  record.state = 'promoted';
  return deployment;
}
