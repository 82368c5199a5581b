/**
 * The pipeline's stages as building blocks. `mlPipeline` calls them in order; a team's own workflow may call
 * them in any shape (two candidates in parallel, an extra check between stages), and keeps the same status
 * query, approval audit, search attributes and registry lineage. Each takes the run (`new PipelineRunState(input)`)
 * and what earlier stages returned. Deterministic: all I/O happens in activities.
 *
 * @example
 * export async function myPipeline(input: PipelineRunInput) {
 *   const run = new PipelineRunState(input);
 *   const snapshot = await ingest(run);
 *   const training = await train(run, snapshot);
 *   const report = await gate(run, snapshot, training);
 *   const version = await register(run, { snapshot, training, gate: report });
 *   const approval = await awaitApproval(run, { version, training, gate: report });
 *   const deployment = await deploy(run, { version, snapshot });
 *   return run.finish({ snapshot, training, gate: report, version, approval, deployment });
 * }
 */
import { patched, setCurrentDetails, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type {
  ApprovalRecord,
  CandidateSelection,
  DataSnapshot,
  Deployment,
  GateReport,
  RegisteredVersion,
  TrainingResult,
} from '../../sdk/run-types.js';
import { rolloutSchemas } from './lazy-schemas.js';
import { rollOut } from '../rollout.js';
import { skewGate } from '../skew-gate.js';
import { approvalDetails, SEARCH_ATTRIBUTE_KEYS } from '../visibility.js';
import { deployActivities, quick } from './activities.js';
import { trainPlaced } from './placement.js';
import { fail, type PipelineRunState } from './run-state.js';
import { sweepSelection, trainSweep } from './sweep.js';

type Params = Record<string, string | number | boolean>;

/** Ingest stage: checks the spec's source and snapshots it (content-addressed). */
export async function ingest(run: PipelineRunState): Promise<DataSnapshot> {
  const { spec, input } = run;
  const snapshot = await run.stage('ingest', () =>
    quick.ingestData({ pipeline: spec.name, runKey: input.runKey, ingest: spec.ingest, store: run.store }),
  );
  run.status.snapshot = snapshot;
  return snapshot;
}

/** The parameters a training job gets: the spec's, overridden by the run's. */
export function trainingParams(run: PipelineRunState): Params {
  return { ...run.spec.train.params, ...run.input.params };
}

/**
 * One training job on the spec's backend, without stage bookkeeping: for workflows that train several
 * candidates inside one `run.stage('train', ...)`. Each call is its own activity, so its own job key.
 */
export function trainJob(run: PipelineRunState, snapshot: DataSnapshot, params: Params): Promise<TrainingResult> {
  const { spec, input } = run;
  return trainPlaced(spec, {
    pipeline: spec.name,
    runKey: input.runKey,
    train: spec.train,
    params,
    snapshot,
    store: run.store,
  });
}

/**
 * Train stage: one job with the run's parameters (or `params`); with `train.sweep`, a sweep whose trials override
 * them, returning the winner (its progress and record in `run.status.sweep`).
 */
export async function train(
  run: PipelineRunState,
  snapshot: DataSnapshot,
  params = trainingParams(run),
): Promise<TrainingResult> {
  const training = await run.stage('train', () =>
    run.spec.train.sweep ? trainSweep(run, snapshot, params) : trainJob(run, snapshot, params),
  );
  run.status.training = training;
  return training;
}

/** Gate stage: the spec's thresholds and champion comparison; fails the run with GateFailed when it says no. */
export async function gate(
  run: PipelineRunState,
  snapshot: DataSnapshot,
  training: TrainingResult,
): Promise<GateReport> {
  return run.stage('gate', async () => {
    const report = await quick.evaluateGate({
      gate: run.spec.gate,
      metrics: training.metrics,
      model: run.model,
      store: run.store,
      snapshot,
    });
    run.status.gate = report;
    if (!report.passed) {
      const failed = report.checks.filter((c) => !c.passed).map((c) => c.reason);
      if (report.champion && !report.champion.passed) failed.push(report.champion.reason);
      fail('GateFailed', `The validation gate failed: ${failed.join('; ')}`, report);
    }
    return report;
  });
}

/** The sweep winner's parameters (the run's, overridden by the trial's), when the run swept. */
function sweepWinnerParams(run: PipelineRunState): Params | undefined {
  const sweep = run.status.sweep;
  const winner = sweep?.winner === undefined ? undefined : sweep.trials[sweep.winner];
  return winner && { ...trainingParams(run), ...winner.params };
}

function sweepLineage(run: PipelineRunState): { selection?: CandidateSelection } {
  const sweep = run.status.sweep;
  return sweep?.winner === undefined ? {} : { selection: sweepSelection(sweep) };
}

/** What `register` records of the run. */
export interface RegisterOptions {
  snapshot: DataSnapshot;
  training: TrainingResult;
  gate: GateReport;
  /** The winning job's parameters (default: the run's). */
  params?: Params;
  /** When several candidates were trained: all of them and why the winner won (recorded in lineage). */
  selection?: CandidateSelection;
}

/** Register stage: a new version in the registry with the run's full lineage. */
export async function register(run: PipelineRunState, options: RegisterOptions): Promise<RegisteredVersion> {
  const { spec, input } = run;
  const info = workflowInfo();
  const version = await run.stage('register', () =>
    quick.registerModel({
      model: run.model,
      store: run.store,
      description: spec.register.description,
      lineage: {
        pipeline: spec.name,
        runKey: input.runKey,
        workflowId: info.workflowId,
        runId: info.runId,
        requestedBy: input.requestedBy,
        trigger: input.trigger,
        params: options.params ?? sweepWinnerParams(run) ?? trainingParams(run),
        snapshot: options.snapshot,
        training: options.training,
        gate: options.gate,
        ...(options.selection ? { selection: options.selection } : sweepLineage(run)),
      },
    }),
  );
  run.status.version = version;
  run.upsertSearch([{ key: SEARCH_ATTRIBUTE_KEYS.modelVersion, value: version.version }]);
  return version;
}

/** What the approval wait shows approvers. */
export interface ApprovalOptions {
  version: RegisteredVersion;
  training: TrainingResult;
  gate: GateReport;
  /**
   * Write the approval record while the next stage starts (which waits for it before it completes), so an
   * approved deploy starts one activity sooner. `mlPipeline` sets it when the spec deploys.
   */
  recordDuringNextStage?: boolean;
}

/** Patch id of the approval record written during the deploy stage (histories before it record, then deploy). */
const RECORD_DURING_NEXT_STAGE = 'approval-record-during-next-stage';

/**
 * Approval stage: waits for the spec's approval policy (Signals from the Web UI, Updates from the CLI and SDK),
 * records the decision on the version, and fails the run with ApprovalRejected or ApprovalTimedOut.
 */
export async function awaitApproval(run: PipelineRunState, options: ApprovalOptions): Promise<ApprovalRecord> {
  return run.stage('approval', async () => {
    const record = run.spec.approval.required ? await waitForDecision(run, options) : run.gate.record('not-required');
    run.status.approval.record = record;
    const recording = quick.recordApproval({ version: options.version, store: run.store, record });
    if (record.decision === 'approved' && options.recordDuringNextStage && patched(RECORD_DURING_NEXT_STAGE)) {
      run.carryOver(recording);
      return record;
    }
    await recording;
    if (record.decision === 'rejected') {
      const { by, comment } = record.rejection ?? {};
      fail('ApprovalRejected', `Rejected by ${by}: ${comment || '(no comment)'}`, record);
    }
    if (record.decision === 'timed-out') {
      fail(
        'ApprovalTimedOut',
        `No decision within ${run.spec.approval.timeout} ms; the candidate was not deployed`,
        record,
      );
    }
    return record;
  });
}

async function waitForDecision(run: PipelineRunState, { version, training, gate }: ApprovalOptions) {
  const { spec, gate: approvals } = run;
  upsertMemo({
    candidate: { model: run.model, version: version.version, metrics: training.metrics, gatePassed: gate.passed },
  });
  const details = () => approvalDetails(version, training, gate, approvals.allowed, spec.approval.quorum);
  setCurrentDetails(details());
  const reminder = spec.approval.reminder;
  const remind = reminder
    ? async () => {
        await run.callStep(reminder.step, {
          workflowId: workflowInfo().workflowId,
          model: run.model,
          version: version.version,
          deadline: approvals.deadline,
          approvers: approvals.allowed,
        });
      }
    : undefined;
  const record = await approvals.wait(remind);
  setCurrentDetails(`**Decision:** ${record.decision} at ${record.decidedAt}\n\n${details()}`);
  return record;
}

/**
 * Deploy stage: the spec's target, as a staged rollout when the spec has one (remote targets always roll out,
 * in one step without a policy), or directly. With `deploy.skew`, the candidate first passes the skew gate
 * (healthy, no traffic; `SkewDetected` otherwise). Skipped when the spec has no deploy.
 */
export async function deploy(
  run: PipelineRunState,
  { version, snapshot }: { version: RegisteredVersion; snapshot: DataSnapshot },
): Promise<Deployment | undefined> {
  const { spec, input } = run;
  if (!spec.deploy) {
    run.skip('deploy');
    return undefined;
  }
  const deploySpec = spec.deploy;
  const monitor = spec.monitor.enabled ? { windowMs: spec.monitor.window } : undefined;
  const rollout =
    deploySpec.rollout ??
    (deploySpec.target.kind === 'local'
      ? undefined
      : rolloutSchemas().RolloutSchema.parse({ steps: [{ traffic: 100 }], bake: 0 }));
  const common = { version, snapshot, store: run.store, requestedBy: input.requestedBy, monitor };
  const deployment = await run.stage('deploy', async () => {
    // The skew gate (only when the spec asks for it): the candidate starts and is checked before any traffic.
    const gated = deploySpec.skew
      ? await skewGate(
          { version, snapshot, store: run.store, monitor, deploy: deploySpec },
          (report) => (run.status.skew = report),
        )
      : undefined;
    return rollout
      ? rollOut({
          ...common,
          ...gated,
          deploy: { ...deploySpec, rollout },
          approval: spec.approval,
          record: (run.status.rollout = {
            candidate: version.version,
            step: 0,
            steps: rollout.steps.length,
            traffic: {},
            state: 'starting',
            failedAnalyses: 0,
            analyses: [],
          }),
        })
      : deployActivities(spec.deploy).deployModel({
          ...common,
          deploy: deploySpec,
          ...(gated && { skew: gated.skew }),
        });
  });
  run.status.deployment = deployment;
  return deployment;
}

/** Hands the deployed version to its model's monitor, when the spec monitors it. */
export async function handOverToMonitor(
  run: PipelineRunState,
  { version, snapshot }: { version: RegisteredVersion; snapshot: DataSnapshot },
): Promise<void> {
  if (!run.spec.monitor.enabled || !run.spec.deploy) return;
  await quick.handOverToMonitor({
    model: run.model,
    version: version.version,
    snapshot,
    spec: run.spec,
    store: run.store,
  });
}
