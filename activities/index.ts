/**
 * The pipeline's activities, bound to a worker's configuration. The workflow imports only the type
 * `PipelineActivities`; the worker registers the object this returns.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { evaluateGate as evaluate } from '../sdk/gate.js';
import { trainingJobKey } from '../sdk/ids.js';
import type {
  ApprovalRecord,
  DataSnapshot,
  Deployment,
  GateReport,
  RegisteredVersion,
  TrainingResult,
  AnalysisReport,
} from '../sdk/run-types.js';
import type { GateSpec, TrainSpec } from '../sdk/spec/pipeline.js';
import { compareWithChampion } from './gate/champion.js';
import {
  computeDriftReport,
  handOverToMonitor,
  latestClosedWindow,
  startTriggeredRun,
  type DriftCheckInput,
  type DriftReport,
} from './monitor/monitoring.js';
import { deployLocal, type DeployInput } from './deploy/local/deploy.js';
import type { CandidateServers, PromoteInput, RollBackInput } from './deploy/types.js';
import { rolloutTargetOps, type TrafficInput } from './deploy/targets.js';
import { analyzeCanary, type AnalysisInput } from './deploy/canary-analysis.js';
import { ingestData, type IngestInput } from './ingest/ingest.js';
import { downloadTo } from './ingest/sources.js';
import { openObjectStore, type ObjectStore } from '../registry/object-store.js';
import {
  recordApproval,
  recordDeployment,
  recordRollback,
  registerModel,
  type RegisterInput,
} from '../registry/registry.js';
import { localPathOf, trainLocal } from './train/local.js';
import { trainVertex } from './train/vertex.js';
import { trainKubernetes } from './train/kubernetes.js';

export interface ActivityOptions {
  /** Working directory for local jobs and servers (default `$MLOPS_HOME` or `./.mlops`). */
  home?: string;
  /** Default object store for snapshots and the registry (default `file://<home>/store`). */
  store?: string;
}

export interface TrainInput {
  store?: string;
  pipeline: string;
  runKey: string;
  train: TrainSpec;
  params: Record<string, string | number | boolean>;
  snapshot: DataSnapshot;
}

/** Copies a gs:// snapshot next to the job once (streamed), so a local training process can read a plain file. */
async function stageSnapshot(uri: string, file: string): Promise<string> {
  if (
    await fs.stat(file).then(
      () => true,
      () => false,
    )
  )
    return file;
  if (!(await downloadTo(uri, file)))
    throw ApplicationFailure.nonRetryable(`The data snapshot ${uri} does not exist`, 'DataValidationFailed');
  return file;
}

/** Resolves the defaults: `$MLOPS_HOME` or `./.mlops`, and a `file://` store inside it. */
export function resolveActivityOptions(options: ActivityOptions = {}): Required<ActivityOptions> {
  const home = path.resolve(options.home ?? process.env.MLOPS_HOME ?? '.mlops');
  const store = options.store ?? process.env.MLOPS_STORE ?? pathToFileURL(path.join(home, 'store')).href;
  return { home, store };
}

/** Builds the activities a pipeline worker registers. */
export function createActivities(options: ActivityOptions = {}) {
  const { home, store: defaultStore } = resolveActivityOptions(options);
  const stores = new Map<string, ObjectStore>();
  const storeFor = (uri?: string): ObjectStore => {
    const key = uri ?? defaultStore;
    let store = stores.get(key);
    if (!store) {
      store = openObjectStore(key);
      stores.set(key, store);
    }
    return store;
  };

  return {
    /** Snapshot + schema/quality checks + reference profile. */
    async ingestData(input: IngestInput): Promise<DataSnapshot> {
      return ingestData(storeFor(input.store), input);
    },

    /** Launches (or reattaches to) the training job and waits for it. */
    async trainModel(input: TrainInput): Promise<TrainingResult> {
      const ctx = Context.current();
      const backend = input.train.backend;
      const workflowId = ctx.info.workflowExecution?.workflowId ?? ctx.info.activityId;
      const jobKey = trainingJobKey(ctx.info.namespace, workflowId, ctx.info.activityId, input.pipeline);
      if (backend.kind === 'vertex' || backend.kind === 'kubernetes') {
        const store = storeFor(input.store);
        const outputDirectory =
          backend.baseOutputDirectory ?? (store.root.startsWith('gs://') ? `${store.root}/jobs/${jobKey}/` : undefined);
        if (!outputDirectory) {
          throw ApplicationFailure.nonRetryable(
            `The ${backend.kind} backend needs a gs:// output: set train.backend.baseOutputDirectory or a gs:// register.store`,
            'InvalidSpec',
          );
        }
        const contract = {
          dataUri: input.snapshot.uri,
          runKey: input.runKey,
          pipeline: input.pipeline,
          params: input.params,
        };
        return backend.kind === 'vertex'
          ? trainVertex({ jobKey, backend, outputDirectory, preemptions: 0, contract })
          : trainKubernetes({ jobKey, backend, outputDirectory, contract });
      }
      const dataPath = input.snapshot.uri.startsWith('file://')
        ? localPathOf(input.snapshot.uri)
        : await stageSnapshot(
            input.snapshot.uri,
            path.join(home, 'jobs', `${jobKey}.data${path.extname(input.snapshot.uri)}`),
          );
      return trainLocal({
        home,
        jobKey,
        backend,
        contract: {
          dataUri: input.snapshot.uri,
          dataPath,
          runKey: input.runKey,
          pipeline: input.pipeline,
          params: input.params,
        },
      });
    },

    /** Metric thresholds, and the champion/challenger comparison when the gate asks for one. */
    async evaluateGate(input: {
      gate: GateSpec;
      metrics: Record<string, number>;
      model?: string;
      store?: string;
      snapshot?: DataSnapshot;
    }): Promise<GateReport> {
      const report = evaluate(input.gate, input.metrics);
      if (!input.gate.champion || !input.model || !input.snapshot) return report;
      const champion = await compareWithChampion(
        storeFor(input.store),
        input.model,
        input.gate.champion,
        input.metrics,
        input.snapshot,
      );
      return { ...report, passed: report.passed && champion.passed, champion };
    },

    /** Artifacts + lineage manifest in the registry. */
    async registerModel(input: RegisterInput & { store?: string }): Promise<RegisteredVersion> {
      return registerModel(storeFor(input.store), input);
    },

    /** The approval decision into the version's manifest. */
    async recordApproval(input: { version: RegisteredVersion; store?: string; record: ApprovalRecord }): Promise<void> {
      await recordApproval(storeFor(input.store), input.version, input.record);
    },

    /** Drift of the newest closed serving window after `afterWindow`; null when there is none yet. */
    async checkDrift(input: DriftCheckInput): Promise<DriftReport | null> {
      const store = storeFor(input.store);
      const window = await latestClosedWindow(store, input.model, input.spec.monitor.window, input.afterWindow);
      return window ? computeDriftReport(store, input, window) : null;
    },

    startTriggeredRun,
    handOverToMonitor,

    /** Object URIs under a `gs://` or `file://` prefix, sorted. */
    async listObjects(input: { prefix: string }): Promise<string[]> {
      const store = openObjectStore(input.prefix);
      return (await store.list('')).map((k) => store.uri(k));
    },

    /** Serves the model, checks it, records the deployment and moves `champion` to it. */
    async deployModel(input: DeployInput & { requestedBy: string }): Promise<Deployment> {
      const deployment = await deployLocal(home, input, storeFor(input.store));
      const workflowId = Context.current().info.workflowExecution?.workflowId ?? 'unknown';
      await recordDeployment(storeFor(input.store), input.version, deployment, workflowId, input.requestedBy);
      return deployment;
    },

    /** Rollout: starts the candidate (healthy, smoke-tested or deployed at 0 %) beside the champion, no traffic. */
    async startCandidate(input: DeployInput): Promise<CandidateServers> {
      return rolloutTargetOps(home, input.deploy.target).start(input, storeFor(input.store));
    },

    /** Rollout: sets the split for one step (router weights, Vertex trafficSplit, KServe canary percent). */
    async routeTraffic(input: TrafficInput): Promise<{ routerEndpoint: string }> {
      return rolloutTargetOps(home, input.target).route(input);
    },

    /** Rollout: measures the candidate during the current step and judges it against the thresholds. */
    async analyzeCanary(input: AnalysisInput): Promise<AnalysisReport> {
      return analyzeCanary(input);
    },

    /** Rollout succeeded: the candidate becomes the live version and `champion`. */
    async promoteCandidate(input: PromoteInput & { store?: string; requestedBy: string }): Promise<Deployment> {
      const deployment = await rolloutTargetOps(home, input.deploy.target).promote(input);
      const workflowId = Context.current().info.workflowExecution?.workflowId ?? 'unknown';
      await recordDeployment(storeFor(input.store), input.version, deployment, workflowId, input.requestedBy);
      return deployment;
    },

    /** Rollout breached: traffic back to the champion, candidate stopped, analysis in the deployment log. */
    async rollBackCandidate(input: RollBackInput & { store?: string }): Promise<void> {
      const store = storeFor(input.store);
      const { model, version } = input.version;
      await rolloutTargetOps(home, input.deploy.target).rollBack(input, store);
      const ctx = Context.current();
      ctx.log.warn(`deploy: rolled back ${model} v${version}: ${input.reason}`);
      await recordRollback(store, input.version, {
        reason: input.reason,
        report: input.report,
        workflowId: ctx.info.workflowExecution?.workflowId ?? '',
        by: input.requestedBy,
      });
    },
  };
}

export type PipelineActivities = ReturnType<typeof createActivities>;
export { openObjectStore, FileObjectStore, type ObjectStore } from '../registry/object-store.js';
export { readManifest, listVersions, type Manifest } from '../registry/registry.js';
export { getAlias, moveAlias, deploymentLog, liveAt, rollback, type DeploymentLogEntry } from '../registry/aliases.js';
export { stopLocalServer } from './deploy/local/deploy.js';
