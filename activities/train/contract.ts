/**
 * The training job contract, identical on every backend: the job gets Vertex AI's own variables
 * (`AIP_MODEL_DIR`, `AIP_CHECKPOINT_DIR`, `AIP_TENSORBOARD_LOG_DIR`) plus the data snapshot and run identity,
 * and writes its model and `metrics.json` into `AIP_MODEL_DIR`. Metrics are checked and fail closed.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';

export interface JobContractEnv {
  modelDir: string;
  checkpointDir: string;
  tensorboardDir: string;
  dataUri: string;
  dataPath?: string;
  runKey: string;
  jobKey: string;
  pipeline: string;
  params: Record<string, string | number | boolean>;
}

/** The environment variables a training job receives. */
export function contractEnv(c: JobContractEnv): Record<string, string> {
  const env: Record<string, string> = {
    AIP_MODEL_DIR: c.modelDir,
    AIP_CHECKPOINT_DIR: c.checkpointDir,
    AIP_TENSORBOARD_LOG_DIR: c.tensorboardDir,
    AIP_TRAINING_DATA_URI: c.dataUri,
    MLOPS_DATA_URI: c.dataUri,
    MLOPS_RUN_KEY: c.runKey,
    MLOPS_JOB_KEY: c.jobKey,
    MLOPS_PIPELINE: c.pipeline,
    MLOPS_PARAMS: JSON.stringify(c.params),
  };
  if (c.dataPath) env.MLOPS_DATA_PATH = c.dataPath;
  return env;
}

const MetricsSchema = z
  .record(z.string().min(1), z.unknown())
  .refine((m) => Object.keys(m).length > 0, 'metrics.json is empty: write at least one metric');

/** Reads `<modelDir>/metrics.json`; throws `InvalidMetrics` (not retried) on anything but finite numbers. */
export async function readMetrics(modelDir: string): Promise<Record<string, number>> {
  const file = path.join(modelDir, 'metrics.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw ApplicationFailure.nonRetryable(
      `The training job exited 0 but wrote no ${file}: write {"metric": number, ...} to $AIP_MODEL_DIR/metrics.json`,
      'InvalidMetrics',
    );
  }
  let raw: unknown;
  try {
    // NaN / Infinity are not JSON; Python's json.dump writes them anyway. Parse them to reject them by name.
    raw = JSON.parse(text.replace(/\b(NaN|-?Infinity)\b/g, '"$1"'));
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`${file} is not valid JSON: ${(err as Error).message}`, 'InvalidMetrics');
  }
  const parsed = MetricsSchema.safeParse(raw);
  if (!parsed.success)
    throw ApplicationFailure.nonRetryable(`${file}: ${parsed.error.issues[0]?.message}`, 'InvalidMetrics');
  const bad = Object.entries(parsed.data).filter(([, v]) => typeof v !== 'number' || !Number.isFinite(v));
  if (bad.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `${file}: metrics must be finite numbers; bad: ${bad.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`,
      'InvalidMetrics',
      { metrics: parsed.data },
    );
  }
  return parsed.data as Record<string, number>;
}

/** One training step on a remote backend (Vertex, Kubernetes): the job, where its outputs go, its contract. */
export interface RemoteTrainingJob<Backend> {
  jobKey: string;
  backend: Backend;
  /** gs:// directory for the job's outputs; AIP_MODEL_DIR etc. are set below it. */
  outputDirectory: string;
  contract: Omit<JobContractEnv, 'modelDir' | 'checkpointDir' | 'tensorboardDir' | 'jobKey'>;
}
