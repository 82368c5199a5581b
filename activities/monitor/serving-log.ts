/**
 * The serving log: one format for every deploy target. Each served prediction is one JSON line
 * `{id, ts, model, version, features, prediction}` in the model's windows in the registry's store,
 * `monitoring/<model>/windows/<window start ISO>/<segment>.jsonl`. Writers (`temporal-mlops serve`, the local
 * target's proxy, `temporal-mlops collect`) buffer lines and append them as a new segment object every flush
 * interval; no object is ever rewritten, so a writer that dies loses at most what arrived since its last flush.
 */
import type { ObjectStore } from '../../registry/object-store.js';

/** Response header carrying the request id (a caller-provided one is kept): labels are joined on it later. */
export const REQUEST_ID_HEADER = 'x-mlops-request-id';
/** Request header marking traffic that is answered but never logged (the skew gate's replay, shadow copies). */
export const TRAFFIC_HEADER = 'x-mlops-traffic';
/**
 * The InferenceService annotation naming the served version (set by the KServe deploy); KServe's logger forwards it
 * to the collector when listed in `logger.metadataAnnotations`.
 */
export const VERSION_ANNOTATION = 'mlops.temporal.io/model-version';
/** Values of `x-mlops-traffic` that are not logged. */
export const UNLOGGED_TRAFFIC: readonly string[] = ['skew-gate', 'shadow'];

/** One logged prediction: a line of a window segment. */
export interface ServedPrediction {
  /** The request id; `<request id>/<i>` for the i-th instance of a request with several. */
  id: string;
  ts: string;
  model: string;
  version: number | null;
  features: unknown;
  prediction: unknown;
}

/** The window a key belongs to, under `monitoring/<model>/windows/`. */
export const windowsPrefix = (model: string) => `monitoring/${model}/windows/`;

/**
 * A request's instances as feature objects: objects are kept, arrays are keyed by `columns` when given (KServe's
 * sklearn/xgboost servers take lists), left as lists otherwise. Vertex/KServe v1 (`instances`) and v2 (`inputs`,
 * one tensor per feature, or one `[n, k]` tensor keyed by `columns`) requests are read.
 */
export function instancesOf(body: unknown, columns?: string[]): unknown[] {
  if (!body || typeof body !== 'object') throw new Error('the request body is not a JSON object');
  const b = body as { instances?: unknown; inputs?: unknown };
  const keyed = (row: unknown) =>
    Array.isArray(row) && columns?.length ? Object.fromEntries(columns.map((c, i) => [c, row[i] ?? null])) : row;
  if (Array.isArray(b.instances)) return b.instances.map(keyed);
  if (Array.isArray(b.inputs)) {
    const tensors = b.inputs as { name?: string; shape?: number[]; data?: unknown[] }[];
    if (tensors.length === 1 && (tensors[0]!.shape?.length ?? 0) === 2) {
      const [n, k] = tensors[0]!.shape as [number, number];
      const flat = (tensors[0]!.data ?? []).flat(2);
      return Array.from({ length: n }, (_, r) => keyed(flat.slice(r * k, r * k + k)));
    }
    const n = Math.max(0, ...tensors.map((t) => (t.data ?? []).flat(2).length));
    return Array.from({ length: n }, (_, r) =>
      Object.fromEntries(tensors.map((t) => [t.name ?? '', (t.data ?? []).flat(2)[r] ?? null])),
    );
  }
  throw new Error('the request has neither "instances" (v1) nor "inputs" (v2)');
}

/** A response's predictions, one per instance: v1 `predictions`, or the first v2 output tensor's rows. */
export function predictionsOf(body: unknown): unknown[] {
  if (!body || typeof body !== 'object') throw new Error('the response body is not a JSON object');
  const b = body as { predictions?: unknown; outputs?: { shape?: number[]; data?: unknown[] }[] };
  if (Array.isArray(b.predictions)) return b.predictions;
  const out = Array.isArray(b.outputs) ? b.outputs[0] : undefined;
  if (out?.data) {
    const flat = out.data.flat(2);
    const [n, k] = out.shape ?? [flat.length];
    if (!k || k === 1) return flat;
    return Array.from({ length: n! }, (_, r) => flat.slice(r * k, r * k + k));
  }
  throw new Error('the response has neither "predictions" (v1) nor "outputs" (v2)');
}

/** The lines one request/response pair logs: one per instance. */
export function servedPredictions(
  meta: { id: string; ts: Date; model: string; version: number | null },
  request: unknown,
  response: unknown,
  columns?: string[],
): ServedPrediction[] {
  const instances = instancesOf(request, columns);
  const predictions = predictionsOf(response);
  if (predictions.length !== instances.length)
    throw new Error(`${instances.length} instances but ${predictions.length} predictions`);
  return instances.map((features, i) => ({
    id: instances.length === 1 ? meta.id : `${meta.id}/${i}`,
    ts: meta.ts.toISOString(),
    model: meta.model,
    version: meta.version,
    features,
    prediction: predictions[i],
  }));
}

/** The model version in an artifacts URI of the registry (`.../models/<m>/versions/<n>/artifacts`), if any. */
export function versionInUri(uri: string | undefined): number | null {
  const m = uri ? /\/versions\/(\d+)\/artifacts\/?$/.exec(uri) : null;
  return m ? Number(m[1]) : null;
}

export interface WindowLogOptions {
  store: ObjectStore;
  windowMs: number;
  flushMs: number;
  /** Called with a failed flush's error; the lines are kept for the next flush. */
  onError?: (err: Error) => void;
}

/**
 * Buffers served predictions per model and window and appends them as segments every `flushMs`. One flush at a
 * time: a slow store delays the next segment instead of racing it; a failed write keeps its lines for the next.
 */
export class WindowLog {
  private pending = new Map<string, { model: string; start: number; lines: string[] }>();
  private segments = 0;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Predictions written to the store so far. */
  written = 0;

  constructor(private readonly options: WindowLogOptions) {}

  /** Starts the periodic flush. */
  start(): this {
    this.timer = setInterval(
      () => void this.flush().catch((err: Error) => this.options.onError?.(err)),
      this.options.flushMs,
    );
    this.timer.unref();
    return this;
  }

  add(records: ServedPrediction[]): void {
    for (const r of records) {
      const start = Math.floor(Date.parse(r.ts) / this.options.windowMs) * this.options.windowMs;
      const key = `${r.model}\n${start}`;
      const entry = this.pending.get(key) ?? { model: r.model, start, lines: [] };
      entry.lines.push(JSON.stringify(r));
      this.pending.set(key, entry);
    }
  }

  /** Predictions buffered and not yet written. */
  get buffered(): number {
    let n = 0;
    for (const e of this.pending.values()) n += e.lines.length;
    return n;
  }

  flush(): Promise<void> {
    this.flushing ??= this.writeSegments().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Stops the timer and writes what is buffered. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing?.catch(() => undefined);
    await this.flush();
  }

  /** Segment names sort in write order within a window and never collide between writers (pid, sequence). */
  private segmentName(): string {
    return `${new Date().toISOString()}-${process.pid}-${String(this.segments++).padStart(8, '0')}.jsonl`;
  }

  private async writeSegments(): Promise<void> {
    for (const [key, entry] of [...this.pending]) {
      this.pending.delete(key);
      const object = `${windowsPrefix(entry.model)}${new Date(entry.start).toISOString()}/${this.segmentName()}`;
      try {
        await this.options.store.put(object, entry.lines.join('\n') + '\n', { ifGeneration: 'absent' });
        this.written += entry.lines.length;
      } catch (err) {
        // Kept for the next flush, ahead of what arrived meanwhile.
        const later = this.pending.get(key);
        this.pending.set(key, { ...entry, lines: [...entry.lines, ...(later?.lines ?? [])] });
        throw err;
      }
    }
  }
}
