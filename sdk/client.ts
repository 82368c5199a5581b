/** `PipelineClient`: start runs, read their status, approve or reject, await results as typed errors. */
import path from 'node:path';
import {
  Client,
  type Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { z } from 'zod';
import type { PipelineDefinition } from './define-pipeline.js';
import { causeChain, PipelineError, pipelineFailureOf } from './errors.js';
import {
  isValidRunKey,
  monitorWorkflowId,
  newRunKey,
  pipelineOfWorkflowId,
  pipelineWorkflowId,
  watchWorkflowId,
} from './ids.js';
import type {
  ApprovalAttempt,
  DriftReport,
  MonitorStatus,
  PipelineResult,
  PipelineRunInput,
  PipelineStatus,
  Trigger,
} from './run-types.js';
import { ApprovalPayloadSchema, type ApprovalPayload } from './spec/approval.js';
import { idTokenObjectKey, sha256Hex, type StoredIdToken } from './approval-identity.js';
import { ParamsSchema } from './spec/common.js';
import { runSpecInput } from './spec/pipeline.js';
import { parseOrThrow } from './validate.js';
import { connectClient, DEFAULT_TASK_QUEUE, resolveConnectionOptions, type ConnectionOptions } from './connection.js';
import { ENCRYPTED_ENCODING, resolveEncryption, type EncryptionSetting } from './encryption.js';
import { PipelineSchedules } from './schedules.js';
import {
  approveUpdate,
  checkNowUpdate,
  monitorStatusQuery,
  rejectUpdate,
  SEARCH_ATTRIBUTE_KEYS,
  statusQuery,
  WORKFLOW_TYPES,
  type MlPipelineWorkflow,
  type WatchNewDataWorkflow,
} from '../workflows/messages.js';

export interface PipelineClientOptions extends ConnectionOptions {
  taskQueue?: string;
  /** An existing Temporal client (then the connection and encryption options are ignored). */
  client?: Client;
  /**
   * Payload encryption (see sdk/encryption.ts): a codec or its keys, `false` for none; by default
   * `MLOPS_ENCRYPTION_KEYS` / `MLOPS_ENCRYPTION_KEYS_FILE` when set. Use the same keys as the worker.
   */
  encryption?: EncryptionSetting;
}

/** Proof of who decides, for pipelines whose approval identity is `verified`. */
export interface DecisionOptions {
  /**
   * The approver's OIDC ID token (e.g. `gcloud auth print-identity-token`). It is put in the registry store for
   * the worker to verify and delete; the decision sent to the workflow carries only its sha256.
   */
  idToken?: string;
  /**
   * The registry store the workers use (`register.store` of the pipeline, else the workers' default); default
   * `MLOPS_STORE`, else `file://$MLOPS_HOME/store` (`./.mlops/store`), as a worker resolves it.
   */
  store?: string;
}

/** The registry store a worker uses by default: `MLOPS_STORE`, else `<MLOPS_HOME or ./.mlops>/store`. */
function defaultStore(): string {
  return process.env.MLOPS_STORE ?? path.join(path.resolve(process.env.MLOPS_HOME ?? '.mlops'), 'store');
}

export interface StartOptions {
  /** Who asks for the run (email). With separation of duties, this person may not approve it. */
  requestedBy: string;
  /** Unique per pipeline; defaults to a time-based key. A trigger that may fire twice passes its own. */
  runKey?: string;
  params?: Record<string, string | number | boolean>;
  trigger?: Trigger;
  /**
   * A team's own workflow type to run instead of `mlPipeline` (built from `temporal-mlops/workflow`'s stages and
   * registered with `createPipelineWorker({ workflowsPath })`). It gets the same run input, plus `input`.
   */
  workflowType?: string;
  /** Extra fields of the custom workflow's input, beside the run input's (`spec`, `runKey`, ...). */
  input?: Record<string, unknown>;
}

/** A started run. */
export interface PipelineRun {
  pipeline: string;
  runKey: string;
  workflowId: string;
  runId: string;
}

const StartOptionsSchema = z.strictObject({
  requestedBy: z.email('must be the email of the person or service asking for the run'),
  runKey: z.string().refine(isValidRunKey, 'must be 1-100 letters, digits, ".", "_" or "-"').optional(),
  params: ParamsSchema.optional(),
  trigger: z.custom<Trigger>((t) => typeof t === 'object' && t !== null && 'kind' in t).optional(),
  workflowType: z.string().min(1).optional(),
  input: z.record(z.string(), z.unknown()).optional(),
});

type RunRef = PipelineRun | string;
const idOf = (run: RunRef) => (typeof run === 'string' ? run : run.workflowId);

/** Names of the search attributes the workflow keeps current (see workflows/visibility.ts). */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword' | 'Int'> = Object.fromEntries(
  Object.values(SEARCH_ATTRIBUTE_KEYS).map((key) => [key.name, key.type === 'INT' ? 'Int' : 'Keyword']),
);

/** A run waiting for a decision, as `pending()` lists it. */
export interface PendingApproval {
  workflowId: string;
  pipeline: string;
  model: string;
  version: number | undefined;
  metrics: Record<string, number>;
  startedAt: Date;
  ageMs: number;
}

/** Converts a failed run's failure chain into a `PipelineError` with the failure type as its code. */
export function toPipelineError(err: unknown): unknown {
  // A run written by an encrypting worker, read by a process without the keys.
  if ([...causeChain(err)].some((e) => e.message.includes(`Unknown encoding: ${ENCRYPTED_ENCODING}`)))
    return new PipelineError(
      'EncryptionFailed',
      "The run's payloads are encrypted and this process has no keys: set MLOPS_ENCRYPTION_KEYS or MLOPS_ENCRYPTION_KEYS_FILE to the keys the worker uses",
      undefined,
      { cause: err },
    );
  if (err instanceof WorkflowNotFoundError)
    return new PipelineError('PipelineNotFound', err.message, undefined, { cause: err });
  if (!(err instanceof WorkflowFailedError) && !(err instanceof WorkflowUpdateFailedError)) return err;
  const failure = pipelineFailureOf(err.cause);
  if (failure) return new PipelineError(failure.code, failure.message, failure.details, { cause: err });
  const innermost = [...causeChain(err)].at(-1) ?? err;
  return new PipelineError('Unknown', innermost.message, undefined, { cause: err });
}

/**
 * The client teams and tools use to drive pipeline runs.
 *
 * @example
 * const client = await PipelineClient.connect();
 * const run = await client.start(churn, { requestedBy: 'ci@acme.com' });
 * await client.approve(run, { by: 'lead@acme.com', comment: 'AUC +0.4pt' });
 * const result = await client.result(run);
 */
export class PipelineClient {
  readonly taskQueue: string;
  /** Retraining schedules (Temporal Schedules). */
  readonly schedules: PipelineSchedules;
  private searchAttributesRegistered?: Promise<boolean>;
  private constructor(
    readonly client: Client,
    taskQueue: string | undefined,
    private readonly ownedConnection?: Connection,
  ) {
    this.taskQueue = taskQueue ?? DEFAULT_TASK_QUEUE;
    this.schedules = new PipelineSchedules(client, this.taskQueue, () => this.hasSearchAttributes());
  }

  /**
   * Connects like the Temporal CLI: the `temporal.toml` profile, then the `TEMPORAL_*` variables (address,
   * namespace, API key, TLS), then `options`; the local dev server when nothing is set. A connection problem
   * throws `PipelineError` (code `ConnectionFailed`) naming the setting to fix.
   */
  static async connect(options: PipelineClientOptions = {}): Promise<PipelineClient> {
    if (options.client) return new PipelineClient(options.client, options.taskQueue);
    const resolved = resolveConnectionOptions(options);
    const codec = resolveEncryption(options.encryption, options.env);
    const connection = await connectClient(resolved);
    const client = new Client({
      connection,
      namespace: resolved.namespace,
      ...(codec ? { dataConverter: { payloadCodecs: [codec] } } : {}),
    });
    return new PipelineClient(client, options.taskQueue, connection);
  }

  /** Starts a run of `pipeline`. A run key that already ran is refused; one that is running is joined. */
  async start(pipeline: PipelineDefinition, options: StartOptions): Promise<PipelineRun> {
    const opts = parseOrThrow(StartOptionsSchema, options, 'start options', 'InvalidInput');
    const runKey = opts.runKey ?? newRunKey(new Date(), Math.random);
    const input: PipelineRunInput = {
      ...opts.input,
      ...runSpecInput(pipeline.spec),
      runKey,
      requestedBy: opts.requestedBy,
      trigger: opts.trigger ?? { kind: 'manual' },
      params: opts.params ?? {},
      searchAttributes: await this.hasSearchAttributes(),
    };
    const workflowId = pipelineWorkflowId(pipeline.name, runKey);
    try {
      const handle = await this.client.workflow.start<MlPipelineWorkflow>(
        opts.workflowType ?? WORKFLOW_TYPES.mlPipeline,
        {
          taskQueue: this.taskQueue,
          workflowId,
          args: [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          staticSummary: `${pipeline.name} → ${pipeline.model}, requested by ${opts.requestedBy}`,
        },
      );
      return { pipeline: pipeline.name, runKey, workflowId, runId: handle.firstExecutionRunId };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new PipelineError(
          'InvalidInput',
          `Run key "${runKey}" of pipeline "${pipeline.name}" was already used by a finished run; pick a new runKey`,
          undefined,
          { cause: err },
        );
      }
      throw err;
    }
  }

  handle(run: RunRef): WorkflowHandle {
    return this.client.workflow.getHandle(idOf(run));
  }

  /** The run's stage, stage results and approval audit trail (the workflow's `status` query). */
  async status(run: RunRef): Promise<PipelineStatus> {
    try {
      return await this.handle(run).query(statusQuery);
    } catch (err) {
      throw toPipelineError(err);
    }
  }

  /**
   * Approves through the `approve` Update and returns the recorded attempt. A refusal by the policy (not an
   * approver, self-approval, duplicate, wrong stage) throws `PipelineError` with code `ApprovalRefused`
   * and the reason; it is in the audit trail either way. With `options.idToken`, the decision proves who sent it
   * (approval identity `verified`).
   */
  async approve(run: RunRef, payload: ApprovalPayload, options?: DecisionOptions): Promise<ApprovalAttempt> {
    return this.decide(run, 'approve', payload, options);
  }

  /** Rejects through the `reject` Update; an accepted reject vetoes the candidate. */
  async reject(run: RunRef, payload: ApprovalPayload, options?: DecisionOptions): Promise<ApprovalAttempt> {
    return this.decide(run, 'reject', payload, options);
  }

  private async decide(
    run: RunRef,
    decision: 'approve' | 'reject',
    payload: ApprovalPayload,
    options: DecisionOptions = {},
  ): Promise<ApprovalAttempt> {
    const body = parseOrThrow(ApprovalPayloadSchema, payload, `${decision} payload`, 'InvalidInput');
    const put = options.idToken !== undefined ? await this.putIdToken(idOf(run), decision, body, options) : undefined;
    if (put) body.proof = put.proof;
    const handle = this.handle(run);
    try {
      return await handle.executeUpdate(decision === 'approve' ? approveUpdate : rejectUpdate, { args: [body] });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        // The id exists but the run is over: say so, rather than "not found".
        const closed = await handle.describe().then(
          (d) => d.status.name,
          () => undefined,
        );
        if (closed)
          throw new PipelineError('ApprovalRefused', `wrong stage: the run has already ended (${closed})`, undefined, {
            cause: err,
          });
      }
      throw toPipelineError(err);
    } finally {
      // The worker deletes the token when it reads it; a decision refused before that must not leave it behind.
      await put?.remove();
    }
  }

  /** Puts the ID token where the worker's `verifyApprover` reads it; returns the proof the decision carries. */
  private async putIdToken(
    workflowId: string,
    decision: 'approve' | 'reject',
    body: ApprovalPayload,
    options: DecisionOptions,
  ): Promise<{ proof: { idTokenSha256: string }; remove: () => Promise<void> }> {
    const token = (options.idToken ?? '').trim();
    if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) {
      throw new PipelineError(
        'InvalidInput',
        'idToken: not a JWT (three base64url parts separated by dots); pass the ID token itself, e.g. the output of `gcloud auth print-identity-token`',
      );
    }
    const { openObjectStore } = await import('../registry/object-store.js');
    const store = openObjectStore(options.store ?? defaultStore());
    const idTokenSha256 = sha256Hex(token);
    const stored: StoredIdToken = { token, decision, by: body.by, comment: body.comment };
    const key = idTokenObjectKey(workflowId, idTokenSha256);
    await store.put(key, JSON.stringify(stored));
    return { proof: { idTokenSha256 }, remove: () => store.delete(key).catch(() => undefined) };
  }

  /** Runs waiting for an approval decision, oldest first (needs the search attributes; see `hasSearchAttributes`). */
  async pending(options: { pipeline?: string; limit?: number } = {}): Promise<PendingApproval[]> {
    if (!(await this.hasSearchAttributes())) {
      throw new PipelineError(
        'InvalidInput',
        'The server has no Mlops* search attributes: run `temporal-mlops setup-search-attributes` once',
      );
    }
    const filter = options.pipeline ? ` AND MlopsPipeline = "${options.pipeline.replace(/"/g, '')}"` : '';
    const query = `MlopsStage = "awaiting-approval" AND ExecutionStatus = "Running"${filter}`;
    const out: PendingApproval[] = [];
    const now = Date.now();
    try {
      for await (const wf of this.client.workflow.list({ query, pageSize: 1000 })) {
        const candidate = (wf.memo?.candidate ?? {}) as {
          model?: string;
          version?: number;
          metrics?: Record<string, number>;
        };
        const sa = wf.typedSearchAttributes;
        out.push({
          workflowId: wf.workflowId,
          pipeline: sa.get(SEARCH_ATTRIBUTE_KEYS.pipeline) ?? pipelineOfWorkflowId(wf.workflowId) ?? '',
          model: candidate.model ?? sa.get(SEARCH_ATTRIBUTE_KEYS.model) ?? '',
          version: candidate.version,
          metrics: candidate.metrics ?? {},
          startedAt: wf.startTime,
          ageMs: now - wf.startTime.getTime(),
        });
        if (options.limit && out.length >= options.limit) break;
      }
    } catch (err) {
      throw toPipelineError(err);
    }
    return out.sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
  }

  /** True when the namespace has the Mlops* search attributes (cached per client). */
  hasSearchAttributes(): Promise<boolean> {
    this.searchAttributesRegistered ??= this.client.connection.operatorService
      .listSearchAttributes({ namespace: this.client.options.namespace })
      .then((res) => Object.keys(SEARCH_ATTRIBUTES).every((name) => name in (res.customAttributes ?? {})))
      .catch(() => false);
    return this.searchAttributesRegistered;
  }

  /** Registers the Mlops* search attributes on the namespace (once per cluster; the dev-server script does it itself). */
  async setupSearchAttributes(): Promise<void> {
    const types = { Keyword: 2, Int: 3 }; // temporal.api.enums.v1.IndexedValueType KEYWORD / INT
    await this.client.connection.operatorService.addSearchAttributes({
      namespace: this.client.options.namespace,
      searchAttributes: Object.fromEntries(
        Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [name, types[type]]),
      ),
    });
    this.searchAttributesRegistered = undefined;
  }

  /** Waits for the run to end. Throws `PipelineError` with the failure type (`GateFailed`, ...) as `code`. */
  async result(run: RunRef): Promise<PipelineResult> {
    try {
      return (await this.handle(run).result()) as PipelineResult;
    } catch (err) {
      throw toPipelineError(err);
    }
  }

  /**
   * Starts the pipeline's new-data watcher (`watch/<name>`), or joins it if it runs: each new object under
   * `retrain.onNewDataPrefix` starts one run that ingests it.
   */
  async watchNewData(pipeline: PipelineDefinition): Promise<string> {
    if (!pipeline.spec.retrain.onNewDataPrefix) {
      throw new PipelineError('InvalidSpec', `Pipeline "${pipeline.name}" has no retrain.onNewDataPrefix to watch`);
    }
    const workflowId = watchWorkflowId(pipeline.name);
    await this.client.workflow.start<WatchNewDataWorkflow>(WORKFLOW_TYPES.watchNewData, {
      taskQueue: this.taskQueue,
      workflowId,
      args: [{ spec: pipeline.spec }],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    return workflowId;
  }

  /** The monitor's state for a model: latest drift report, streak, retrains it started. */
  async monitorStatus(model: string): Promise<MonitorStatus> {
    return this.client.workflow.getHandle(monitorWorkflowId(model)).query(monitorStatusQuery);
  }

  /** Asks the model's monitor to check the latest closed window now; returns its latest report. */
  async checkMonitor(model: string): Promise<DriftReport | null> {
    return this.client.workflow.getHandle(monitorWorkflowId(model)).executeUpdate(checkNowUpdate);
  }

  /** Cancels the run; a running training job is stopped. */
  async cancel(run: RunRef): Promise<void> {
    await this.handle(run).cancel();
  }

  async close(): Promise<void> {
    await this.ownedConnection?.close();
  }
}
