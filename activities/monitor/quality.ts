/**
 * Model quality with delayed labels (`monitor.labels`): every check reads the label files under the prefix
 * (JSONL, CSV, Parquet), joins them to the served predictions of the latest `lookbackWindows` closed windows by
 * request id (or a key feature), and computes each window's metrics; a late label simply lands in its window at
 * the next check. Bad labels (unknown ids, duplicates, the wrong type) and windows without predictions are
 * counted and reported, never thrown. The model is `quality-degraded` when the latest `sustainedWindows` judged
 * windows all break a bound. Re-reading every label file each check keeps the result independent of arrival
 * order; its cost grows with the labels under the prefix (archive old ones elsewhere).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { openObjectStore, type ObjectStore } from '../../registry/object-store.js';
import type { QualityReport, WindowQuality } from '../../sdk/run-types.js';
import type { MonitorLabelsSpec, PipelineSpec } from '../../sdk/spec/pipeline.js';
import { labelOf, scoresOf } from '../deploy/skew/compare.js';
import { DuckSession, sqlIdent, sqlString } from '../ingest/duckdb.js';
import { openObjectStream } from '../ingest/sources.js';
import { classificationMetrics, regressionMetrics, type ClassifiedRow } from './quality-metrics.js';
import { windowLines, windowStarts } from './monitoring.js';
import { renderQualityHtml } from './report-html.js';

export interface QualityCheckInput {
  model: string;
  version: number;
  spec: PipelineSpec;
  store?: string;
}

const LABEL_FILE = /\.(jsonl|ndjson|json|csv|parquet)$/i;
const MAX_PROBLEMS = 20;

/** A served prediction, reduced to what the metrics need. */
interface Served {
  window: string;
  predicted: string | number | undefined;
  score?: number;
}

/** A classification label as the served labels read (`labelOf`): strings, booleans, integers; else undefined. */
function classLabel(v: unknown): string | undefined {
  if (typeof v === 'bigint') return String(v);
  if (typeof v === 'string') {
    // CSV cells are strings: "1" is the class 1, but "0.75" is a score, not a class.
    const t = v.trim();
    const n = Number(t);
    return t === '' || (Number.isFinite(n) && !Number.isInteger(n)) ? undefined : t;
  }
  const l = labelOf(v);
  return l?.startsWith('"') ? (JSON.parse(l) as string) : l;
}

function numberLabel(v: unknown): number | undefined {
  const n = typeof v === 'bigint' ? Number(v) : typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

/** The positive class's score of a prediction: its only score, or `[k]` of a list when the positive class is k. */
function positiveScore(prediction: unknown, positive: string): number | undefined {
  const scores = scoresOf(prediction);
  if (typeof prediction === 'number') return undefined;
  if (scores.size === 1) return [...scores.values()][0];
  return /^\d+$/.test(positive) ? scores.get(`[${positive}]`) : undefined;
}

function reduce(prediction: unknown, labels: MonitorLabelsSpec): Pick<Served, 'predicted' | 'score'> {
  if (labels.task === 'regression') {
    const bare = numberLabel(prediction);
    const scores = scoresOf(prediction);
    return { predicted: bare ?? (scores.size === 1 ? [...scores.values()][0] : undefined) };
  }
  return { predicted: classLabel(prediction), score: positiveScore(prediction, labels.positiveLabel) };
}

/** Label rows `{id, label}` of one file, in file order. */
async function* labelRows(
  store: ObjectStore,
  key: string,
  labels: MonitorLabelsSpec,
  duck: DuckSession,
  scratch: string,
): AsyncGenerator<{ id: unknown; label: unknown; row: number }> {
  if (/\.(jsonl|ndjson|json)$/i.test(key)) {
    let row = 0;
    const input = openObjectStream(store.localPath(key) ?? store.uri(key));
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      row++;
      if (!line.trim()) continue;
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line) as Record<string, unknown>;
      } catch {
        yield { id: undefined, label: undefined, row };
        continue;
      }
      yield { id: obj?.[labels.idColumn], label: obj?.[labels.labelColumn], row };
    }
    return;
  }
  let file = store.localPath(key);
  if (!file) {
    file = path.join(scratch, path.basename(key));
    const obj = await store.get(key);
    if (!obj) return;
    await fs.writeFile(file, obj.data);
  }
  const source = /\.csv$/i.test(key)
    ? `read_csv(${sqlString(file)}, header=true, all_varchar=true)`
    : `read_parquet(${sqlString(file)})`;
  // Labels as text, like CSV cells: DECIMAL, BIGINT and BOOLEAN columns then read the same as in a CSV file.
  const rows = await duck.rows(
    `SELECT CAST(${sqlIdent(labels.idColumn)} AS VARCHAR) AS id, CAST(${sqlIdent(labels.labelColumn)} AS VARCHAR) AS label FROM ${source}`,
  );
  for (const [i, r] of rows.entries()) yield { id: r.id, label: r.label, row: i + 1 };
}

/** Checks the model's quality over its recent windows; writes the JSON and HTML report. */
export async function computeQualityReport(store: ObjectStore, input: QualityCheckInput): Promise<QualityReport> {
  const labels = input.spec.monitor.labels!;
  const windowMs = input.spec.monitor.window;
  const problems: string[] = [];
  const problem = (p: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  const now = Date.now();
  const windows = (await windowStarts(store, input.model))
    .filter((w) => Date.parse(w) + windowMs <= now)
    .slice(-labels.lookbackWindows);

  // The served predictions by join id.
  const served = new Map<string, Served>();
  const perWindow = new Map<string, number>(windows.map((w) => [w, 0]));
  for (const window of windows) {
    for await (const text of windowLines(store, input.model, window)) {
      if (!text.trim()) continue;
      let line: { id?: unknown; version?: unknown; features?: Record<string, unknown>; prediction?: unknown };
      try {
        line = JSON.parse(text) as typeof line;
      } catch {
        continue; // the drift report counts bad lines
      }
      // Another version's predictions are not this version's quality (lines without a version count).
      if (typeof line.version === 'number' && line.version !== input.version) continue;
      const id = labels.keyColumn ? line.features?.[labels.keyColumn] : line.id;
      if (id === undefined || id === null || line.prediction === undefined) continue;
      served.set(String(id), { window, ...reduce(line.prediction, labels) });
      perWindow.set(window, perWindow.get(window)! + 1);
    }
    if (perWindow.get(window) === 0) problem(`window ${window} has no predictions with ${labels.keyColumn ?? 'an id'}`);
  }

  // The labels, joined as they are read.
  const labelStore = openObjectStore(labels.prefix);
  const files = (await labelStore.list('')).filter((k) => LABEL_FILE.test(k)).sort();
  const counts = { files: files.length, rows: 0, joined: 0, unknownIds: 0, duplicates: 0, wrongType: 0 };
  const seen = new Set<string>();
  const classified = new Map<string, ClassifiedRow[]>(windows.map((w) => [w, []]));
  const regressed = new Map<string, { predicted: number; actual: number }[]>(windows.map((w) => [w, []]));
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-labels-'));
  const duck = await DuckSession.open({ tempDirectory: scratch, threads: 1, memoryLimit: '256MB' });
  try {
    for (const key of files) {
      try {
        for await (const { id, label, row } of labelRows(labelStore, key, labels, duck, scratch)) {
          counts.rows++;
          const where = `${key} row ${row}`;
          if (id === undefined || id === null || id === '') {
            counts.wrongType++;
            problem(`${where}: no ${labels.idColumn}`);
            continue;
          }
          const sid = String(id);
          const actual = labels.task === 'regression' ? numberLabel(label) : classLabel(label);
          if (actual === undefined) {
            counts.wrongType++;
            problem(
              `${where}: label ${JSON.stringify(label)} is not a ${labels.task === 'regression' ? 'number' : 'class (a string, boolean or integer)'}`,
            );
            continue;
          }
          const s = served.get(sid);
          if (!s) {
            counts.unknownIds++;
            problem(
              `${where}: ${labels.idColumn} ${sid} matches no served prediction of the last ${windows.length} windows`,
            );
            continue;
          }
          if (seen.has(sid)) {
            counts.duplicates++;
            problem(`${where}: a second label for ${sid} (the first one counts)`);
            continue;
          }
          seen.add(sid);
          counts.joined++;
          if (labels.task === 'regression') {
            if (typeof s.predicted === 'number')
              regressed.get(s.window)!.push({ predicted: s.predicted, actual: actual as number });
          } else if (typeof s.predicted === 'string')
            classified.get(s.window)!.push({ predicted: s.predicted, actual: actual as string, score: s.score });
        }
      } catch (err) {
        problem(`${key}: unreadable (${(err as Error).message}); skipped`);
      }
    }
  } finally {
    duck.close();
    await fs.rm(scratch, { recursive: true, force: true });
  }

  const results: WindowQuality[] = windows.map((window) => {
    const labelled = labels.task === 'regression' ? regressed.get(window)!.length : classified.get(window)!.length;
    const metrics =
      labels.task === 'regression'
        ? regressionMetrics(regressed.get(window)!)
        : classificationMetrics(classified.get(window)!, labels.positiveLabel);
    const judged = labelled >= labels.minLabels;
    const breaches: string[] = [];
    if (judged)
      for (const [name, bound] of Object.entries(labels.metrics)) {
        const v = metrics[name];
        if (v === undefined) {
          problem(`window ${window}: ${name} cannot be computed (no scores, or one class only)`);
          continue;
        }
        if (bound.min !== undefined && v < bound.min) breaches.push(`${name} ${fmt(v)} < min ${bound.min}`);
        if (bound.max !== undefined && v > bound.max) breaches.push(`${name} ${fmt(v)} > max ${bound.max}`);
      }
    return { window, predictions: perWindow.get(window)!, labelled, metrics, breaches, judged };
  });
  const judged = results.filter((r) => r.judged);
  const tail = judged.slice(-labels.sustainedWindows);
  const degraded = tail.length === labels.sustainedWindows && tail.every((r) => r.breaches.length > 0);

  const checkedAt = new Date().toISOString();
  const base = `monitoring/${input.model}/quality/${checkedAt.replace(/[-:.]/g, '')}`;
  const report: QualityReport = {
    model: input.model,
    version: input.version,
    checkedAt,
    degraded,
    ...(degraded ? { window: tail.at(-1)!.window } : {}),
    windows: results,
    labels: counts,
    problems,
    reportUri: store.uri(`${base}.json`),
    htmlUri: store.uri(`${base}.html`),
  };
  await store.put(`${base}.json`, JSON.stringify(report, null, 2));
  await store.put(`${base}.html`, renderQualityHtml(report, labels));
  return report;
}

const fmt = (v: number) => String(Number(v.toPrecision(4)));
