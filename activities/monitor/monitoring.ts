/**
 * Monitoring activities: read the latest closed serving window, compute drift against the training snapshot's
 * reference (sdk/drift), store a JSON and an HTML report, and start retrain runs / hand a new reference to the
 * monitor. A window is read line by line into one typed array per numerical column and value counts per
 * categorical one; the reference is the snapshot's `reference.parquet` (at most 100,000 rows, read through
 * DuckDB one column at a time), so memory does not grow with the training data, and a 1,000,000-row window costs
 * a few arrays of doubles. Bad windows (empty, columns missing, all NaN) become report entries, never a failed
 * check.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import {
  categoricalColumnDrift,
  cleanSorted,
  columnDrift,
  datasetDrift,
  type ColumnDrift,
  type ColumnKind,
} from '../../sdk/drift/statistics.js';
import { monitorWorkflowId, pipelineWorkflowId } from '../../sdk/ids.js';
import type {
  ColumnReport,
  DataSnapshot,
  DriftReport,
  MonitorReference,
  PipelineRunInput,
} from '../../sdk/run-types.js';

export type { ColumnReport, DriftReport };
import { runSpecInput, type PipelineSpec } from '../../sdk/spec/pipeline.js';
import {
  newReferenceSignal,
  WORKFLOW_TYPES,
  type MlPipelineWorkflow,
  type MonitorModelWorkflow,
} from '../../workflows/messages.js';
import { csvHeader, MISSING_MARKERS } from '../ingest/checks.js';
import { DuckSession, sqlIdent, sqlList, sqlString } from '../ingest/duckdb.js';
import { downloadTo, openObjectStream } from '../ingest/sources.js';
import type { ObjectStore } from '../../registry/object-store.js';
import { windowsPrefix } from './serving-log.js';
import { categoryPlot, numericPlot, renderDriftHtml, type Plot } from './report-html.js';
import { offlinePredictions, predictionDrifts, predictionShape, PredictionSample } from './prediction-drift.js';
import type { PredictionDriftReport } from '../../sdk/run-types.js';

export interface DriftCheckInput {
  model: string;
  version: number;
  snapshot: DataSnapshot;
  spec: PipelineSpec;
  store?: string;
  /** Only windows that start after this one are considered. */
  afterWindow?: string;
}

/**
 * The window a key belongs to: `<start>.jsonl` (one object for the window, as older proxies and hand-written
 * windows have it) or `<start>/<segment>.jsonl` (the segments the serving proxy appends).
 */
function windowOfKey(rest: string): string | undefined {
  const m = /^([^/]+?)(?:\.jsonl|\/[^/]+\.jsonl)$/.exec(rest);
  return m && !Number.isNaN(Date.parse(m[1]!)) ? m[1] : undefined;
}

/** Every window start of the model, ascending. */
export async function windowStarts(store: ObjectStore, model: string): Promise<string[]> {
  const starts = new Set<string>();
  for (const key of await store.list(windowsPrefix(model))) {
    const start = windowOfKey(key.slice(windowsPrefix(model).length));
    if (start) starts.add(start);
  }
  return [...starts].sort();
}

/** The newest closed window after `after`, or undefined. */
export async function latestClosedWindow(
  store: ObjectStore,
  model: string,
  windowMs: number,
  after?: string,
): Promise<string | undefined> {
  const now = Date.now();
  const closed = (start: string) => Date.parse(start) + windowMs <= now && (!after || start > after);
  return (await windowStarts(store, model)).filter(closed).at(-1);
}

/**
 * A window's lines in write order: the whole-window object (if any) first, then its segments by name. Listing
 * `<start>/` is a folder on either store; the whole-window object is opened and skipped when absent.
 */
export async function* windowLines(store: ObjectStore, model: string, window: string): AsyncGenerator<string> {
  const base = `${windowsPrefix(model)}${window}`;
  const segments = (await store.list(`${base}/`)).filter((k) => k.endsWith('.jsonl')).sort();
  for (const key of [`${base}.jsonl`, ...segments]) {
    const input = openObjectStream(store.localPath(key) ?? store.uri(key));
    try {
      for await (const text of createInterface({ input, crlfDelay: Infinity })) yield text;
    } catch (err) {
      const e = err as { code?: unknown; status?: unknown };
      if (key === `${base}.jsonl` && (e.code === 'ENOENT' || e.code === 404 || e.status === 404)) continue;
      throw err;
    }
  }
}

function kindOf(type: string): ColumnKind {
  return type === 'number' || type === 'integer' ? 'numerical' : 'categorical';
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return NaN;
}

/** Doubles appended in fixed-size chunks: no doubling copies while a window is read. */
class DoubleColumn {
  private chunks: Float64Array[] = [];
  private last = new Float64Array(1 << 16);
  private n = 0;
  length = 0;

  push(v: number): void {
    if (this.n === this.last.length) {
      this.chunks.push(this.last);
      this.last = new Float64Array(1 << 16);
      this.n = 0;
    }
    this.last[this.n++] = v;
    this.length++;
  }

  toArray(): Float64Array {
    const out = new Float64Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    out.set(this.last.subarray(0, this.n), at);
    return out;
  }
}

/** A window's values for the monitored columns, and what was wrong with its lines. */
interface WindowData {
  rows: number;
  numbers: Map<string, DoubleColumn>;
  categories: Map<string, Map<string | null, number>>;
  /** Requests that had the column at all (a schema mismatch is a column no request has). */
  present: Map<string, number>;
  problems: string[];
}

/** Line problems listed in a report; the rest are counted. */
const MAX_LINE_PROBLEMS = 20;

async function readWindow(
  store: ObjectStore,
  model: string,
  window: string,
  columns: { name: string; kind: ColumnKind }[],
  predictions?: PredictionSample,
): Promise<WindowData> {
  const data: WindowData = {
    rows: 0,
    numbers: new Map(columns.filter((c) => c.kind === 'numerical').map((c) => [c.name, new DoubleColumn()])),
    categories: new Map(columns.filter((c) => c.kind === 'categorical').map((c) => [c.name, new Map()])),
    present: new Map(columns.map((c) => [c.name, 0])),
    problems: [],
  };
  let line = 0;
  let badLines = 0;
  const problem = (message: string) => {
    if (++badLines <= MAX_LINE_PROBLEMS) data.problems.push(message);
  };
  for await (const text of windowLines(store, model, window)) {
    line++;
    if (!text.trim()) continue;
    let features: unknown;
    let parsed: { features?: unknown; prediction?: unknown };
    try {
      parsed = JSON.parse(text) as { features?: unknown; prediction?: unknown };
      features = parsed?.features;
    } catch {
      problem(`line ${line}: not JSON`);
      continue;
    }
    if (!features || typeof features !== 'object' || Array.isArray(features)) {
      problem(`line ${line}: features is not an object keyed by column`);
      continue;
    }
    const row = features as Record<string, unknown>;
    data.rows++;
    if (predictions && parsed.prediction !== undefined) predictions.add(parsed.prediction);
    for (const [name, values] of data.numbers) {
      if (name in row) data.present.set(name, data.present.get(name)! + 1);
      values.push(toNumber(row[name]));
    }
    for (const [name, counts] of data.categories) {
      if (name in row) data.present.set(name, data.present.get(name)! + 1);
      const v = row[name] == null ? null : String(row[name]);
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
  }
  if (badLines > MAX_LINE_PROBLEMS) data.problems.push(`... and ${badLines - MAX_LINE_PROBLEMS} more bad lines`);
  if (data.rows === 0) data.problems.push(`window ${window} has no usable requests`);
  return data;
}

/** Local copies of `gs://` references, by snapshot: snapshots are immutable, and a monitor checks one per window. */
const CACHE_DIR = path.join(os.tmpdir(), 'mlops-reference-cache');
const CACHED = 8;

async function localCopy(uri: string, name: string): Promise<string | undefined> {
  if (!uri.startsWith('gs://')) {
    const file = uri.startsWith('file://') ? fileURLToPath(uri) : uri;
    return (await fs.stat(file).catch(() => undefined)) ? file : undefined;
  }
  const file = path.join(CACHE_DIR, name);
  if (await fs.stat(file).catch(() => undefined)) return file;
  if (!(await downloadTo(uri, file))) return undefined;
  const entries = await fs.readdir(CACHE_DIR);
  if (entries.length > CACHED) {
    const dated = await Promise.all(
      entries.map(async (e) => ({
        e,
        t: (await fs.stat(path.join(CACHE_DIR, e)).catch(() => undefined))?.mtimeMs ?? 0,
      })),
    );
    for (const { e } of dated.sort((a, b) => a.t - b.t).slice(0, entries.length - CACHED))
      await fs.rm(path.join(CACHE_DIR, e), { force: true });
  }
  return file;
}

/**
 * The reference as a DuckDB relation with a row-position column `__pos`: the snapshot's `reference.parquet`,
 * or for snapshots taken before it existed, their `data.csv` read with the declared columns.
 */
async function referenceRelation(
  duck: DuckSession,
  snapshot: DataSnapshot,
): Promise<{ relation: string; columns: string[] }> {
  const sha = snapshot.sha256.slice(0, 32);
  const parquet = snapshot.referenceUri && (await localCopy(snapshot.referenceUri, `${sha}-reference.parquet`));
  if (parquet) {
    const rows = await duck.rows(`DESCRIBE SELECT * FROM read_parquet(${sqlString(parquet)})`);
    return {
      relation: `(SELECT *, file_row_number AS "__pos" FROM read_parquet(${sqlString(parquet)}, file_row_number=true))`,
      columns: rows.map((r) => String(r.column_name)),
    };
  }
  const csv = await localCopy(snapshot.uri, `${sha}-data.csv`);
  if (!csv) throw new Error(`the training snapshot ${snapshot.uri} is gone`);
  const header = (await csvHeader(duck, csv)) ?? [];
  const types = header.map((h) => `${sqlString(h)}: 'VARCHAR'`).join(', ');
  return {
    relation: `(SELECT *, row_number() OVER () AS "__pos" FROM read_csv(${sqlString(csv)}, header=true, auto_detect=false, delim=',', quote='"', escape='"', columns={${types}}, nullstr=${sqlList(MISSING_MARKERS)}, ignore_errors=true))`,
    columns: header,
  };
}

/** Computes the drift report of one window; per-column problems are recorded, not thrown. */
export async function computeDriftReport(
  store: ObjectStore,
  input: DriftCheckInput,
  window: string,
): Promise<DriftReport> {
  const spec = input.spec;
  const monitored = (
    spec.monitor.columns ?? Object.keys(spec.ingest.columns).filter((c) => c !== spec.ingest.target)
  ).map((name) => ({ name, type: spec.ingest.columns[name]?.type }));
  const offline = await offlinePredictions(store, input.model, input.version);
  const shape = 'predictions' in offline ? predictionShape(offline.predictions) : undefined;
  const served = shape && new PredictionSample(shape);
  const data = await readWindow(
    store,
    input.model,
    window,
    monitored.filter((c) => c.type).map((c) => ({ name: c.name, kind: kindOf(c.type!) })),
    served,
  );
  const results: ColumnReport[] = [];
  const drifts: ColumnDrift[] = [];
  const plots: Plot[] = [];
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-drift-'));
  const duck = await DuckSession.open({ tempDirectory: scratch, threads: 2, memoryLimit: '256MB' });
  try {
    const reference = await referenceRelation(duck, input.snapshot);
    for (const { name: column, type } of monitored) {
      if (!type || !reference.columns.includes(column)) {
        results.push({ column, drifted: false, error: `not a column of the training snapshot` });
        continue;
      }
      if (data.rows > 0 && data.present.get(column) === 0) {
        results.push({ column, drifted: false, error: 'schema mismatch: no request in this window has this column' });
        continue;
      }
      const kind = kindOf(type);
      const override = spec.monitor.tests[column];
      const options = override ? { test: override.test, threshold: override.threshold } : {};
      const id = sqlIdent(column);
      try {
        let drift: ColumnDrift;
        if (kind === 'numerical') {
          const ref = cleanSorted(await duck.doubles(`SELECT TRY_CAST(${id} AS DOUBLE) FROM ${reference.relation}`));
          const cur = cleanSorted(data.numbers.get(column)?.toArray() ?? new Float64Array(0));
          data.numbers.delete(column);
          drift = columnDrift(column, kind, ref, cur, options);
          if (ref.length > 0 && cur.length > 0)
            plots.push(numericPlot(column, ref, cur, drift.test === 'chisquare' || drift.test === 'z'));
        } else {
          // First-seen order matters (the Z-test reads the reference's first value), so count in row order.
          const ref = await duck.counts(
            `SELECT CAST(${id} AS VARCHAR), count(*) FROM ${reference.relation} GROUP BY 1 ORDER BY min("__pos")`,
          );
          const cur = data.categories.get(column) ?? new Map();
          drift = categoricalColumnDrift(column, ref, cur, options);
          plots.push(categoryPlot(column, ref, cur));
        }
        drifts.push(drift);
        results.push({
          column,
          test: drift.test,
          score: drift.score,
          threshold: drift.threshold,
          drifted: drift.drifted,
          referenceRows: drift.referenceRows,
          currentRows: drift.currentRows,
        });
      } catch (err) {
        results.push({ column, drifted: false, error: (err as Error).message });
      }
    }
  } finally {
    duck.close();
    await fs.rm(scratch, { recursive: true, force: true });
  }
  const dataset = datasetDrift(drifts, spec.monitor.driftShare);
  let predictions: PredictionDriftReport;
  if ('skipped' in offline)
    predictions = { drifted: false, offlineRows: 0, servedRows: 0, columns: [], skipped: offline.skipped };
  else {
    const reference = new PredictionSample(shape!);
    for (const p of offline.predictions) reference.add(p);
    const columns: ColumnReport[] = [];
    if (served!.rows > 0)
      for (const r of predictionDrifts(reference, served!, (c) => spec.monitor.tests[c] ?? {})) {
        if (!r.drift) {
          columns.push({ column: r.column, drifted: false, error: r.error });
          continue;
        }
        const d = r.drift;
        columns.push({
          column: r.column,
          test: d.test,
          score: d.score,
          threshold: d.threshold,
          drifted: d.drifted,
          referenceRows: d.referenceRows,
          currentRows: d.currentRows,
        });
        if (r.ref && r.cur && r.ref.length > 0 && r.cur.length > 0)
          plots.push(numericPlot(r.column, r.ref, r.cur, false));
        else if (r.column === 'prediction') plots.push(categoryPlot(r.column, reference.labels, served!.labels));
      }
    predictions = {
      drifted: columns.some((c) => c.drifted),
      offlineRows: reference.rows,
      servedRows: served!.rows,
      columns,
      ...(served!.rows === 0 ? { skipped: 'no served predictions in this window' } : {}),
    };
  }
  const base = `monitoring/${input.model}/reports/${window}`;
  const report: DriftReport = {
    model: input.model,
    version: input.version,
    window,
    checkedAt: new Date().toISOString(),
    rows: data.rows,
    drifted: dataset.drifted,
    share: dataset.share,
    driftedColumns: dataset.driftedColumns,
    columns: results,
    problems: data.problems,
    predictions,
    reportUri: store.uri(`${base}.json`),
    htmlUri: store.uri(`${base}.html`),
  };
  await store.put(`${base}.json`, JSON.stringify(report, null, 2));
  await store.put(`${base}.html`, renderDriftHtml(report, plots));
  return report;
}

/**
 * Starts a pipeline run for a trigger; a run with the same key collapses into the existing one. With
 * `unlessRunning`, nothing starts while that run (the model's previous retrain) is still running.
 */
export async function startTriggeredRun(
  spec: PipelineSpec,
  runKey: string,
  trigger: PipelineRunInput['trigger'],
  unlessRunning?: string,
): Promise<{ workflowId: string; started: boolean }> {
  const ctx = Context.current();
  if (unlessRunning) {
    const previous = await ctx.client.workflow
      .getHandle(unlessRunning)
      .describe()
      .catch(() => undefined);
    if (previous?.status.name === 'RUNNING') {
      ctx.log.info(`trigger ${trigger.kind}: ${unlessRunning} still runs; not starting another`);
      return { workflowId: unlessRunning, started: false };
    }
  }
  const workflowId = pipelineWorkflowId(spec.name, runKey);
  // The monitor may hold the spec of an older release: parsed again here, the run gets today's defaults.
  const stamped = runSpecInput(spec);
  const requestedBy = stamped.spec.retrain.requestedBy;
  const input: PipelineRunInput = { ...stamped, runKey, requestedBy, trigger, params: {} };
  try {
    await ctx.client.workflow.start<MlPipelineWorkflow>(WORKFLOW_TYPES.mlPipeline, {
      taskQueue: ctx.info.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; // it already ran: nothing to do
  }
  ctx.log.info(`trigger ${trigger.kind}: run ${workflowId}`);
  return { workflowId, started: true };
}

/** Starts the model's monitor, or hands the running one its new reference (signal-with-start: one per model). */
export async function handOverToMonitor(reference: MonitorReference): Promise<string> {
  const ctx = Context.current();
  const workflowId = monitorWorkflowId(reference.model);
  await ctx.client.workflow.signalWithStart<MonitorModelWorkflow, [MonitorReference]>(WORKFLOW_TYPES.monitorModel, {
    taskQueue: ctx.info.taskQueue,
    workflowId,
    args: [{ model: reference.model }],
    signal: newReferenceSignal,
    signalArgs: [reference],
  });
  return workflowId;
}
