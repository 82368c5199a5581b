/**
 * The monitor's HTML reports, self-contained (inline SVG, no scripts): readable without the worker, in a bucket's
 * browser or a chat link.
 */
import { categoryCounts, countTable, distinctSortedUpTo, histogram, sturgesEdges } from '../../sdk/drift/statistics.js';
import type { ColumnReport, DriftReport, QualityReport } from '../../sdk/run-types.js';
import type { MonitorLabelsSpec } from '../../sdk/spec/pipeline.js';

const escapeHtml = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

const num = (v: number | undefined) => (v === undefined ? '' : String(Number(v.toPrecision(4))));

const STYLE = `body{font-family:system-ui,sans-serif;margin:2em;color:#222}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}
.bad{color:#c0392b}.ok{color:#1e8449}.muted{color:#777}figure{margin:1.5em 0}figcaption{font-weight:600;margin-bottom:.3em}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}`;

/**
 * A line chart of one value over windows, with the bound drawn as a dashed line; points of judged windows are
 * filled, the rest hollow.
 */
function lineChart(
  title: string,
  points: { x: string; y: number | undefined; judged: boolean }[],
  bounds: { min?: number; max?: number } = {},
): string {
  const W = 640;
  const H = 200;
  const L = 56;
  const B = 40;
  const ys = points.flatMap((p) => (p.y === undefined ? [] : [p.y]));
  const marks = [bounds.min, bounds.max].filter((v): v is number => v !== undefined);
  let lo = Math.min(...ys, ...marks);
  let hi = Math.max(...ys, ...marks);
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  if (hi === lo) [lo, hi] = [lo - 0.5, hi + 0.5];
  const pad = (hi - lo) * 0.1;
  lo -= pad;
  hi += pad;
  const x = (i: number) => L + (W - L - 50) * (points.length === 1 ? 0.5 : i / (points.length - 1));
  const y = (v: number) => H - B - ((H - B - 10) * (v - lo)) / (hi - lo);
  const ticks = [lo + pad, (lo + hi) / 2, hi - pad]
    .map((t) => `<text x="${L - 6}" y="${y(t) + 4}" text-anchor="end" font-size="11">${num(t)}</text>`)
    .join('');
  const line = points
    .map((p, i) => (p.y === undefined ? '' : `${x(i)},${y(p.y)}`))
    .filter(Boolean)
    .join(' ');
  const dots = points
    .map((p, i) =>
      p.y === undefined
        ? ''
        : `<circle cx="${x(i)}" cy="${y(p.y)}" r="4" fill="${p.judged ? '#4c78a8' : '#fff'}" stroke="#4c78a8"><title>${escapeHtml(p.x)}: ${num(p.y)}</title></circle>`,
    )
    .join('');
  const labels = points
    .map((p, i) =>
      i % Math.max(1, Math.ceil(points.length / 6)) === 0 || i === points.length - 1
        ? `<text x="${x(i)}" y="${H - B + 16}" text-anchor="middle" font-size="10">${escapeHtml(p.x.slice(5, 16).replace('T', ' '))}</text>`
        : '',
    )
    .join('');
  const boundLines = Object.entries(bounds)
    .filter(([, v]) => v !== undefined)
    .map(
      ([k, v]) =>
        `<line x1="${L}" x2="${W - 10}" y1="${y(v!)}" y2="${y(v!)}" stroke="#c0392b" stroke-dasharray="5,4"/><text x="${W - 12}" y="${y(v!) - 4}" text-anchor="end" font-size="11" fill="#c0392b">${k} ${num(v)}</text>`,
    )
    .join('');
  return `<figure><figcaption>${escapeHtml(title)}</figcaption><svg width="${W}" height="${H}" role="img" aria-label="${escapeHtml(title)} per window">
<line x1="${L}" x2="${L}" y1="10" y2="${H - B}" stroke="#999"/><line x1="${L}" x2="${W - 10}" y1="${H - B}" y2="${H - B}" stroke="#999"/>
${ticks}${boundLines}<polyline points="${line}" fill="none" stroke="#4c78a8" stroke-width="2"/>${dots}${labels}
<text x="${(W + L) / 2}" y="${H - 4}" text-anchor="middle" font-size="11">window start (UTC)</text></svg></figure>`;
}

/** The quality report: verdict, metrics per window (table and one chart per bounded metric), label problems. */
export function renderQualityHtml(report: QualityReport, labels: MonitorLabelsSpec): string {
  const names = [...new Set(report.windows.flatMap((w) => Object.keys(w.metrics)))];
  const rows = report.windows
    .map(
      (w) =>
        `<tr><td>${w.window}</td><td>${w.predictions}</td><td>${w.labelled}</td>${names.map((n) => `<td>${num(w.metrics[n])}</td>`).join('')}<td class="${w.breaches.length ? 'bad' : w.judged ? 'ok' : 'muted'}">${w.breaches.length ? escapeHtml(w.breaches.join('; ')) : w.judged ? 'ok' : `waiting for labels (${labels.minLabels} needed)`}</td></tr>`,
    )
    .join('');
  const charts = Object.entries(labels.metrics)
    .map(([name, bound]) =>
      lineChart(
        `${name} per window`,
        report.windows.map((w) => ({ x: w.window, y: w.metrics[name], judged: w.judged })),
        bound,
      ),
    )
    .join('\n');
  const l = report.labels;
  return `<!doctype html><html><head><meta charset="utf-8"><title>Quality: ${escapeHtml(report.model)} v${report.version}</title><style>${STYLE}</style></head><body>
<h1>${escapeHtml(report.model)} v${report.version}: ${report.degraded ? `<span class="bad">quality degraded</span> (window ${report.window})` : '<span class="ok">quality ok</span>'}</h1>
<p>${labels.task}; ${l.files} label files, ${l.rows} labels, ${l.joined} joined · unknown ids ${l.unknownIds} · duplicates ${l.duplicates} · wrong type ${l.wrongType} · checked ${report.checkedAt}</p>
${report.problems.length ? `<p class="bad">${report.problems.map(escapeHtml).join('<br>')}</p>` : ''}
<table><tr><th>window</th><th>predictions</th><th>labelled</th>${names.map((n) => `<th>${n}</th>`).join('')}<th>verdict</th></tr>${rows}</table>
${charts}</body></html>`;
}

/** What one column's chart shows: reference and current shares per labelled bin or category. */
export interface Plot {
  column: string;
  labels: string[];
  ref: Float64Array;
  cur: Float64Array;
}

const edge = (v: number) => String(Number(v.toPrecision(3)));

/**
 * Shares per bin with labels: Sturges bins over both samples (labelled `[lo, hi)`, the last closed) when the
 * reference has more than 20 distinct values and the column is not tested as categories; one bar per value
 * otherwise (the bins PSI, Jensen-Shannon and KL use).
 */
export function numericPlot(column: string, ref: Float64Array, cur: Float64Array, asCategories: boolean): Plot {
  if (!asCategories && distinctSortedUpTo(ref, new Float64Array(0), 20) > 20) {
    const edges = sturgesEdges(ref, cur);
    const labels = Array.from(edges.subarray(1), (hi, i) =>
      i === edges.length - 2 ? `[${edge(edges[i]!)}, ${edge(hi)}]` : `[${edge(edges[i]!)}, ${edge(hi)})`,
    );
    return {
      column,
      labels,
      ref: histogram(ref, edges).map((c) => c / ref.length),
      cur: histogram(cur, edges).map((c) => c / cur.length),
    };
  }
  const t = categoryCounts<number>(ref, cur);
  return {
    column,
    labels: t.keys.map((k) => edge(k)),
    ref: t.ref.map((c) => c / ref.length),
    cur: t.cur.map((c) => c / cur.length),
  };
}

/** Shares per category (missing values left out), reference categories first. */
export function categoryPlot(
  column: string,
  ref: ReadonlyMap<string | null, number>,
  cur: ReadonlyMap<string | null, number>,
): Plot {
  const known = (m: ReadonlyMap<string | null, number>) =>
    new Map([...m].filter((e): e is [string, number] => e[0] !== null && e[0] !== ''));
  const t = countTable(known(ref), known(cur));
  const total = (a: Float64Array) => a.reduce((s, v) => s + v, 0) || 1;
  const nRef = total(t.ref);
  const nCur = total(t.cur);
  return { column, labels: t.keys, ref: t.ref.map((c) => c / nRef), cur: t.cur.map((c) => c / nCur) };
}

const pct = (v: number) => `${Number((v * 100).toPrecision(3))}%`;

/** Grouped bars, reference beside current per bin, with a share axis, bin labels and a legend. */
function barChart(plot: Plot): string {
  const n = plot.labels.length;
  const W = Math.max(360, Math.min(900, 60 + n * 44));
  const rotate = n > 8 || plot.labels.some((l) => l.length > 8);
  const B = rotate ? 90 : 36;
  const H = 170 + B;
  const L = 48;
  const max = Math.max(...plot.ref, ...plot.cur, 1e-9);
  const top = Math.ceil((max * 10) / 1) / 10 || 0.1;
  const y = (v: number) => H - B - ((H - B - 14) * v) / top;
  const slot = (W - L - 10) / Math.max(n, 1);
  const bar = Math.max(2, slot / 2 - 3);
  const ticks = [0, top / 2, top]
    .map(
      (t) =>
        `<line x1="${L}" x2="${W - 10}" y1="${y(t)}" y2="${y(t)}" stroke="#eee"/><text x="${L - 6}" y="${y(t) + 4}" text-anchor="end" font-size="11">${pct(t)}</text>`,
    )
    .join('');
  const bars = plot.labels
    .map((label, i) => {
      const x = L + i * slot + 2;
      const r = plot.ref[i]!;
      const c = plot.cur[i]!;
      const lx = x + slot / 2 - 2;
      const text = rotate
        ? `<text x="${lx}" y="${H - B + 12}" font-size="10" text-anchor="end" transform="rotate(-45 ${lx} ${H - B + 12})">${escapeHtml(label)}</text>`
        : `<text x="${lx}" y="${H - B + 14}" font-size="10" text-anchor="middle">${escapeHtml(label)}</text>`;
      return `<rect x="${x}" y="${y(r)}" width="${bar}" height="${H - B - y(r)}" fill="#4c78a8"><title>${escapeHtml(label)}: reference ${pct(r)}</title></rect><rect x="${x + bar + 1}" y="${y(c)}" width="${bar}" height="${H - B - y(c)}" fill="#f58518"><title>${escapeHtml(label)}: current ${pct(c)}</title></rect>${text}`;
    })
    .join('');
  return `<svg width="${W}" height="${H}" role="img" aria-label="${escapeHtml(plot.column)}: reference and current share per bin">
<line x1="${L}" x2="${L}" y1="8" y2="${H - B}" stroke="#999"/><line x1="${L}" x2="${W - 10}" y1="${H - B}" y2="${H - B}" stroke="#999"/>
${ticks}${bars}<text x="12" y="${(H - B) / 2}" font-size="11" transform="rotate(-90 12 ${(H - B) / 2})" text-anchor="middle">share</text></svg>`;
}

const LEGEND = `<p class="legend"><span style="background:#4c78a8"></span>reference (training data)<span style="background:#f58518"></span>current (served window)</p>`;

function columnSection(c: ColumnReport, plot: Plot | undefined): string {
  const verdict = c.error
    ? `<span class="bad">error: ${escapeHtml(c.error)}</span>`
    : c.drifted
      ? '<span class="bad">drift</span>'
      : '<span class="ok">no drift</span>';
  const facts = `<table class="facts"><tr><th>test</th><td>${c.test ?? ''}</td></tr><tr><th>score</th><td>${c.score === undefined ? '' : num(c.score)}</td></tr><tr><th>threshold</th><td>${c.threshold ?? ''}</td></tr><tr><th>rows</th><td>${c.referenceRows ?? ''} ref · ${c.currentRows ?? ''} cur</td></tr><tr><th>result</th><td>${verdict}</td></tr></table>`;
  return `<section class="column"><h3>${escapeHtml(c.column)} ${verdict}</h3><div class="row">${plot ? barChart(plot) : '<p class="muted">no chart</p>'}${facts}</div></section>`;
}

/** Drifted columns first, then by how far their score is past (or near) the threshold. */
function byConcern(a: ColumnReport, b: ColumnReport): number {
  if (a.drifted !== b.drifted) return a.drifted ? -1 : 1;
  if (!!a.error !== !!b.error) return a.error ? -1 : 1;
  return a.column.localeCompare(b.column);
}

/** The drift report page: verdicts, prediction drift, then every column (drifted first) with its chart and test. */
export function renderDriftHtml(report: DriftReport, plots: Plot[]): string {
  const plotOf = new Map(plots.map((p) => [p.column, p]));
  const p = report.predictions;
  const predictions = !p
    ? ''
    : p.skipped && p.columns.length === 0
      ? `<h2>Predictions</h2><p class="muted">not compared: ${escapeHtml(p.skipped)}</p>`
      : `<h2>Predictions: ${p.drifted ? '<span class="bad">prediction drift</span>' : '<span class="ok">no prediction drift</span>'}</h2>
<p>${p.servedRows} served predictions against ${p.offlineRows} offline predictions on the evaluation rows (predictions.jsonl)</p>
${[...p.columns]
  .sort(byConcern)
  .map((c) => columnSection(c, plotOf.get(c.column)))
  .join('\n')}`;
  const columns = [...report.columns].sort(byConcern);
  const rowsHtml = columns
    .map(
      (c) =>
        `<tr><td>${escapeHtml(c.column)}</td><td>${c.test ?? ''}</td><td>${c.score === undefined ? '' : num(c.score)}</td><td>${c.threshold ?? ''}</td><td class="${c.drifted || c.error ? 'bad' : 'ok'}">${c.error ? `error: ${escapeHtml(c.error)}` : c.drifted ? 'drift' : 'ok'}</td></tr>`,
    )
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>Drift: ${escapeHtml(report.model)} v${report.version} window ${report.window}</title>
<style>${STYLE}.row{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap}.facts th{color:#555;font-weight:500}section.column{border-top:1px solid #eee;padding-top:.5em}</style></head><body>
<h1>${escapeHtml(report.model)} v${report.version}: ${report.drifted ? '<span class="bad">dataset drift</span>' : '<span class="ok">no dataset drift</span>'}${p?.drifted ? ' · <span class="bad">prediction drift</span>' : ''}</h1>
<p>Window ${report.window} · ${report.rows} requests · ${report.driftedColumns} of ${report.columns.length} columns drifted (share ${report.share.toFixed(2)}) · checked ${report.checkedAt}</p>
${report.problems.length ? `<p class="bad">${report.problems.map(escapeHtml).join('<br>')}</p>` : ''}
<table><tr><th>column</th><th>test</th><th>score</th><th>threshold</th><th>result</th></tr>${rowsHtml}</table>
${LEGEND}${predictions}
<h2>Features</h2>
${columns.map((c) => columnSection(c, plotOf.get(c.column))).join('\n')}</body></html>`;
}
