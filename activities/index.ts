/**
 * The pipeline's activities, bound to a worker's configuration. The workflow imports only the type
 * `PipelineActivities`; the worker registers the object this returns.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { evaluateGate as evaluate } from '../sdk/gate.js';
import { trainingJobKey, trialJobKey } from '../sdk/ids.js';
import type {
  ApprovalRecord,
  DataSnapshot,
  Deployment,
  GateReport,
  RegisteredVersion,
  TrainingResult,
  AnalysisReport,
  ShadowReport,
  SkewReport,
} from '../sdk/run-types.js';
import type { GateSpec, TrainSpec } from '../sdk/spec/pipeline.js';
import type { HostPlacement } from '../sdk/spec/placement.js';
import { compareWithChampion } from './gate/champion.js';
import {
  computeDriftReport,
  handOverToMonitor,
  latestClosedWindow,
  startTriggeredRun,
  type DriftCheckInput,
  type DriftReport,
} from './monitor/monitoring.js';
import { computeQualityReport, type QualityCheckInput } from './monitor/quality.js';
import type { QualityReport } from '../sdk/run-types.js';
import { deployLocal, type DeployInput } from './deploy/local/deploy.js';
import type { CandidateServers, PromoteInput, RollBackInput, StopInput } from './deploy/types.js';
import { checkSkew, type SkewInput } from './deploy/skew/gate.js';
import { rolloutTargetOps, type TrafficInput } from './deploy/targets.js';
import { analyzeCanary, type AnalysisInput } from './deploy/canary-analysis.js';
import { analyzeShadow, type ShadowInput } from './deploy/shadow-analysis.js';
import { ingestData, type IngestInput } from './ingest/ingest.js';
import { openObjectStore, type ObjectStore } from '../registry/object-store.js';
import {
  recordApproval,
  recordDeployment,
  recordRollback,
  registerModel,
  type RegisterInput,
} from '../registry/registry.js';
import { jobReportsLocation, runTrainingStep } from './train/backends.js';
import { parseReports, readReportsText } from './train/progress.js';
import type { TrialReport } from '../sdk/sweep.js';
import { verifyApprover, type VerifyApproverInput, type VerifyApproverResult } from './approval/verify-approver.js';

/** A worker's configuration of its activities. */
export interface ActivityOptions {
  /** Working directory for local jobs and servers (default `$MLOPS_HOME` or `./.mlops`). */
  home?: string;
  /** Default object store for snapshots and the registry (default `file://<home>/store`). */
  store?: string;
  /**
   * This machine and the task queue only its workers poll (set by `createPipelineWorkers`): `placeLocalJob`
   * answers with it, binding a local training job to this machine.
   */
  host?: HostPlacement;
}

/** The `trainModel` activity's input, as the pipeline workflow sends it (recorded in histories: keep its shape). */
export interface TrainInput {
  /** The registry's store (`register.store`); remote jobs write below it by default. */
  store?: string;
  pipeline: string;
  runKey: string;
  train: TrainSpec;
  params: Record<string, string | number | boolean>;
  snapshot: DataSnapshot;
  /** A sweep trial's index: its job key is the trial's (not the activity's), so progress reads can find it. */
  trial?: number;
}

/** The `readTrialProgress` activity's input: the sweep's running trials and the line each read starts at. */
export interface TrialProgressInput {
  store?: string;
  pipeline: string;
  train: TrainSpec;
  metric: string;
  trials: { index: number; fromLine: number }[];
}

/** One trial's new reports, or why they could not be read. */
export interface TrialProgress {
  index: number;
  jobKey: string;
  jobId: string;
  reports: TrialReport[];
  lines: number;
  /** The file has a malformed line: the trial is stopped as failed. */
  error?: string;
}

/** Resolves the defaults: `$MLOPS_HOME` or `./.mlops`, and a `file://` store inside it. */
export function resolveActivityOptions(options: ActivityOptions = {}): Required<Omit<ActivityOptions, 'host'>> {
  const home = path.resolve(options.home ?? process.env.MLOPS_HOME ?? '.mlops');
  const store = options.store ?? process.env.MLOPS_STORE ?? pathToFileURL(path.join(home, 'store')).href;
  return { home, store };
}

/** Object stores by URI, opened once per worker; `undefined` is the worker's default store. */
function storeCache(defaultStore: string): (uri?: string) => ObjectStore {
  const stores = new Map<string, ObjectStore>();
  return (uri) => {
    const key = uri ?? defaultStore;
    let store = stores.get(key);
    if (!store) {
      store = openObjectStore(key);
      stores.set(key, store);
    }
    return store;
  };
}

/** The running activity's workflow id (recorded with deployments and rollbacks). */
const currentWorkflowId = (fallback: string) => Context.current().info.workflowExecution?.workflowId ?? fallback;

/**
 * Builds the activities a pipeline worker registers. Their names and inputs are part of every recorded
 * workflow history: rename or reshape one only with a workflow versioning plan.
 */
export function createActivities(options: ActivityOptions = {}) {
  const { home, store: defaultStore } = resolveActivityOptions(options);
  const storeFor = storeCache(defaultStore);

  return {
    /** Snapshot + schema/quality checks + reference profile. */
    async ingestData(input: IngestInput): Promise<DataSnapshot> {
      return ingestData(storeFor(input.store), input);
    },

    /**
     * With `train.placement`: the machine whose worker took this task, so the local job and all its attempts
     * run there (on its host task queue). A worker without a host queue cannot take the job.
     */
    async placeLocalJob(): Promise<HostPlacement> {
      if (options.host) return options.host;
      throw ApplicationFailure.nonRetryable(
        `train.placement binds local jobs to a machine, but this worker on task queue "${Context.current().info.taskQueue}" polls no host queue: start the training workers with createPipelineWorkers({ host }) (or MLOPS_HOST for the worker command), or give train.placement.taskQueue a queue that only such workers poll`,
        'InvalidSpec',
      );
    },

    /** Launches (or reattaches to) the training job on its backend and waits for it to end. */
    async trainModel(input: TrainInput): Promise<TrainingResult> {
      const { info } = Context.current();
      const workflowId = info.workflowExecution?.workflowId ?? info.activityId;
      return runTrainingStep({
        jobKey:
          input.trial === undefined
            ? trainingJobKey(info.namespace, workflowId, info.activityId, input.pipeline)
            : trialJobKey(info.namespace, workflowId, input.pipeline, input.trial),
        backend: input.train.backend,
        home,
        store: storeFor(input.store),
        contract: {
          dataUri: input.snapshot.uri,
          runKey: input.runKey,
          pipeline: input.pipeline,
          params: input.params,
          ...(input.trial === undefined ? {} : { trial: input.trial }),
        },
      });
    },

    /** A sweep's running trials: the intermediate metrics each job reported since the last read. */
    async readTrialProgress(input: TrialProgressInput): Promise<TrialProgress[]> {
      const { info } = Context.current();
      const workflowId = info.workflowExecution?.workflowId ?? '';
      return Promise.all(
        input.trials.map(async ({ index, fromLine }) => {
          const jobKey = trialJobKey(info.namespace, workflowId, input.pipeline, index);
          const step = { jobKey, backend: input.train.backend, home, store: storeFor(input.store) };
          const { metricsUri, jobId } = jobReportsLocation(step);
          const text = await readReportsText(metricsUri);
          try {
            return { index, jobKey, jobId, ...parseReports(text, input.metric, fromLine, metricsUri) };
          } catch (err) {
            return { index, jobKey, jobId, reports: [], lines: fromLine, error: (err as Error).message };
          }
        }),
      );
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

    /** Approval identity `verified`: checks the proof a decision carries (a bad proof is an answer, not a failure). */
    async verifyApprover(input: VerifyApproverInput): Promise<VerifyApproverResult> {
      return verifyApprover(storeFor(input.store), currentWorkflowId('unknown'), input);
    },

    /** Drift of the newest closed serving window after `afterWindow`; null when there is none yet. */
    async checkDrift(input: DriftCheckInput): Promise<DriftReport | null> {
      const store = storeFor(input.store);
      const window = await latestClosedWindow(store, input.model, input.spec.monitor.window, input.afterWindow);
      return window ? computeDriftReport(store, input, window) : null;
    },

    /** Model quality of the recent windows from the labels that have arrived (`monitor.labels`). */
    async checkQuality(input: QualityCheckInput): Promise<QualityReport> {
      return computeQualityReport(storeFor(input.store), input);
    },

    startTriggeredRun,
    handOverToMonitor,

    /** Object URIs under a `gs://` or `file://` prefix, sorted. */
    async listObjects(input: { prefix: string }): Promise<string[]> {
      const store = openObjectStore(input.prefix);
      return (await store.list('')).map((k) => store.uri(k));
    },

    /** Serves the model, checks it, records the deployment and moves `champion` to it. */
    async deployModel(input: DeployInput & { requestedBy: string; skew?: SkewReport }): Promise<Deployment> {
      const served = await deployLocal(home, input, storeFor(input.store));
      const deployment = input.skew ? { ...served, skew: input.skew } : served;
      const workflowId = currentWorkflowId('unknown');
      await recordDeployment(storeFor(input.store), input.version, deployment, workflowId, input.requestedBy);
      return deployment;
    },

    /** Rollout: starts the candidate (healthy, smoke-tested or deployed at 0 %) beside the champion, no traffic. */
    async startCandidate(input: DeployInput): Promise<CandidateServers> {
      return rolloutTargetOps(home, input.deploy.target).start(input, storeFor(input.store));
    },

    /**
     * Skew gate: replays the training job's offline predictions through the candidate (healthy, no traffic yet),
     * compares, diagnoses a breach, and records the report in the version's manifest.
     */
    async checkSkew(input: SkewInput): Promise<SkewReport> {
      const store = storeFor(input.store);
      const predictor = await rolloutTargetOps(home, input.deploy.target).predictor(input, store);
      try {
        return await checkSkew(store, input, predictor);
      } finally {
        if ('close' in predictor) await predictor.close?.();
      }
    },

    /** The candidate failed the skew gate: it is stopped (undeployed) without touching the champion's traffic. */
    async stopCandidate(input: StopInput & { store?: string }): Promise<void> {
      await rolloutTargetOps(home, input.deploy.target).stop(input, storeFor(input.store));
      const { model, version } = input.version;
      Context.current().log.warn(`deploy: stopped ${model} v${version} before any traffic: ${input.reason}`);
    },

    /** Rollout: sets the split for one step (router weights, Vertex trafficSplit, KServe canary percent). */
    async routeTraffic(input: TrafficInput): Promise<{ routerEndpoint: string }> {
      return rolloutTargetOps(home, input.target).route(input);
    },

    /** Rollout: measures the candidate during the current step and judges it against the thresholds. */
    async analyzeCanary(input: AnalysisInput): Promise<AnalysisReport> {
      return analyzeCanary(input);
    },

    /** Rollout's shadow stage: compares the champion's and the candidate's answers to the mirrored requests. */
    async analyzeShadow(input: ShadowInput): Promise<ShadowReport> {
      return analyzeShadow(input);
    },

    /** Rollout succeeded: the candidate becomes the live version and `champion`. */
    async promoteCandidate(input: PromoteInput & { store?: string; requestedBy: string }): Promise<Deployment> {
      const promoted = await rolloutTargetOps(home, input.deploy.target).promote(input);
      const deployment = input.skew ? { ...promoted, skew: input.skew } : promoted;
      const workflowId = currentWorkflowId('unknown');
      await recordDeployment(storeFor(input.store), input.version, deployment, workflowId, input.requestedBy);
      return deployment;
    },

    /** Rollout breached: traffic back to the champion, candidate stopped, analysis in the deployment log. */
    async rollBackCandidate(input: RollBackInput & { store?: string }): Promise<void> {
      const store = storeFor(input.store);
      const { model, version } = input.version;
      await rolloutTargetOps(home, input.deploy.target).rollBack(input, store);
      Context.current().log.warn(`deploy: rolled back ${model} v${version}: ${input.reason}`);
      await recordRollback(store, input.version, {
        reason: input.reason,
        report: input.report,
        workflowId: currentWorkflowId(''),
        by: input.requestedBy,
      });
    },
  };
}

/** The activities' types, for `proxyActivities<PipelineActivities>` in the workflows (a type import only). */
export type PipelineActivities = ReturnType<typeof createActivities>;

// What tools and tests read beside the activities: the registry, its aliases, and stopping a local model server.
export { openObjectStore, FileObjectStore, type ObjectStore } from '../registry/object-store.js';
export { readManifest, listVersions, type Manifest } from '../registry/registry.js';
export { getAlias, moveAlias, deploymentLog, liveAt, rollback, type DeploymentLogEntry } from '../registry/aliases.js';
export { stopLocalServer } from './deploy/local/deploy.js';
