/**
 * A job's intermediate metrics: `metrics.jsonl` in its `AIP_MODEL_DIR` (`$MLOPS_METRICS_FILE`), one JSON object per
 * line with a `step` and metric values, e.g. `{"step": 3, "auc": 0.81, "loss": 0.42}`. Sweeps read them while
 * trials run to stop the losing ones early. Only complete lines (ending in a newline) count, so a line being written
 * is read next time.
 */
import { promises as fs } from 'node:fs';
import { gcsObject } from '../../registry/gcs-object-store.js';
import type { TrialReport } from '../../sdk/sweep.js';

/** A job's reports of one metric, from line `fromLine` on. */
export interface ReportsRead {
  reports: TrialReport[];
  /** Complete lines read in all; the next read starts there. */
  lines: number;
}

/**
 * Parses the complete lines of `metrics.jsonl` from `fromLine` on, keeping the lines that carry `metric`. Throws a
 * message naming the line when one is not an object with a finite `step` and finite numbers.
 */
export function parseReports(text: string, metric: string, fromLine = 0, where = 'metrics.jsonl'): ReportsRead {
  const complete = text.slice(0, text.lastIndexOf('\n') + 1).split('\n');
  complete.pop();
  const reports: TrialReport[] = [];
  for (let i = fromLine; i < complete.length; i++) {
    const line = complete[i]!;
    if (line.trim() === '') continue;
    const at = `${where} line ${i + 1}`;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (err) {
      throw new Error(`${at} is not JSON: ${(err as Error).message}`);
    }
    if (!raw || typeof raw !== 'object' || Array.isArray(raw))
      throw new Error(`${at}: each line is an object, e.g. {"step": 3, "${metric}": 0.81}`);
    const record = raw as Record<string, unknown>;
    const step = record.step;
    if (typeof step !== 'number' || !Number.isFinite(step) || step < 0)
      throw new Error(`${at}: "step" must be a number ≥ 0 (the epoch or iteration), got ${JSON.stringify(step)}`);
    if (!(metric in record)) continue;
    const value = record[metric];
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new Error(`${at}: "${metric}" must be a finite number, got ${JSON.stringify(value)}`);
    reports.push({ step, value });
  }
  return { reports, lines: complete.length };
}

/** The text of a job's `metrics.jsonl` (a local path or a gs:// URI); empty when it has written none yet. */
export async function readReportsText(uri: string): Promise<string> {
  if (uri.startsWith('gs://')) {
    const { store, key } = gcsObject(uri);
    const object = await store.get(key);
    return object ? object.data.toString('utf8') : '';
  }
  return fs.readFile(uri, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
}
