/**
 * Each training backend behind one interface, so the `trainModel` activity dispatches in one place: a local
 * subprocess, a Vertex AI CustomJob, or a Kubernetes Job. A backend gets the step (job key, data snapshot, run
 * identity) and returns when the job has ended; it reattaches instead of starting a second job when retried.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { TrainingResult } from '../../sdk/run-types.js';
import type {
  KubernetesBackend,
  LocalBackend,
  TrainingBackend as TrainingBackendSpec,
  VertexBackend,
} from '../../sdk/spec/backends.js';
import type { ObjectStore } from '../../registry/object-store.js';
import { downloadTo } from '../ingest/sources.js';
import { kubernetesJobName, trainKubernetes } from './kubernetes.js';
import { INTERMEDIATE_METRICS_FILE } from './contract.js';
import { jobPaths, trainLocal } from './local.js';
import { localPathOf } from '../../registry/object-store.js';
import { trainVertex } from './vertex.js';

/** One training step as every backend receives it. */
export interface TrainingStep<B extends TrainingBackendSpec = TrainingBackendSpec> {
  /** Deterministic per workflow and activity: how a retried attempt finds its job. */
  jobKey: string;
  backend: B;
  /** The worker's working directory (local jobs live under `<home>/jobs/`). */
  home: string;
  /** The registry's store: remote jobs write below `<store>/jobs/<jobKey>/` unless the backend names a directory. */
  store: ObjectStore;
  contract: {
    dataUri: string;
    runKey: string;
    pipeline: string;
    params: Record<string, string | number | boolean>;
    /** A sweep trial's index. */
    trial?: number;
  };
}

/** A backend's way to run one step to its end. */
export type TrainingBackend<B extends TrainingBackendSpec> = (step: TrainingStep<B>) => Promise<TrainingResult>;

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

/** Where a remote job writes its outputs: the backend's `baseOutputDirectory`, else below a gs:// registry store. */
function remoteOutputDirectory(step: Omit<TrainingStep<VertexBackend | KubernetesBackend>, 'contract'>): string {
  const { backend, store, jobKey } = step;
  const outputDirectory =
    backend.baseOutputDirectory ?? (store.root.startsWith('gs://') ? `${store.root}/jobs/${jobKey}/` : undefined);
  if (!outputDirectory) {
    throw ApplicationFailure.nonRetryable(
      `The ${backend.kind} backend needs a gs:// output: set train.backend.baseOutputDirectory or a gs:// register.store`,
      'InvalidSpec',
    );
  }
  return outputDirectory;
}

const local: TrainingBackend<LocalBackend> = async (step) => {
  const { dataUri } = step.contract;
  const dataPath = dataUri.startsWith('file://')
    ? localPathOf(dataUri)
    : await stageSnapshot(dataUri, path.join(step.home, 'jobs', `${step.jobKey}.data${path.extname(dataUri)}`));
  return trainLocal({
    home: step.home,
    jobKey: step.jobKey,
    backend: step.backend,
    contract: { ...step.contract, dataPath },
  });
};

const vertex: TrainingBackend<VertexBackend> = (step) =>
  trainVertex({
    jobKey: step.jobKey,
    backend: step.backend,
    outputDirectory: remoteOutputDirectory(step),
    preemptions: 0,
    contract: step.contract,
  });

const kubernetes: TrainingBackend<KubernetesBackend> = (step) =>
  trainKubernetes({
    jobKey: step.jobKey,
    backend: step.backend,
    outputDirectory: remoteOutputDirectory(step),
    contract: step.contract,
  });

/** The backend of each `train.backend.kind`. */
export const trainingBackends: {
  [K in TrainingBackendSpec['kind']]: TrainingBackend<Extract<TrainingBackendSpec, { kind: K }>>;
} = { local, vertex, kubernetes };

/** Runs one training step on the backend its spec names. */
export function runTrainingStep(step: TrainingStep): Promise<TrainingResult> {
  // The mapped type pairs each kind with its backend; TypeScript cannot follow that through an index, hence the cast.
  const backend = trainingBackends[step.backend.kind] as TrainingBackend<TrainingBackendSpec>;
  return backend(step);
}

/** Where a step's job writes its intermediate metrics, and the backend's name for the job. */
export function jobReportsLocation(step: Omit<TrainingStep, 'contract'>): { metricsUri: string; jobId: string } {
  const { backend, jobKey } = step;
  if (backend.kind === 'local') {
    const { dir, modelDir } = jobPaths(step.home, jobKey);
    return { metricsUri: path.join(modelDir, INTERMEDIATE_METRICS_FILE), jobId: dir };
  }
  const base = remoteOutputDirectory({ ...step, backend }).replace(/\/$/, '');
  const jobId =
    backend.kind === 'kubernetes'
      ? `${backend.namespace}/${kubernetesJobName(jobKey)}`
      : `projects/${backend.project}/locations/${backend.region}/customJobs (displayName ${jobKey})`;
  return { metricsUri: `${base}/model/${INTERMEDIATE_METRICS_FILE}`, jobId };
}
