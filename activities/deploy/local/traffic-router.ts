/**
 * The traffic router of the `local` target during and after staged rollouts: one process per model on a
 * stable port, in front of the model's version servers. Built on Fastify + @fastify/reply-from (undici).
 * Requests are split by weight with smooth weighted round-robin (nginx's), so a 10 % step sends exactly one
 * request in ten to the candidate. It exposes:
 *   GET  /metrics              Prometheus: mlops_router_requests_total{model,version,code},
 *                              mlops_router_request_duration_seconds{model,version} (histogram), in-flight gauge
 *   GET  /-/mlops/traffic      the routes, and per-version stats of the current step (requests, errors, latencies)
 *   PUT  /-/mlops/traffic      { step, routes: [{ version, url, weight }], mirror?: { version, url, share } }:
 *                              weights sum to 100; the stats restart when `step` changes (a retried PUT of the
 *                              same step keeps them). With `mirror`, that share of live POSTs is also sent to the
 *                              mirror's URL on the side (header x-mlops-traffic: shadow); callers get the routed
 *                              answer only, and both answers are kept for the shadow analysis (mirror.ts)
 *   GET  /-/mlops/shadow       the step's mirrored requests with both answers
 *   GET  /-/mlops/health
 * Routes persist in `<dir>/routes.json`, so a restarted router serves the same split.
 * Run as: node --import tsx traffic-router.ts   (env: MLOPS_ROUTER_PORT, MLOPS_ROUTER_DIR, MLOPS_ROUTER_MODEL)
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import Fastify from 'fastify';
import replyFrom from '@fastify/reply-from';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { SmoothWeightedRoundRobin } from './weighted-round-robin.js';
import { ShadowLog, since, type Mirror } from './mirror.js';

export interface Route {
  version: number;
  url: string;
  weight: number;
}
export interface RouterStats {
  requests: number;
  errors: number;
  /** Milliseconds of the step's latest requests (at most LATENCY_SAMPLES; not in arrival order once full). */
  latenciesMs: number[];
}
export interface TrafficState {
  step: string;
  routes: Route[];
  /** The shadow stage: where a share of live requests is mirrored. */
  mirror?: Mirror;
}

const port = Number(process.env.MLOPS_ROUTER_PORT);
const dir = process.env.MLOPS_ROUTER_DIR!;
const model = process.env.MLOPS_ROUTER_MODEL!;
const routesFile = path.join(dir, 'routes.json');
const LATENCY_SAMPLES = 100_000;

const registry = new Registry();
const requests = new Counter({
  name: 'mlops_router_requests_total',
  help: 'Requests routed, by model version and HTTP status',
  labelNames: ['model', 'version', 'code'] as const,
  registers: [registry],
});
const duration = new Histogram({
  name: 'mlops_router_request_duration_seconds',
  help: 'Time to answer a routed request, by model version',
  labelNames: ['model', 'version'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});
const inflight = new Gauge({
  name: 'mlops_router_inflight_requests',
  help: 'Requests being answered, by model version',
  labelNames: ['model', 'version'] as const,
  registers: [registry],
});

let state: TrafficState = { step: '', routes: [] };
try {
  state = JSON.parse(await fs.readFile(routesFile, 'utf8')) as TrafficState;
} catch {
  /* first start: no routes until the first PUT */
}
let stats = new Map<number, RouterStats>();
const shadow = new ShadowLog();
shadow.configure(state.step, state.mirror);
const inflightByVersion = new Map<number, number>();
const balancer = new SmoothWeightedRoundRobin<number>();

function pick(): Route | undefined {
  const version = balancer.pick(state.routes.map((r) => [r.version, r.weight] as const));
  return state.routes.find((r) => r.version === version);
}

/** The only route when there is one (the shadow stage sends all live traffic to the champion). */
function peek(): Route | undefined {
  return state.routes.length === 1 ? state.routes[0] : undefined;
}

async function bytes(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
const text = async (stream: NodeJS.ReadableStream) => (await bytes(stream)).toString('utf8');

function statsOf(version: number): RouterStats {
  let s = stats.get(version);
  if (!s) stats.set(version, (s = { requests: 0, errors: 0, latenciesMs: [] }));
  return s;
}

const app = Fastify({ logger: false, bodyLimit: 64 << 20 });
app.removeAllContentTypeParsers();
// Request bodies stay unparsed streams, so reply-from pipes the bytes through as they are; a request picked for
// mirroring is read whole (its bytes go to both servers).
const mirrorOf = new WeakMap<object, Mirror>();
app.addContentTypeParser('*', (req, payload, done) => {
  const mirror = req.method === 'POST' ? shadow.pick(peek()?.version) : undefined;
  if (!mirror) return done(null, payload);
  mirrorOf.set(req, mirror);
  bytes(payload).then((body) => done(null, body), done);
});
await app.register(replyFrom, { undici: { connections: 128 } });

app.get('/-/mlops/health', async () => ({ status: 'ok', model }));
app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
app.get('/-/mlops/traffic', async () => ({
  ...state,
  stats: Object.fromEntries(stats),
  inflight: Object.fromEntries(inflightByVersion),
}));
app.put('/-/mlops/traffic', async (req, reply) => {
  const body = JSON.parse(await text(req.body as NodeJS.ReadableStream)) as TrafficState;
  const sum = body.routes.reduce((a, r) => a + r.weight, 0);
  if (!Array.isArray(body.routes) || body.routes.length === 0 || sum !== 100)
    return reply.code(400).send({ error: `routes must be a non-empty list whose weights sum to 100 (got ${sum})` });
  if (body.mirror && !(body.mirror.share > 0 && body.mirror.share <= 1 && body.mirror.url))
    return reply.code(400).send({ error: 'mirror needs a url and a share in (0, 1]' });
  if (body.step !== state.step) stats = new Map();
  state = { step: body.step, routes: body.routes, ...(body.mirror && { mirror: body.mirror }) };
  shadow.configure(state.step, state.mirror);
  balancer.reset();
  const tmp = `${routesFile}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(state));
  await fs.rename(tmp, routesFile);
  return { ...state };
});

app.get('/-/mlops/shadow', async () => shadow.snapshot());

app.all('/*', (req, reply) => {
  const route = pick();
  if (!route) return reply.code(503).send({ error: `no model version of ${model} is receiving traffic yet` });
  const started = performance.now();
  const version = String(route.version);
  inflight.inc({ model, version });
  inflightByVersion.set(route.version, (inflightByVersion.get(route.version) ?? 0) + 1);
  reply.raw.once('close', () => {
    const ms = performance.now() - started;
    const code = reply.statusCode;
    requests.inc({ model, version, code: String(code) });
    duration.observe({ model, version }, ms / 1000);
    inflight.dec({ model, version });
    inflightByVersion.set(route.version, (inflightByVersion.get(route.version) ?? 1) - 1);
    const s = statsOf(route.version);
    s.requests++;
    if (code >= 500) s.errors++;
    const latency = Math.round(ms * 100) / 100;
    // A ring of the latest samples: constant work per request however long the step runs.
    if (s.latenciesMs.length < LATENCY_SAMPLES) s.latenciesMs.push(latency);
    else s.latenciesMs[(s.requests - 1) % LATENCY_SAMPLES] = latency;
  });
  const onError = (r: { code(n: number): { send(body: unknown): unknown } }, { error }: { error: Error }) => {
    r.code(502).send({ error: `model version ${version} unavailable: ${error.message}` });
  };
  const mirror = mirrorOf.get(req);
  if (!mirror) return reply.from(route.url + req.url, { onError });
  const body = req.body as Buffer;
  const contentType = req.headers['content-type'] ?? 'application/json';
  const champion = shadow.send(mirror, req.url, body, contentType);
  return reply.from(route.url + req.url, {
    body,
    contentType,
    onError: (r, e) => {
      champion({ status: 0, ms: since(started), body: e.error.message });
      onError(r, e);
    },
    // The champion's answer streams to the caller as it comes; a copy is kept for the comparison.
    onResponse: (_req, r, res) => {
      const chunks: Buffer[] = [];
      const tee = new PassThrough();
      res.stream.on('data', (c: Buffer) => chunks.push(c));
      res.stream.once('end', () =>
        champion({ status: res.statusCode, ms: since(started), body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.stream.pipe(tee);
      void r.send(tee);
    },
  });
});

await app.listen({ port, host: '127.0.0.1' });
console.log(`router for ${model} listening on http://127.0.0.1:${port}`);
for (const sig of ['SIGTERM', 'SIGINT'] as const)
  process.once(sig, () => {
    void app.close().then(() => process.exit(0));
  });
