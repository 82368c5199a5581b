/**
 * Prediction drift: the served predictions of a window against the training job's offline predictions on its
 * evaluation rows (`predictions.jsonl` in the version's artifacts), with the same statistics as feature drift.
 * A prediction is read as the skew gate reads it (activities/deploy/skew/compare.ts): its class label (a string,
 * a boolean, an integer, an object's `label`, the argmax of scores) is one categorical column, `prediction`; each
 * score every offline prediction has (`score`, `probs.1`, a regression's bare value) is a numerical column,
 * `prediction.<path>`. Served values are folded into counts and arrays while the window is read, so memory does
 * not grow with the window beyond one double per score.
 */
import {
  categoricalColumnDrift,
  cleanSorted,
  columnDrift,
  type ColumnDrift,
  type StatTestName,
} from '../../sdk/drift/statistics.js';
import type { ObjectStore } from '../../registry/object-store.js';
import { artifactsPrefix } from '../../registry/registry.js';
import { labelOf, scoresOf } from '../deploy/skew/compare.js';
import { parseOfflinePredictions, PREDICTIONS_FILE } from '../train/contract.js';

/** Which distributions of a prediction are compared. */
export interface PredictionShape {
  label: boolean;
  /** Score paths (`''` is a bare number). */
  scores: string[];
}

/** The column a score path is reported as. */
const scoreColumn = (p: string) => (p === '' ? 'prediction' : `prediction.${p.replace(/^\./, '')}`);

/** The shape all offline predictions share: a label when every one has one, the score paths every one has. */
export function predictionShape(predictions: unknown[]): PredictionShape {
  const label = predictions.length > 0 && predictions.every((p) => labelOf(p) !== undefined);
  let common: Set<string> | undefined;
  for (const p of predictions) {
    const paths = new Set(scoresOf(p).keys());
    common = common ? new Set([...common].filter((k) => paths.has(k))) : paths;
  }
  // A bare integer label is its own "score": compared once, as a label.
  return { label, scores: [...(common ?? [])].filter((k) => !(label && k === '')) };
}

/** Served predictions folded as they are read. */
export class PredictionSample {
  labels = new Map<string | null, number>();
  scores = new Map<string, number[]>();
  rows = 0;

  constructor(readonly shape: PredictionShape) {
    for (const p of shape.scores) this.scores.set(p, []);
  }

  add(prediction: unknown): void {
    this.rows++;
    if (this.shape.label) {
      const l = labelOf(prediction) ?? null;
      this.labels.set(l, (this.labels.get(l) ?? 0) + 1);
    }
    if (this.shape.scores.length === 0) return;
    const s = scoresOf(prediction);
    for (const [p, values] of this.scores) values.push(s.get(p) ?? NaN);
  }
}

/** The offline predictions of a version, or why there are none to compare with. */
export async function offlinePredictions(
  store: ObjectStore,
  model: string,
  version: number,
): Promise<{ predictions: unknown[] } | { skipped: string }> {
  const key = `${artifactsPrefix(model, version)}${PREDICTIONS_FILE}`;
  const obj = await store.get(key);
  if (!obj) return { skipped: `v${version} has no ${PREDICTIONS_FILE} (the training job's offline predictions)` };
  try {
    return { predictions: parseOfflinePredictions(obj.data.toString()).map((r) => r.prediction) };
  } catch (err) {
    return { skipped: (err as Error).message };
  }
}

type Options = { test?: StatTestName; threshold?: number };

/** One drift per compared distribution: the label's, then each score's. Throws per column are the caller's. */
export function predictionDrifts(
  offline: PredictionSample,
  served: PredictionSample,
  options: (column: string) => Options,
): { column: string; drift?: ColumnDrift; error?: string; ref?: Float64Array; cur?: Float64Array }[] {
  const out: { column: string; drift?: ColumnDrift; error?: string; ref?: Float64Array; cur?: Float64Array }[] = [];
  if (offline.shape.label)
    try {
      out.push({
        column: 'prediction',
        drift: categoricalColumnDrift('prediction', offline.labels, served.labels, options('prediction')),
      });
    } catch (err) {
      out.push({ column: 'prediction', error: (err as Error).message });
    }
  for (const p of offline.shape.scores) {
    const column = scoreColumn(p);
    const ref = cleanSorted(offline.scores.get(p)!);
    const cur = cleanSorted(served.scores.get(p)!);
    try {
      out.push({ column, drift: columnDrift(column, 'numerical', ref, cur, options(column)), ref, cur });
    } catch (err) {
      out.push({ column, error: (err as Error).message });
    }
  }
  return out;
}
