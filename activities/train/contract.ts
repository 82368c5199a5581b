/**
 * The training job contract, identical on every backend: the job gets Vertex AI's own variables
 * (`AIP_MODEL_DIR`, `AIP_CHECKPOINT_DIR`, `AIP_TENSORBOARD_LOG_DIR`) plus the data snapshot and run identity,
 * and writes its model and `metrics.json` into `AIP_MODEL_DIR`, optionally with `predictions.jsonl`: its own
 * predictions on the evaluation rows, which the deploy's skew gate replays through the serving container.
 * Metrics and predictions are checked and fail closed. Intermediate metrics go to `metrics.jsonl` beside them
 * (`MLOPS_METRICS_FILE`; read by sweeps, see progress.ts); a sweep trial also gets `MLOPS_TRIAL`, its index.
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
  /** A sweep trial's index (its parameters are already in `params`). */
  trial?: number;
}

/** Intermediate metrics, one JSON object per line, in `AIP_MODEL_DIR` (`MLOPS_METRICS_FILE`). */
export const INTERMEDIATE_METRICS_FILE = 'metrics.jsonl';

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
  if (c.modelDir) env.MLOPS_METRICS_FILE = `${c.modelDir.replace(/\/$/, '')}/${INTERMEDIATE_METRICS_FILE}`;
  if (c.trial !== undefined) env.MLOPS_TRIAL = String(c.trial);
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

/** The offline predictions' file name in `AIP_MODEL_DIR` (beside `metrics.json`). */
export const PREDICTIONS_FILE = 'predictions.jsonl';

/**
 * One line of `predictions.jsonl`: an evaluation row as a caller would send it to the model server, and what the
 * trained model predicted for it.
 */
export interface OfflinePrediction {
  /** The row's key (its row number, or an id column): unique in the file. */
  key: string | number;
  /** The request instance, raw features keyed by name (or a list), exactly as the server receives it. */
  instance: Record<string, unknown> | unknown[];
  /** What the server should answer for it (`predictions[i]`): a value, a label, scores, or an object of them. */
  prediction: unknown;
}

/** What a run records of the job's offline predictions. */
export interface PredictionsSummary {
  file: typeof PREDICTIONS_FILE;
  rows: number;
}

const OfflinePredictionSchema = z.strictObject({
  key: z.union([z.string().min(1), z.number()]),
  instance: z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]),
  prediction: z.unknown().refine((v) => v !== undefined && v !== null, 'is required'),
});

/** True when a JSON value holds a non-finite number (written as the strings "NaN" / "Infinity" by `parseLine`). */
function nonFinite(value: unknown): boolean {
  if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return true;
  if (Array.isArray(value)) return value.some(nonFinite);
  if (value && typeof value === 'object') return Object.values(value).some(nonFinite);
  return false;
}

/**
 * Parses `predictions.jsonl` text (one JSON object per line, blank lines ignored). Throws a message naming the
 * line and what is wrong: not JSON, a missing field, a duplicate key, NaN or Infinity anywhere.
 */
export function parseOfflinePredictions(text: string, file = PREDICTIONS_FILE): OfflinePrediction[] {
  const rows: OfflinePrediction[] = [];
  const keys = new Set<string>();
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const where = `${file} line ${i + 1}`;
    let raw: unknown;
    try {
      // NaN / Infinity are not JSON; Python's json.dump writes them anyway. Parse them to reject them by name.
      raw = JSON.parse(line.replace(/\b(NaN|-?Infinity)\b/g, '"$1"'));
    } catch (err) {
      throw new Error(`${where} is not JSON: ${(err as Error).message}`);
    }
    const parsed = OfflinePredictionSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(
        `${where}: ${issue.path.join('.') || 'the line'} ${issue.message} (each line is {"key": ..., "instance": {...}, "prediction": ...})`,
      );
    }
    if (nonFinite(parsed.data.instance) || nonFinite(parsed.data.prediction))
      throw new Error(`${where}: NaN and Infinity are not allowed (in ${JSON.stringify(parsed.data.key)})`);
    const key = JSON.stringify(parsed.data.key);
    if (keys.has(key)) throw new Error(`${where}: key ${key} appears twice; keys must be unique`);
    keys.add(key);
    rows.push(parsed.data as OfflinePrediction);
  }
  if (rows.length === 0) throw new Error(`${file} is empty: write one line per evaluation row, or no file at all`);
  return rows;
}

/**
 * Checks `<modelDir>/predictions.jsonl` when the job wrote one: undefined when it did not (the skew gate then
 * reports itself skipped); `InvalidPredictions` (not retried) when it is malformed.
 */
export async function readPredictions(modelDir: string): Promise<PredictionsSummary | undefined> {
  const file = path.join(modelDir, PREDICTIONS_FILE);
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : checkPredictions(text, file);
}

/** Validates the text of a predictions file (`where` names it in the error). */
export function checkPredictions(text: string, where: string): PredictionsSummary {
  try {
    return { file: PREDICTIONS_FILE, rows: parseOfflinePredictions(text, where).length };
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, 'InvalidPredictions');
  }
}
