/**
 * `mlPipeline`: interprets a pipeline spec (workflow input, recorded in history) as
 * ingest → train → gate → register → approval → deploy, then hands the model to its monitor when the spec
 * asks for monitoring. Deterministic: all I/O happens in activities.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  defineQuery,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { PipelineActivities } from '../../activities/index.js';
import { PipelineSpecSchema, STAGES, type Stage } from '../../sdk/spec/pipeline.js';
import type { PipelineResult, PipelineRunInput, PipelineStatus, StageState } from '../../sdk/run-types.js';
import { stepActivityName, type StepContext } from '../../sdk/define-step.js';
import { isPipelineErrorCode, type PipelineErrorCode } from '../../sdk/errors.js';
import { ApprovalGate } from '../approval.js';
import { rollOut } from '../rollout.js';
import { RolloutSchema } from '../../sdk/spec/rollout.js';
import { approvalDetails, SEARCH_ATTRIBUTE_KEYS, searchStage } from '../visibility.js';

/** The run's current state: stage, stage results, approval attempts. */
export const statusQuery = defineQuery<PipelineStatus>('status');

const NON_RETRYABLE = [
  'InvalidSpec',
  'InvalidInput',
  'DataValidationFailed',
  'TrainingFailed',
  'InvalidMetrics',
  'BackendNotAvailable',
  'DeployFailed',
  'StepFailed',
];

const quick = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
});

function fail(code: PipelineErrorCode, message: string, details?: unknown): never {
  throw ApplicationFailure.create({
    type: code,
    message,
    details: details === undefined ? [] : [details],
    nonRetryable: true,
  });
}

/** The pipeline workflow. Start it through `PipelineClient.start`. */
export async function mlPipeline(input: PipelineRunInput): Promise<PipelineResult> {
  const checked = PipelineSpecSchema.safeParse(input.spec);
  if (!checked.success) fail('InvalidSpec', `The run's spec is invalid: ${checked.error.message}`);
  const spec = checked.data;
  const model = spec.model ?? spec.name;
  const info = workflowInfo();
  // Scheduled runs get their key from the id the schedule gave them (`pipeline/<name>/schedule-<time>`).
  input = { ...input, runKey: input.runKey || info.workflowId.split('/').pop()! };

  const status: PipelineStatus = {
    pipeline: spec.name,
    model,
    runKey: input.runKey,
    requestedBy: input.requestedBy,
    trigger: input.trigger,
    stage: 'ingest',
    stages: Object.fromEntries(STAGES.map((s) => [s, 'pending'])) as Record<Stage, StageState>,
    approval: {
      required: spec.approval.required,
      quorum: spec.approval.quorum,
      approvers: spec.approval.approvers,
      attempts: [],
    },
    steps: [],
  };
  const gate = new ApprovalGate(spec.approval, input.requestedBy);
  status.approval.approvers = gate.allowed;
  setHandler(statusQuery, () => ({
    ...status,
    approval: {
      ...status.approval,
      approvers: gate.allowed,
      attempts: gate.attempts,
      deadline: gate.deadline,
      escalated: gate.escalated,
    },
  }));
  gate.install();

  /** Keeps the Web UI's search attributes current (only when the server has them registered). */
  function publishStage(stage: PipelineStatus['stage']): void {
    if (!input.searchAttributes) return;
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTE_KEYS.stage, value: searchStage(stage) }]);
  }
  if (input.searchAttributes) {
    upsertSearchAttributes([
      { key: SEARCH_ATTRIBUTE_KEYS.pipeline, value: spec.name },
      { key: SEARCH_ATTRIBUTE_KEYS.model, value: model },
    ]);
  }

  const train = proxyActivities<PipelineActivities>({
    startToCloseTimeout: spec.train.timeout,
    heartbeatTimeout: spec.train.heartbeatTimeout,
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { maximumAttempts: spec.train.maxAttempts, initialInterval: '2s', nonRetryableErrorTypes: NON_RETRYABLE },
  }).trainModel;
  const deploy = proxyActivities<PipelineActivities>({
    startToCloseTimeout: spec.deploy ? spec.deploy.target.healthTimeout + 120_000 : '10 minutes',
    heartbeatTimeout: '30s',
    retry: { maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
  }).deployModel;

  async function stage<T>(name: Stage, run: () => Promise<T>): Promise<T> {
    status.stage = name;
    status.stages[name] = 'running';
    publishStage(name);
    try {
      const out = await run();
      status.stages[name] = 'succeeded';
      await runSteps(name);
      return out;
    } catch (err) {
      status.stages[name] = 'failed';
      status.stage = 'failed';
      status.error = describe(err);
      publishStage('failed');
      throw err;
    }
  }

  function stepContext(): StepContext {
    return {
      pipeline: status.pipeline,
      model: status.model,
      runKey: status.runKey,
      snapshot: status.snapshot,
      training: status.training,
      gate: status.gate,
      version: status.version,
      deployment: status.deployment,
    };
  }

  function callStep(step: string, stepInput: unknown): Promise<unknown> {
    const run = (quick as unknown as Record<string, (input: unknown, ctx: StepContext) => Promise<unknown>>)[
      stepActivityName(step)
    ];
    return run!(stepInput, stepContext());
  }

  async function runSteps(after: Stage): Promise<void> {
    for (const call of spec.steps.filter((s) => s.after === after)) {
      const output = await callStep(call.step, call.input);
      status.steps.push({ step: call.step, after, output });
    }
  }

  const snapshot = await stage('ingest', () =>
    quick.ingestData({ pipeline: spec.name, runKey: input.runKey, ingest: spec.ingest, store: spec.register.store }),
  );
  status.snapshot = snapshot;

  const params = { ...spec.train.params, ...input.params };
  const training = await stage('train', () =>
    train({
      pipeline: spec.name,
      runKey: input.runKey,
      train: spec.train,
      params,
      snapshot,
      store: spec.register.store,
    }),
  );
  status.training = training;

  const gateReport = await stage('gate', async () => {
    const report = await quick.evaluateGate({
      gate: spec.gate,
      metrics: training.metrics,
      model,
      store: spec.register.store,
      snapshot,
    });
    status.gate = report;
    if (!report.passed) {
      const failed = report.checks.filter((c) => !c.passed).map((c) => c.reason);
      if (report.champion && !report.champion.passed) failed.push(report.champion.reason);
      fail('GateFailed', `The validation gate failed: ${failed.join('; ')}`, report);
    }
    return report;
  });

  const version = await stage('register', () =>
    quick.registerModel({
      model,
      store: spec.register.store,
      description: spec.register.description,
      lineage: {
        pipeline: spec.name,
        runKey: input.runKey,
        workflowId: info.workflowId,
        runId: info.runId,
        requestedBy: input.requestedBy,
        trigger: input.trigger,
        params,
        snapshot,
        training,
        gate: gateReport,
      },
    }),
  );
  status.version = version;
  if (input.searchAttributes)
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTE_KEYS.modelVersion, value: version.version }]);

  const approval = await stage('approval', async () => {
    const record = spec.approval.required ? await waitForApproval() : gate.record('not-required');
    status.approval.record = record;
    await quick.recordApproval({ version, store: spec.register.store, record });
    if (record.decision === 'rejected') {
      fail(
        'ApprovalRejected',
        `Rejected by ${record.rejection?.by}: ${record.rejection?.comment || '(no comment)'}`,
        record,
      );
    }
    if (record.decision === 'timed-out') {
      fail(
        'ApprovalTimedOut',
        `No decision within ${spec.approval.timeout} ms; the candidate was not deployed`,
        record,
      );
    }
    return record;
  });

  async function waitForApproval() {
    upsertMemo({
      candidate: { model, version: version.version, metrics: training.metrics, gatePassed: gateReport.passed },
    });
    setCurrentDetails(approvalDetails(version, training, gateReport, gate.allowed, spec.approval.quorum));
    const reminder = spec.approval.reminder;
    const remind = reminder
      ? async () => {
          await callStep(reminder.step, {
            workflowId: info.workflowId,
            model,
            version: version.version,
            deadline: gate.deadline,
            approvers: gate.allowed,
          });
        }
      : undefined;
    const record = await gate.wait(remind);
    setCurrentDetails(
      `**Decision:** ${record.decision} at ${record.decidedAt}\n\n${approvalDetails(version, training, gateReport, gate.allowed, spec.approval.quorum)}`,
    );
    return record;
  }

  let deployment: PipelineResult['deployment'];
  if (spec.deploy) {
    const deploySpec = spec.deploy;
    const monitor = spec.monitor.enabled ? { windowMs: spec.monitor.window } : undefined;
    // Remote targets always move traffic as a rollout; without a rollout policy, in one direct step.
    const rollout =
      deploySpec.rollout ??
      (deploySpec.target.kind === 'local' ? undefined : RolloutSchema.parse({ steps: [{ traffic: 100 }], bake: 0 }));
    deployment = await stage('deploy', () =>
      rollout
        ? rollOut({
            version,
            deploy: { ...deploySpec, rollout },
            snapshot,
            store: spec.register.store,
            requestedBy: input.requestedBy,
            monitor,
            approval: spec.approval,
            record: (status.rollout = {
              candidate: version.version,
              step: 0,
              steps: rollout.steps.length,
              traffic: {},
              state: 'starting',
              failedAnalyses: 0,
              analyses: [],
            }),
          })
        : deploy({
            version,
            deploy: deploySpec,
            snapshot,
            store: spec.register.store,
            requestedBy: input.requestedBy,
            monitor,
          }),
    );
    status.deployment = deployment;
    if (spec.monitor.enabled)
      await quick.handOverToMonitor({ model, version: version.version, snapshot, spec, store: spec.register.store });
  } else {
    status.stages.deploy = 'skipped';
  }

  status.stage = 'done';
  publishStage('done');
  return {
    pipeline: spec.name,
    model,
    runKey: input.runKey,
    snapshot,
    training,
    gate: gateReport,
    version,
    approval,
    deployment,
  };
}

function describe(err: unknown): { code: string; message: string } {
  if (isCancellation(err)) return { code: 'PipelineCancelled', message: 'The run was cancelled' };
  let current: unknown = err;
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure && isPipelineErrorCode(current.type)) {
      return { code: current.type, message: current.message };
    }
    current = (current as Error & { cause?: unknown }).cause;
  }
  return { code: 'Unknown', message: err instanceof Error ? err.message : String(err) };
}
