/**
 * `temporal-mlops collect`: the sink of KServe's payload logger (`spec.predictor.logger`, `mode: all`). KServe's
 * agent (kserve/kserve `pkg/logger`, handler.go and worker.go) sends each inference as two CloudEvents 1.0 in
 * HTTP binary mode: `ce-type` `org.kubeflow.serving.inference.request` with the request body and
 * `org.kubeflow.serving.inference.response` with the response body (only for a 200), both with the same
 * `ce-id` (the caller's `Ce-Id` header or a fresh UUID), `ce-source`, `ce-time`, and the extensions
 * `ce-inferenceservicename`, `ce-namespace`, `ce-component`, `ce-endpoint`, `ce-metadata` (JSON),
 * `ce-annotations` (JSON) and `ce-recordedtime`. The two arrive in any order from the agent's worker pool, and
 * are not retried. Structured mode (`application/cloudevents+json`) is read too.
 *
 * The collector pairs request and response by event id, writes each paired inference's predictions to the same
 * windows as `temporal-mlops serve` (serving-log.ts), counts duplicates, halves that never found their pair and
 * malformed events (answered 400, never fatal), and reports them on `GET /stats`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ObjectStore } from '../../registry/object-store.js';
import { VERSION_ANNOTATION, WindowLog, servedPredictions } from './serving-log.js';

const CE_REQUEST = 'org.kubeflow.serving.inference.request';
const CE_RESPONSE = 'org.kubeflow.serving.inference.response';

export interface CollectOptions {
  store: ObjectStore;
  port: number;
  host: string;
  windowMs: number;
  flushMs: number;
  /** The model the windows belong to; default: each event's `inferenceservicename`. */
  model?: string;
  /** The served version when the events do not carry it. */
  version?: number | null;
  /** Names of positional features (KServe's sklearn and xgboost servers take lists). */
  columns?: string[];
  /** How long a request waits for its response (and the reverse) before it is counted unpaired. */
  pairTimeoutMs: number;
  log?: (line: string) => void;
}

/** What the collector has seen since it started. */
export interface CollectorStats {
  events: number;
  paired: number;
  predictions: number;
  written: number;
  duplicates: number;
  unpaired: number;
  malformed: number;
  /** The latest malformed events' reasons (at most 20). */
  malformedReasons: string[];
  pending: number;
}

interface KServeEvent {
  id: string;
  type: string;
  time: Date;
  model: string;
  version: number | null;
  data: unknown;
}

interface Half {
  data: unknown;
  time: Date;
}

const header = (h: http.IncomingHttpHeaders, name: string) => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Reads one KServe logger event; throws with the reason when it is not one. */
export function parseKServeEvent(
  headers: http.IncomingHttpHeaders,
  body: Buffer,
  options: Pick<CollectOptions, 'model' | 'version'>,
): KServeEvent {
  let attrs: Record<string, unknown>;
  let data: unknown;
  if ((header(headers, 'content-type') ?? '').startsWith('application/cloudevents+json')) {
    try {
      attrs = JSON.parse(body.toString()) as Record<string, unknown>;
    } catch {
      throw new Error('structured event: the body is not JSON');
    }
    data =
      typeof attrs.data_base64 === 'string'
        ? Buffer.from(attrs.data_base64, 'base64').toString()
        : typeof attrs.data === 'string'
          ? attrs.data
          : JSON.stringify(attrs.data);
  } else {
    attrs = {};
    for (const [k, v] of Object.entries(headers))
      if (k.startsWith('ce-')) attrs[k.slice(3)] = Array.isArray(v) ? v[0] : v;
    data = body.toString();
  }
  if (attrs.specversion !== '1.0') throw new Error(`specversion ${JSON.stringify(attrs.specversion)} is not "1.0"`);
  const id = attrs.id;
  if (typeof id !== 'string' || !id) throw new Error('the event has no id');
  if (attrs.type !== CE_REQUEST && attrs.type !== CE_RESPONSE)
    throw new Error(`event ${id}: type ${JSON.stringify(attrs.type)} is not ${CE_REQUEST} or ${CE_RESPONSE}`);
  if (typeof attrs.source !== 'string' || !attrs.source) throw new Error(`event ${id}: no source`);
  const model = options.model ?? attrs.inferenceservicename;
  if (typeof model !== 'string' || !model)
    throw new Error(`event ${id}: no inferenceservicename, and the collector was started without --model`);
  const time = typeof attrs.time === 'string' ? new Date(attrs.time) : new Date();
  if (Number.isNaN(time.getTime())) throw new Error(`event ${id}: time ${JSON.stringify(attrs.time)} is not a time`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(String(data));
  } catch {
    throw new Error(`event ${id}: the ${attrs.type === CE_REQUEST ? 'request' : 'response'} data is not JSON`);
  }
  let version = options.version ?? null;
  if (typeof attrs.annotations === 'string') {
    try {
      const v = Number((JSON.parse(attrs.annotations) as Record<string, string>)[VERSION_ANNOTATION]);
      if (Number.isInteger(v) && v > 0) version = v;
    } catch {
      // Annotations are optional metadata: a bad one does not lose the prediction.
    }
  }
  return { id, type: attrs.type, time, model, version, data: parsed };
}

/** Starts the collector; `close()` stops it after writing what it holds. */
export async function startCollector(options: CollectOptions): Promise<{
  url: string;
  stats: () => CollectorStats;
  close: () => Promise<void>;
}> {
  const log = options.log ?? ((line: string) => console.error(line));
  const windows = new WindowLog({
    store: options.store,
    windowMs: options.windowMs,
    flushMs: options.flushMs,
    onError: (err) => log(`collect: flushing windows failed (kept for the next flush): ${err.message}`),
  }).start();
  const counts = { events: 0, paired: 0, predictions: 0, duplicates: 0, unpaired: 0, malformed: 0 };
  const malformedReasons: string[] = [];
  const pending = new Map<string, { request?: Half; response?: Half; since: number; version: number | null }>();
  /** Pairs already written, kept for twice the pair timeout so that a late duplicate is recognised. */
  const done = new Map<string, number>();

  const malformed = (reason: string) => {
    counts.malformed++;
    malformedReasons.push(reason);
    if (malformedReasons.length > 20) malformedReasons.shift();
    log(`collect: malformed event: ${reason}`);
  };

  function accept(e: KServeEvent): void {
    const key = `${e.model}\n${e.id}`;
    if (done.has(key)) {
      counts.duplicates++;
      return;
    }
    const entry = pending.get(key) ?? { since: Date.now(), version: e.version };
    const half = e.type === CE_REQUEST ? 'request' : 'response';
    if (entry[half]) {
      counts.duplicates++;
      return;
    }
    entry[half] = { data: e.data, time: e.time };
    entry.version = entry.version ?? e.version;
    if (!entry.request || !entry.response) {
      pending.set(key, entry);
      return;
    }
    pending.delete(key);
    done.set(key, Date.now());
    try {
      const lines = servedPredictions(
        { id: e.id, ts: entry.request.time, model: e.model, version: entry.version },
        entry.request.data,
        entry.response.data,
        options.columns,
      );
      counts.paired++;
      counts.predictions += lines.length;
      windows.add(lines);
    } catch (err) {
      malformed(`inference ${e.id}: ${(err as Error).message}`);
    }
  }

  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const [key, entry] of pending)
        if (now - entry.since > options.pairTimeoutMs) {
          pending.delete(key);
          counts.unpaired++;
        }
      for (const [key, at] of done) if (now - at > 2 * options.pairTimeoutMs) done.delete(key);
    },
    Math.min(options.pairTimeoutMs, 1000),
  );
  sweep.unref();

  const stats = (): CollectorStats => ({
    ...counts,
    written: windows.written,
    malformedReasons: [...malformedReasons],
    pending: pending.size,
  });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (code: number, body: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'GET') {
        if (req.url === '/stats') return reply(200, stats());
        if (req.url === '/health' || req.url === '/healthz') return reply(200, { status: 'ok' });
        return reply(404, { error: 'not found' });
      }
      if (req.method !== 'POST') return reply(405, { error: 'POST CloudEvents here' });
      counts.events++;
      try {
        accept(parseKServeEvent(req.headers, Buffer.concat(chunks), options));
        reply(202, {});
      } catch (err) {
        malformed((err as Error).message);
        reply(400, { error: (err as Error).message });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${port}`,
    stats,
    close: async () => {
      clearInterval(sweep);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      await windows.close();
    },
  };
}
