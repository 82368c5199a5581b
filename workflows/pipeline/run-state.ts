/**
 * `PipelineRunState`: the state of one pipeline run inside its workflow (spec, status, approval gate) and what every
 * stage does around its own work: mark the stage running, keep the Web UI's search attributes current, run the
 * spec's named steps after it, record a failure. `mlPipeline` and team-written workflows both hold one.
 */
import {
  upsertSearchAttributes,
  setHandler,
  workflowInfo,
  ApplicationFailure,
  isCancellation,
} from '@temporalio/workflow';
import type { StepContext } from '../../sdk/define-step.js';
import { stepActivityName } from '../../sdk/step-names.js';
import { pipelineFailureOf, type PipelineErrorCode } from '../../sdk/errors.js';
import type { PipelineResult, PipelineRunInput, PipelineStatus, StageState } from '../../sdk/run-types.js';
import type { PipelineSpec } from '../../sdk/spec/pipeline.js';
import { STAGES, type Stage } from '../../sdk/spec/stages.js';
import { SPEC_VERSION } from '../../sdk/spec/version.js';
import { pipelineSchemas } from './lazy-schemas.js';
import { ApprovalGate } from '../approval.js';
import { statusQuery } from '../messages.js';
import { SEARCH_ATTRIBUTE_KEYS, searchStage } from '../visibility.js';
import { quick } from './activities.js';

/** Fails the run with a pipeline failure type (non-retryable: the workflow ends). */
export function fail(code: PipelineErrorCode, message: string, details?: unknown): never {
  throw ApplicationFailure.create({
    type: code,
    message,
    details: details === undefined ? [] : [details],
    nonRetryable: true,
  });
}

const noFailure = () => ({});

/** Waits for carried-over work; throws the first failure. */
async function settle(carried: Promise<{ error?: unknown }>[]): Promise<void> {
  for (const outcome of await Promise.all(carried)) if (outcome.error !== undefined) throw outcome.error;
}

/** One run's state and the bookkeeping every stage shares. Create it first thing in the workflow. */
export class PipelineRunState {
  readonly spec: PipelineSpec;
  readonly model: string;
  readonly input: PipelineRunInput;
  readonly status: PipelineStatus;
  /** The approval gate; its Signals and Updates are installed from the start so early decisions are audited. */
  readonly gate: ApprovalGate;
  private readonly carried: Promise<{ error?: unknown }>[] = [];

  /**
   * Validates the run's spec (the workflow input), installs the `status` query and the approval handlers, and
   * publishes the pipeline and model as search attributes.
   */
  constructor(input: PipelineRunInput) {
    this.spec = runSpec(input);
    this.model = this.spec.model ?? this.spec.name;
    // Scheduled runs get their key from the id the schedule gave them (`pipeline/<name>/schedule-<time>`).
    this.input = { ...input, runKey: input.runKey || workflowInfo().workflowId.split('/').pop()! };
    this.gate = new ApprovalGate(this.spec.approval, input.requestedBy, this.spec.register.store);
    this.status = initialStatus(this.spec, this.model, this.input, this.gate.allowed);
    setHandler(statusQuery, () => this.snapshotOfStatus());
    this.gate.install();
    this.upsertSearch([
      { key: SEARCH_ATTRIBUTE_KEYS.pipeline, value: this.spec.name },
      { key: SEARCH_ATTRIBUTE_KEYS.model, value: this.model },
    ]);
  }

  /** The object store of the registry and snapshots (the spec's, or the worker's default). */
  get store(): string | undefined {
    return this.spec.register.store;
  }

  /**
   * Runs one stage: status and search attribute, then the spec's steps that run after it. Work an earlier stage
   * carried over (`carryOver`) must succeed before this stage counts as done.
   */
  async stage<T>(name: Stage, run: () => Promise<T>): Promise<T> {
    const inherited = this.carried.splice(0);
    this.status.stage = name;
    this.status.stages[name] = 'running';
    this.publishStage(name);
    try {
      const out = await run();
      await settle(inherited);
      this.status.stages[name] = 'succeeded';
      await this.runSteps(name);
      return out;
    } catch (err) {
      await settle(inherited).catch(() => undefined);
      this.status.stages[name] = 'failed';
      this.status.stage = 'failed';
      this.status.error = describeFailure(err);
      this.publishStage('failed');
      throw err;
    }
  }

  /**
   * Hands work a stage started to the next stage, which waits for it before it completes (the approval record
   * is written while the deploy starts). Its failure fails that stage.
   */
  carryOver(work: Promise<unknown>): void {
    // Settled into a value at once, so a failure before the next stage awaits it is not an unhandled rejection.
    this.carried.push(work.then(noFailure, (error: unknown) => ({ error })));
  }

  /** Marks a stage the spec leaves out. */
  skip(name: Stage): void {
    this.status.stages[name] = 'skipped';
  }

  /** Marks the run done and returns its result (what the stages returned, with the run's names). */
  finish(stages: Omit<PipelineResult, 'pipeline' | 'model' | 'runKey'>): PipelineResult {
    this.status.stage = 'done';
    this.publishStage('done');
    const { pipeline, model, runKey } = this.status;
    return { pipeline, model, runKey, ...stages };
  }

  /** Calls a named step (`defineStep`) with the run so far. */
  callStep(step: string, stepInput: unknown): Promise<unknown> {
    const run = (quick as unknown as Record<string, (i: unknown, c: StepContext) => Promise<unknown>>)[
      stepActivityName(step)
    ];
    return run!(stepInput, this.stepContext());
  }

  /** Sets search attributes, only when the server has them registered (the run's input says so). */
  upsertSearch(attributes: Parameters<typeof upsertSearchAttributes>[0]): void {
    if (this.input.searchAttributes) upsertSearchAttributes(attributes);
  }

  private publishStage(stage: PipelineStatus['stage']): void {
    this.upsertSearch([{ key: SEARCH_ATTRIBUTE_KEYS.stage, value: searchStage(stage) }]);
  }

  private async runSteps(after: Stage): Promise<void> {
    for (const call of this.spec.steps.filter((s) => s.after === after)) {
      const output = await this.callStep(call.step, call.input);
      this.status.steps.push({ step: call.step, after, output });
    }
  }

  private stepContext(): StepContext {
    const { pipeline, model, runKey, snapshot, training, gate, version, deployment } = this.status;
    return { pipeline, model, runKey, snapshot, training, gate, version, deployment };
  }

  private snapshotOfStatus(): PipelineStatus {
    const gate = this.gate;
    return {
      ...this.status,
      approval: {
        ...this.status.approval,
        approvers: gate.allowed,
        attempts: gate.attempts,
        deadline: gate.deadline,
        escalated: gate.escalated,
      },
    };
  }
}

function initialStatus(spec: PipelineSpec, model: string, input: PipelineRunInput, approvers: string[]) {
  const status: PipelineStatus = {
    pipeline: spec.name,
    model,
    runKey: input.runKey,
    requestedBy: input.requestedBy,
    trigger: input.trigger,
    stage: 'ingest',
    stages: Object.fromEntries(STAGES.map((s) => [s, 'pending'])) as Record<Stage, StageState>,
    approval: { required: spec.approval.required, quorum: spec.approval.quorum, approvers, attempts: [] },
    steps: [],
  };
  return status;
}

function describeFailure(err: unknown): { code: string; message: string } {
  if (isCancellation(err)) return { code: 'PipelineCancelled', message: 'The run was cancelled' };
  const failure = pipelineFailureOf(err);
  if (failure) return { code: failure.code, message: failure.message };
  return { code: 'Unknown', message: err instanceof Error ? err.message : String(err) };
}

/**
 * The run's spec: as given when this release's client parsed and stamped it, else parsed again (a run started by
 * an older release gets the defaults added since; one started by hand is checked).
 */
function runSpec(input: PipelineRunInput): PipelineSpec {
  if (input.specVersion === SPEC_VERSION) return input.spec;
  const checked = pipelineSchemas().PipelineSpecSchema.safeParse(input.spec);
  if (!checked.success) fail('InvalidSpec', `The run's spec is invalid: ${checked.error.message}`);
  return checked.data;
}
