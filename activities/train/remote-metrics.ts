/**
 * Reads `metrics.json` that a remote training job (Vertex, Kubernetes) wrote to its gs:// model directory, and
 * checks its `predictions.jsonl` when there is one.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { gcsObject } from '../../registry/gcs-object-store.js';
import { checkPredictions, PREDICTIONS_FILE, readMetrics, type PredictionsSummary } from './contract.js';

export async function readRemoteMetrics(modelUri: string, jobDescription: string): Promise<Record<string, number>> {
  const { store, key } = gcsObject(modelUri);
  const metricsObject = await store.get(`${key}metrics.json`);
  if (!metricsObject)
    throw ApplicationFailure.nonRetryable(
      `${jobDescription} succeeded but wrote no ${modelUri}metrics.json`,
      'InvalidMetrics',
    );
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'remote-metrics-'));
  try {
    await fs.writeFile(path.join(dir, 'metrics.json'), metricsObject.data);
    return await readMetrics(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Checks the job's `predictions.jsonl` in its gs:// model directory; undefined when it wrote none. */
export async function readRemotePredictions(modelUri: string): Promise<{ predictions?: PredictionsSummary }> {
  const { store, key } = gcsObject(modelUri);
  const object = await store.get(`${key}${PREDICTIONS_FILE}`);
  return object
    ? { predictions: checkPredictions(object.data.toString('utf8'), `${modelUri}${PREDICTIONS_FILE}`) }
    : {};
}
