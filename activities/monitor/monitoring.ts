/**
 * Monitoring activities: read the latest closed serving window, compute drift against the training snapshot
 * (sdk/drift), store a JSON and an HTML report, and start retrain runs / hand a new reference to the monitor.
 * Bad windows (empty, columns missing, all NaN) become report entries, never a failed check.
 */
import { Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import {
  binnedShares,
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
import type { PipelineSpec } from '../../sdk/spec/pipeline.js';
import {
  newReferenceSignal,
  WORKFLOW_TYPES,
  type MlPipelineWorkflow,
  type MonitorModelWorkflow,
} from '../../workflows/messages.js';
import { parseCsv } from '../ingest/csv.js';
import { readSource } from '../ingest/ingest.js';
import type { ObjectStore } from '../../registry/object-store.js';

export interface DriftCheckInput {
  model: string;
  version: number;
  snapshot: DataSnapshot;
  spec: PipelineSpec;
  store?: string;
  /** Only windows that start after this one are considered. */
  afterWindow?: string;
}

const windowsPrefix = (model: string) => `monitoring/${model}/windows/`;

/** The newest closed window after `after`, or undefined. */
export async function latestClosedWindow(
  store: ObjectStore,
  model: string,
  windowMs: number,
  after?: string,
): Promise<string | undefined> {
  const now = Date.now();
  const starts = (await store.list(windowsPrefix(model)))
    .map((k) => k.slice(windowsPrefix(model).length).replace(/\.jsonl$/, ''))
    .filter((s) => !Number.isNaN(Date.parse(s)) && Date.parse(s) + windowMs <= now && (!after || s > after))
    .sort();
  return starts.at(-1);
}

function kindOf(type: string): ColumnKind {
  return type === 'number' || type === 'integer' ? 'numerical' : 'categorical';
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return NaN;
}

/** Parsed training snapshots, by sha256: snapshots are immutable, and a monitor checks the same one every window. */
const references = new Map<string, string[][]>();

async function referenceRows(snapshot: DataSnapshot): Promise<string[][]> {
  let rows = references.get(snapshot.sha256);
  if (!rows) {
    rows = parseCsv((await readSource(snapshot.uri)).data.toString('utf8'));
    if (references.size >= 8) references.delete(references.keys().next().value!);
    references.set(snapshot.sha256, rows);
  }
  return rows;
}

/** Computes the drift report of one window; per-column problems are recorded, not thrown. */
export async function computeDriftReport(
  store: ObjectStore,
  input: DriftCheckInput,
  window: string,
): Promise<DriftReport> {
  const spec = input.spec;
  const problems: string[] = [];
  const raw = (await store.get(`${windowsPrefix(input.model)}${window}.jsonl`))?.data.toString('utf8') ?? '';
  const rows: Record<string, unknown>[] = [];
  raw.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const parsed = JSON.parse(line) as { features?: unknown };
      if (parsed.features && typeof parsed.features === 'object' && !Array.isArray(parsed.features))
        rows.push(parsed.features as Record<string, unknown>);
      else problems.push(`line ${i + 1}: features is not an object keyed by column`);
    } catch {
      problems.push(`line ${i + 1}: not JSON`);
    }
  });
  if (rows.length === 0) problems.push(`window ${window} has no usable requests`);

  const [header = [], ...body] = await referenceRows(input.snapshot);
  const columns = spec.monitor.columns ?? Object.keys(spec.ingest.columns).filter((c) => c !== spec.ingest.target);
  const results: ColumnReport[] = [];
  const drifts: ColumnDrift[] = [];
  for (const column of columns) {
    const type = spec.ingest.columns[column]?.type;
    const index = header.indexOf(column);
    if (!type || index < 0) {
      results.push({ column, drifted: false, error: `not a column of the training snapshot` });
      continue;
    }
    if (rows.length > 0 && !rows.some((r) => column in r)) {
      results.push({ column, drifted: false, error: 'schema mismatch: no request in this window has this column' });
      continue;
    }
    const kind = kindOf(type);
    try {
      const reference = kind === 'numerical' ? body.map((r) => toNumber(r[index])) : body.map((r) => r[index] ?? null);
      const current =
        kind === 'numerical'
          ? rows.map((r) => toNumber(r[column]))
          : rows.map((r) => (r[column] == null ? null : String(r[column])));
      const override = spec.monitor.tests[column];
      const drift = columnDrift(
        column,
        kind,
        reference,
        current,
        override ? { test: override.test, threshold: override.threshold } : {},
      );
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
  const dataset = datasetDrift(drifts, spec.monitor.driftShare);
  const base = `monitoring/${input.model}/reports/${window}`;
  const report: DriftReport = {
    model: input.model,
    version: input.version,
    window,
    checkedAt: new Date().toISOString(),
    rows: rows.length,
    drifted: dataset.drifted,
    share: dataset.share,
    driftedColumns: dataset.driftedColumns,
    columns: results,
    problems,
    reportUri: store.uri(`${base}.json`),
    htmlUri: store.uri(`${base}.html`),
  };
  await store.put(`${base}.json`, JSON.stringify(report, null, 2));
  await store.put(`${base}.html`, renderHtml(report, header, body, rows));
  return report;
}

const escape = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** A self-contained HTML page: summary, a table of every column, and reference-vs-current bars per column. */
function renderHtml(report: DriftReport, header: string[], body: string[][], rows: Record<string, unknown>[]): string {
  const plots = report.columns
    .filter((c) => !c.error)
    .map((c) => {
      const index = header.indexOf(c.column);
      const numerical =
        c.test !== 'chisquare' &&
        c.test !== 'z' &&
        body.every((r) => r[index] === '' || !Number.isNaN(Number(r[index])));
      const ref = numerical
        ? Float64Array.from(body.map((r) => Number(r[index])).filter(Number.isFinite)).sort()
        : body.map((r) => r[index] ?? '');
      const cur = numerical
        ? Float64Array.from(rows.map((r) => toNumber(r[c.column])).filter(Number.isFinite)).sort()
        : rows.map((r) => String(r[c.column] ?? ''));
      const { ref: rs, cur: cs } = binnedShares(ref, cur, numerical ? 'numerical' : 'categorical');
      const max = Math.max(...rs, ...cs, 1e-9);
      const w = 600 / Math.max(rs.length, 1);
      const bars = Array.from(rs, (r, i) => {
        const x = i * w;
        return `<rect x="${x}" y="${120 - (r / max) * 110}" width="${w / 2 - 1}" height="${(r / max) * 110}" fill="#4c78a8"/><rect x="${x + w / 2}" y="${120 - (cs[i]! / max) * 110}" width="${w / 2 - 1}" height="${(cs[i]! / max) * 110}" fill="#f58518"/>`;
      }).join('');
      return `<h3>${escape(c.column)} ${c.drifted ? '<span class="bad">drift</span>' : '<span class="ok">no drift</span>'}</h3><svg width="600" height="125" role="img" aria-label="${escape(c.column)}: reference (blue) vs current (orange) shares">${bars}</svg>`;
    })
    .join('\n');
  const rowsHtml = report.columns
    .map(
      (c) =>
        `<tr><td>${escape(c.column)}</td><td>${c.test ?? ''}</td><td>${c.score?.toPrecision(6) ?? ''}</td><td>${c.threshold ?? ''}</td><td class="${c.drifted ? 'bad' : 'ok'}">${c.error ? `error: ${escape(c.error)}` : c.drifted ? 'drift' : 'ok'}</td></tr>`,
    )
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Drift: ${escape(report.model)} v${report.version} window ${report.window}</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;border-bottom:1px solid #ddd}.bad{color:#c0392b}.ok{color:#1e8449}</style></head><body>
<h1>${escape(report.model)} v${report.version}: ${report.drifted ? '<span class="bad">dataset drift</span>' : '<span class="ok">no dataset drift</span>'}</h1>
<p>Window ${report.window} · ${report.rows} requests · ${report.driftedColumns} of ${report.columns.length} columns drifted (share ${report.share.toFixed(2)}) · checked ${report.checkedAt}</p>
${report.problems.length ? `<p class="bad">${report.problems.map(escape).join('<br>')}</p>` : ''}
<table><tr><th>column</th><th>test</th><th>score</th><th>threshold</th><th>result</th></tr>${rowsHtml}</table>
<p>Bars: reference (blue) vs current (orange) shares per bin.</p>${plots}</body></html>`;
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
  const input: PipelineRunInput = { spec, runKey, requestedBy: spec.retrain.requestedBy, trigger, params: {} };
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
