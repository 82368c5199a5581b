/**
 * STAND-IN for Vertex AI (aiplatform v1 REST), for tests only: no real Vertex can run here. It speaks the v1
 * REST protocol for CustomJobs (create, get, list with `labels.k="v"` filters, `:cancel`), checks every
 * CustomJob it receives against the official aiplatform v1 schema (the protos shipped in
 * `@google-cloud/aiplatform`: unknown fields, scalar types, enum names and Duration strings are rejected with
 * 400 INVALID_ARGUMENT), and runs a scripted job lifecycle QUEUED → PENDING → RUNNING → SUCCEEDED. "Training"
 * writes `metrics.json` under `baseOutputDirectory/model/` in the GCS emulator. Faults can be injected: 429
 * RESOURCE_EXHAUSTED on create, a created job whose response is lost (503), 503 on get, spot preemption
 * (the job fails with code 14 after writing a checkpoint that the next job resumes from).
 *
 * Endpoints and models (deploy-target tests): `models:upload`, models list by label, endpoints create / get /
 * list by display name / PATCH `traffic_split`, `:deployModel` (key "0" = the model being deployed) and
 * `:undeployModel` and endpoint DELETE as long-running operations (`.../operations/N`, done after ~300 ms),
 * each body checked against the official schema, plus Vertex's own rules: a split sums to 100 over deployed
 * models, a model cannot be undeployed while it keeps traffic, an endpoint with deployed models cannot be
 * deleted. Deploying a model whose artifacts' `model.json` says `never_healthy` fails its operation; any other
 * deployed model is served by a real model server process (test/fixtures/serve_fixture.py on the model's
 * artifacts, copied from GCS, with the model's `containerSpec.env`: a serving fault such as
 * FIXTURE_SERVE_FAULT reaches it), stopped when the model is undeployed. `:predict` splits requests by the
 * endpoint's trafficSplit (smooth weighted round-robin) and forwards each to the picked model's server (which
 * answers as the model's artifacts say: `error_share` → that share of 500s, `latency_ms`), and `/metrics` exposes Prometheus counters named like Cloud Monitoring's PromQL view of
 * `aiplatform.googleapis.com/prediction/online/response_count` (labels endpoint_id, deployed_model_id,
 * response_code). `trafficLog` records every split the endpoint had, in order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';
import { Storage } from '@google-cloud/storage';
import { SmoothWeightedRoundRobin } from '../../activities/deploy/local/weighted-round-robin.js';
import { freePort } from '../../activities/platform/free-port.js';

const SERVE_FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'serve_fixture.py');

const require = createRequire(import.meta.url);
const root = protobuf.Root.fromJSON(
  require('@google-cloud/aiplatform/build/protos/protos.json') as protobuf.INamespace,
);
const CUSTOM_JOB = root.lookupType('google.cloud.aiplatform.v1.CustomJob');
const MODEL = root.lookupType('google.cloud.aiplatform.v1.Model');
const ENDPOINT = root.lookupType('google.cloud.aiplatform.v1.Endpoint');
const DEPLOY_MODEL_REQUEST = root.lookupType('google.cloud.aiplatform.v1.DeployModelRequest');
const UNDEPLOY_MODEL_REQUEST = root.lookupType('google.cloud.aiplatform.v1.UndeployModelRequest');

/** Problems of `value` against a protobuf message type, as proto3 JSON (camelCase names, enum names, int64 as string or number). */
export function schemaProblems(value: unknown, type: protobuf.Type, path = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return [`${path || 'body'}: expected an object`];
  const problems: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    const field = type.fields[key] ?? Object.values(type.fields).find((f) => f.options?.json_name === key);
    const where = path ? `${path}.${key}` : key;
    if (!field) {
      problems.push(`${where}: unknown field of ${type.fullName.slice(1)}`);
      continue;
    }
    field.resolve();
    if (field.map) {
      if (typeof v !== 'object' || v === null) problems.push(`${where}: expected a map`);
      else for (const [k, item] of Object.entries(v)) problems.push(...checkValue(item, field, `${where}.${k}`));
    } else if (field.repeated) {
      if (!Array.isArray(v)) problems.push(`${where}: expected an array`);
      else v.forEach((item, i) => problems.push(...checkValue(item, field, `${where}[${i}]`)));
    } else problems.push(...checkValue(v, field, where));
  }
  return problems;
}

function checkValue(v: unknown, field: protobuf.Field, where: string): string[] {
  const t = field.resolvedType;
  if (t instanceof protobuf.Enum)
    return typeof v === 'string' && v in t.values
      ? []
      : [`${where}: ${JSON.stringify(v)} is not a ${t.name} (${Object.keys(t.values).slice(0, 6).join(', ')}, ...)`];
  if (t instanceof protobuf.Type) {
    if (t.fullName === '.google.protobuf.Duration')
      return typeof v === 'string' && /^-?\d+(\.\d{1,9})?s$/.test(v)
        ? []
        : [`${where}: a Duration is a string like "3600s"`];
    if (t.fullName === '.google.protobuf.Timestamp')
      return typeof v === 'string' ? [] : [`${where}: a Timestamp is an RFC 3339 string`];
    if (t.fullName.startsWith('.google.protobuf.')) return [];
    return schemaProblems(v, t, where);
  }
  switch (field.type) {
    case 'string':
    case 'bytes':
      return typeof v === 'string' ? [] : [`${where}: expected a string`];
    case 'bool':
      return typeof v === 'boolean' ? [] : [`${where}: expected true or false`];
    case 'int64':
    case 'uint64':
    case 'sint64':
    case 'fixed64':
      return (typeof v === 'string' && /^-?\d+$/.test(v)) || Number.isInteger(v)
        ? []
        : [`${where}: expected an int64 (number or decimal string)`];
    case 'int32':
    case 'uint32':
    case 'sint32':
    case 'fixed32':
      return Number.isInteger(v) ? [] : [`${where}: expected an integer`];
    default:
      return typeof v === 'number' ? [] : [`${where}: expected a number`];
  }
}

interface Job {
  body: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  name: string;
  createdAt: number;
  cancelledAt?: number;
  preempt: boolean;
  finished?: string;
}

export interface Faults {
  quotaFailures: number;
  loseCreateResponses: number;
  unavailableGets: number;
  preemptions: number;
}

interface StandInEndpoint {
  name: string;
  displayName: string;
  labels?: Record<string, string>;
  deployedModels: { id: string; model: string; displayName?: string; behaviour: Behaviour; server?: ModelServer }[];
  trafficSplit: Record<string, number>;
  wrr: SmoothWeightedRoundRobin<string>;
}
/** A deployed model's real model server: its process and predict URL. */
interface ModelServer {
  child: ChildProcess;
  predictUrl: string;
  dir: string;
}
interface Behaviour {
  error_share?: number;
  latency_ms?: number;
  never_healthy?: boolean;
}
interface Operation {
  name: string;
  doneAt: number;
  response?: Record<string, unknown>;
  error?: { code: number; message: string };
}

export interface VertexStandIn {
  endpoint: string;
  endpoints: StandInEndpoint[];
  /** Every traffic split an endpoint had, in order (display name of each deployed model → percent). */
  trafficLog: { endpoint: string; split: Record<string, number> }[];
  jobs: Job[];
  faults: Faults;
  rejected: string[][];
  /** Time a job spends RUNNING. */
  runMs: number;
  stateOf(job: Job): string;
  close(): Promise<void>;
}

export async function startVertexStandIn(gcsEndpoint: string): Promise<VertexStandIn> {
  const storage = new Storage({ apiEndpoint: gcsEndpoint, projectId: 'local' });
  const jobs: Job[] = [];
  const rejected: string[][] = [];
  const faults: Faults = { quotaFailures: 0, loseCreateResponses: 0, unavailableGets: 0, preemptions: 0 };
  const endpoints: StandInEndpoint[] = [];
  const trafficLog: VertexStandIn['trafficLog'] = [];
  const models = new Map<string, Record<string, any>>(); // eslint-disable-line @typescript-eslint/no-explicit-any
  const operations = new Map<string, Operation>();
  const served = new Map<string, { n: number; codes: Map<string, number> }>();
  const s: VertexStandIn = {
    endpoint: '',
    endpoints,
    trafficLog,
    jobs,
    faults,
    rejected,
    runMs: 1500,
    stateOf,
    close: async () => undefined,
  };
  let nextId = 1000;
  const children = new Set<ChildProcess>();

  function stateOf(job: Job): string {
    if (job.finished) return job.finished;
    const now = Date.now();
    if (job.cancelledAt) return now - job.cancelledAt > 300 ? 'JOB_STATE_CANCELLED' : 'JOB_STATE_CANCELLING';
    const age = now - job.createdAt;
    if (age < 150) return 'JOB_STATE_QUEUED';
    if (age < 300) return 'JOB_STATE_PENDING';
    if (job.preempt && age > 300 + s.runMs / 2) return 'JOB_STATE_FAILED';
    return age < 300 + s.runMs ? 'JOB_STATE_RUNNING' : 'JOB_STATE_SUCCEEDED';
  }

  /** Side effects of a job reaching the end: checkpoint on preemption, model + metrics on success. */
  async function settle(job: Job): Promise<void> {
    const state = stateOf(job);
    if (job.finished || !['JOB_STATE_FAILED', 'JOB_STATE_SUCCEEDED', 'JOB_STATE_CANCELLED'].includes(state)) return;
    job.finished = state;
    const prefix = String(job.body.jobSpec.baseOutputDirectory.outputUriPrefix).replace(/\/$/, '');
    const [, bucket, dir] = /^gs:\/\/([^/]+)\/(.*)$/.exec(prefix)!;
    const file = (p: string) => storage.bucket(bucket!).file(`${dir}/${p}`);
    if (state === 'JOB_STATE_FAILED') await file('checkpoints/step').save(String(Date.now()));
    if (state === 'JOB_STATE_SUCCEEDED') {
      const env = Object.fromEntries(
        (job.body.jobSpec.workerPoolSpecs[0].containerSpec.env ?? []).map((e: { name: string; value: string }) => [
          e.name,
          e.value,
        ]),
      );
      const params = JSON.parse(env.MLOPS_PARAMS ?? '{}') as { auc?: number };
      const [resumed] = await file('checkpoints/step').exists();
      await file('model/model.json').save(JSON.stringify({ trainedBy: job.name }));
      await file('model/metrics.json').save(
        JSON.stringify({ auc: params.auc ?? 0.9, resumed_from_checkpoint: resumed ? 1 : 0 }),
      );
    }
  }

  const view = (job: Job) => ({
    ...job.body,
    name: job.name,
    state: stateOf(job),
    createTime: new Date(job.createdAt).toISOString(),
    ...(stateOf(job) === 'JOB_STATE_FAILED'
      ? { error: { code: 14, message: 'The job was preempted: the spot VM was reclaimed' } }
      : {}),
    ...(stateOf(job) === 'JOB_STATE_CANCELLED' ? { error: { code: 1, message: 'CANCELED' } } : {}),
  });

  const error = (res: http.ServerResponse, code: number, status: string, message: string) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code, status, message } }));
  };

  const json = (res: http.ServerResponse, body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const invalid = (res: http.ServerResponse, problems: string[]) => {
    rejected.push(problems);
    error(res, 400, 'INVALID_ARGUMENT', problems.join('; '));
  };
  function startOperation(resource: string, outcome: Pick<Operation, 'response' | 'error'>): Operation {
    const op: Operation = { name: `${resource}/operations/${nextId++}`, doneAt: Date.now() + 300, ...outcome };
    operations.set(op.name, op);
    return op;
  }
  const opView = (op: Operation) =>
    Date.now() < op.doneAt
      ? { name: op.name }
      : { name: op.name, done: true, ...(op.error ? { error: op.error } : { response: op.response }) };
  const endpointView = (e: StandInEndpoint) => ({
    name: e.name,
    displayName: e.displayName,
    labels: e.labels,
    deployedModels: e.deployedModels.map(({ id, model, displayName }) => ({ id, model, displayName })),
    trafficSplit: e.trafficSplit,
  });
  function setSplit(e: StandInEndpoint, split: Record<string, number>): string[] {
    const problems: string[] = [];
    const ids = new Set(e.deployedModels.map((d) => d.id));
    for (const id of Object.keys(split)) if (!ids.has(id)) problems.push(`trafficSplit: ${id} is not deployed`);
    const sum = Object.values(split).reduce((a, b) => a + b, 0);
    if (e.deployedModels.length > 0 && sum !== 100) problems.push(`trafficSplit: must sum to 100, got ${sum}`);
    if (problems.length) return problems;
    e.trafficSplit = Object.fromEntries(Object.entries(split).filter(([, w]) => w > 0));
    e.wrr.reset();
    const names = new Map(e.deployedModels.map((d) => [d.id, d.displayName ?? d.id]));
    trafficLog.push({
      endpoint: e.displayName,
      split: Object.fromEntries(e.deployedModels.map((d) => [names.get(d.id)!, split[d.id] ?? 0])),
    });
    return [];
  }
  async function behaviourOf(model: { artifactUri?: unknown }): Promise<Behaviour> {
    const [, bucket, prefix] = /^gs:\/\/([^/]+)\/(.*)$/.exec(String(model.artifactUri)) ?? [];
    if (!bucket) return {};
    const [exists] = await storage.bucket(bucket).file(`${prefix}model.json`).exists();
    if (!exists) return {};
    const [data] = await storage.bucket(bucket).file(`${prefix}model.json`).download();
    return JSON.parse(data.toString()) as Behaviour;
  }
  /** Copies the model's artifacts out of GCS and starts serve_fixture.py on them; resolves once it is healthy. */
  async function startServer(model: Record<string, unknown>, id: string): Promise<ModelServer> {
    const [, bucket, prefix] = /^gs:\/\/([^/]+)\/(.*)$/.exec(String(model.artifactUri))!;
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vertex-standin-model-'));
    const [files] = await storage.bucket(bucket!).getFiles({ prefix });
    for (const f of files) {
      const to = path.join(dir, f.name.slice(prefix!.length));
      await fs.mkdir(path.dirname(to), { recursive: true });
      await f.download({ destination: to });
    }
    const port = await freePort();
    const spec = (model.containerSpec ?? {}) as {
      predictRoute?: string;
      healthRoute?: string;
      env?: { name: string; value: string }[];
    };
    const health = spec.healthRoute ?? '/health';
    const child = spawn('python3', [SERVE_FIXTURE], {
      env: {
        ...process.env,
        ...Object.fromEntries((spec.env ?? []).map((e) => [e.name, e.value])),
        AIP_STORAGE_URI: `file://${dir}`,
        AIP_HTTP_PORT: String(port),
        AIP_HEALTH_ROUTE: health,
        AIP_PREDICT_ROUTE: spec.predictRoute ?? '/predict',
        AIP_DEPLOYED_MODEL_ID: id,
      },
      stdio: 'ignore',
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    const server = { child, dir, predictUrl: `http://127.0.0.1:${port}${spec.predictRoute ?? '/predict'}` };
    for (const until = Date.now() + 15_000; Date.now() < until;) {
      const ok = await fetch(`http://127.0.0.1:${port}${health}`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return server;
      await new Promise((r) => setTimeout(r, 100));
    }
    await stopServer(server);
    throw new Error(`model server of ${model.displayName} did not become healthy`);
  }
  async function stopServer(server: ModelServer | undefined) {
    if (!server) return;
    server.child.kill();
    await fs.rm(server.dir, { recursive: true, force: true });
  }
  function pick(e: StandInEndpoint) {
    const id = e.wrr.pick(Object.entries(e.trafficSplit));
    return e.deployedModels.find((d) => d.id === id);
  }
  function metrics(): string {
    const lines = ['# TYPE aiplatform_googleapis_com:prediction_online_response_count counter'];
    for (const e of endpoints)
      for (const d of e.deployedModels)
        for (const [code, n] of served.get(d.id)?.codes ?? [])
          lines.push(
            `aiplatform_googleapis_com:prediction_online_response_count{endpoint_id="${e.name.split('/').pop()}",deployed_model_id="${d.id}",response_code="${code}"} ${n}`,
          );
    return lines.join('\n') + '\n';
  }

  /** Models, endpoints, operations, predictions; false when the path is not one of theirs. */
  async function endpointsApi(req: http.IncomingMessage, url: URL, raw: string, res: http.ServerResponse) {
    const p = url.pathname;
    const body = () => JSON.parse(raw || '{}') as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const op = /^\/v1\/(.+\/operations\/\d+)$/.exec(p);
    if (op && req.method === 'GET') {
      const found = operations.get(op[1]!);
      return found ? json(res, opView(found)) : error(res, 404, 'NOT_FOUND', `${p} not found`);
    }
    const upload = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+)\/models:upload$/.exec(p);
    if (upload && req.method === 'POST') {
      const b = body();
      const problems = schemaProblems(b.model, MODEL, 'model');
      if (Object.keys(b).some((k) => k !== 'model' && k !== 'modelId'))
        problems.push('unknown field of UploadModelRequest');
      if (!b.model?.displayName) problems.push('model.displayName: required');
      if (problems.length) return invalid(res, problems);
      const name = `${upload[1]}/models/${nextId++}`;
      models.set(name, { ...b.model, name });
      return json(
        res,
        opView(
          startOperation(name, {
            response: {
              '@type': 'type.googleapis.com/google.cloud.aiplatform.v1.UploadModelResponse',
              model: name,
              modelVersionId: '1',
            },
          }),
        ),
      );
    }
    const modelsList = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+)\/models$/.exec(p);
    if (modelsList && req.method === 'GET') {
      const m = /^labels\.([a-z0-9_-]+)="([^"]*)"$/.exec(url.searchParams.get('filter') ?? '');
      const list = [...models.values()].filter(
        (x) => x.name.startsWith(modelsList[1]!) && (!m || x.labels?.[m[1]!] === m[2]),
      );
      return json(res, list.length ? { models: list } : {});
    }
    const eps = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+)\/endpoints$/.exec(p);
    if (eps && req.method === 'POST') {
      const b = body();
      const problems = schemaProblems(b, ENDPOINT);
      if (!b.displayName) problems.push('displayName: required');
      if (problems.length) return invalid(res, problems);
      const e: StandInEndpoint = {
        name: `${eps[1]}/endpoints/${nextId++}`,
        displayName: b.displayName,
        labels: b.labels,
        deployedModels: [],
        trafficSplit: {},
        wrr: new SmoothWeightedRoundRobin<string>(),
      };
      endpoints.push(e);
      return json(
        res,
        opView(
          startOperation(e.name, {
            response: { '@type': 'type.googleapis.com/google.cloud.aiplatform.v1.Endpoint', ...endpointView(e) },
          }),
        ),
      );
    }
    if (eps && req.method === 'GET') {
      const m = /^display_name="([^"]*)"$/.exec(url.searchParams.get('filter') ?? '');
      const list = endpoints.filter((e) => e.name.startsWith(eps[1]!) && (!m || e.displayName === m[1]));
      return json(res, list.length ? { endpoints: list.map(endpointView) } : {});
    }
    const one =
      /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/endpoints\/\d+)(:deployModel|:undeployModel|:predict)?$/.exec(p);
    if (!one) return false;
    const e = endpoints.find((x) => x.name === one[1]);
    if (!e) return error(res, 404, 'NOT_FOUND', `${p} not found`);
    if (!one[2] && req.method === 'GET') return json(res, endpointView(e));
    if (!one[2] && req.method === 'DELETE') {
      if (e.deployedModels.length > 0)
        return error(
          res,
          400,
          'FAILED_PRECONDITION',
          `endpoint ${e.name} still has deployed models; undeploy them first`,
        );
      endpoints.splice(endpoints.indexOf(e), 1);
      return json(
        res,
        opView(
          startOperation(e.name, {
            response: { '@type': 'type.googleapis.com/google.protobuf.Empty' },
          }),
        ),
      );
    }
    if (!one[2] && req.method === 'PATCH') {
      const b = body();
      const problems = schemaProblems(b, ENDPOINT);
      if (url.searchParams.get('updateMask') !== 'traffic_split')
        problems.push('updateMask: only traffic_split is supported here');
      if (problems.length) return invalid(res, problems);
      const bad = setSplit(e, b.trafficSplit ?? {});
      return bad.length ? invalid(res, bad) : json(res, endpointView(e));
    }
    if (one[2] === ':deployModel') {
      const b = body();
      const problems = schemaProblems(b, DEPLOY_MODEL_REQUEST);
      const model = models.get(b.deployedModel?.model);
      if (!model) problems.push(`deployedModel.model: ${b.deployedModel?.model} does not exist`);
      if (problems.length) return invalid(res, problems);
      const behaviour = await behaviourOf(model!);
      const id = String(nextId++);
      if (behaviour.never_healthy)
        return json(
          res,
          opView(
            startOperation(e.name, {
              error: {
                code: 13,
                message: `Model server of ${b.deployedModel.displayName} never became ready: health checks failed`,
              },
            }),
          ),
        );
      const server = await startServer(model!, id);
      e.deployedModels.push({ id, model: model!.name, displayName: b.deployedModel.displayName, behaviour, server });
      const split = Object.fromEntries(
        Object.entries((b.trafficSplit ?? {}) as Record<string, number>).map(([k, w]) => [k === '0' ? id : k, w]),
      );
      const bad = setSplit(e, split);
      if (bad.length) {
        await stopServer(e.deployedModels.pop()?.server);
        return invalid(res, bad);
      }
      return json(
        res,
        opView(
          startOperation(e.name, {
            response: {
              '@type': 'type.googleapis.com/google.cloud.aiplatform.v1.DeployModelResponse',
              deployedModel: { id, model: model!.name, displayName: b.deployedModel.displayName },
            },
          }),
        ),
      );
    }
    if (one[2] === ':undeployModel') {
      const b = body();
      const problems = schemaProblems(b, UNDEPLOY_MODEL_REQUEST);
      if (!e.deployedModels.some((d) => d.id === b.deployedModelId))
        problems.push(`deployedModelId: ${b.deployedModelId} is not deployed`);
      const split = (b.trafficSplit ?? e.trafficSplit) as Record<string, number>;
      if ((split[b.deployedModelId] ?? 0) > 0)
        problems.push(`deployedModelId: ${b.deployedModelId} still has traffic; reassign it in trafficSplit`);
      if (problems.length) return invalid(res, problems);
      const gone = e.deployedModels.find((d) => d.id === b.deployedModelId)!;
      e.deployedModels = e.deployedModels.filter((d) => d !== gone);
      const bad = setSplit(e, split);
      if (bad.length) {
        e.deployedModels.push(gone);
        return invalid(res, bad);
      }
      await stopServer(gone.server);
      return json(
        res,
        opView(
          startOperation(e.name, {
            response: { '@type': 'type.googleapis.com/google.cloud.aiplatform.v1.UndeployModelResponse' },
          }),
        ),
      );
    }
    if (one[2] === ':predict' && req.method === 'POST') {
      const d = pick(e);
      if (!d) return error(res, 400, 'FAILED_PRECONDITION', `endpoint ${e.name} has no model with traffic`);
      const stats = served.get(d.id) ?? { n: 0, codes: new Map<string, number>() };
      served.set(d.id, stats);
      stats.n++;
      const answer = await fetch(d.server!.predictUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: raw,
      });
      const code = String(answer.status);
      stats.codes.set(code, (stats.codes.get(code) ?? 0) + 1);
      const out = (await answer.json().catch(() => ({}))) as Record<string, unknown>;
      if (!answer.ok)
        return error(
          res,
          answer.status,
          answer.status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT',
          `model server of ${d.displayName} answered ${code}: ${JSON.stringify(out)}`,
        );
      return json(res, {
        predictions: out.predictions,
        deployedModelId: d.id,
        model: d.model,
        modelDisplayName: d.displayName,
      });
    }
    return false;
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url!, 'http://x');
        if (url.pathname === '/metrics') {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          return res.end(metrics());
        }
        if (!/^Bearer .+/.test(req.headers.authorization ?? ''))
          return error(res, 401, 'UNAUTHENTICATED', 'missing bearer token');
        if ((await endpointsApi(req, url, Buffer.concat(chunks).toString(), res)) !== false) return;
        const create = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+)\/customJobs$/.exec(url.pathname);
        const one = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/customJobs\/\d+)(:cancel)?$/.exec(url.pathname);
        if (create && req.method === 'POST') {
          const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
          const problems = schemaProblems(body, CUSTOM_JOB);
          if (problems.length) {
            rejected.push(problems);
            return error(res, 400, 'INVALID_ARGUMENT', problems.join('; '));
          }
          if (faults.quotaFailures > 0) {
            faults.quotaFailures--;
            return error(
              res,
              429,
              'RESOURCE_EXHAUSTED',
              'Quota exceeded for aiplatform.googleapis.com/custom_model_training_nvidia_l4_gpus',
            );
          }
          const job: Job = {
            body,
            name: `${create[1]}/customJobs/${nextId++}`,
            createdAt: Date.now(),
            preempt: faults.preemptions > 0,
          };
          if (faults.preemptions > 0) faults.preemptions--;
          jobs.push(job);
          if (faults.loseCreateResponses > 0) {
            faults.loseCreateResponses--;
            return error(res, 503, 'UNAVAILABLE', 'The service is currently unavailable (response lost)');
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify(view(job)));
        }
        if (create && req.method === 'GET') {
          const m = /^labels\.([a-z0-9_-]+)="([^"]*)"$/.exec(url.searchParams.get('filter') ?? '');
          const list = jobs.filter((j) => j.name.startsWith(create[1]!) && (!m || j.body.labels?.[m[1]!] === m[2]));
          for (const j of list) await settle(j);
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end(JSON.stringify(list.length ? { customJobs: list.map(view) } : {}));
        }
        const job = one && jobs.find((j) => j.name === one[1]);
        if (!job) return error(res, 404, 'NOT_FOUND', `${url.pathname} not found`);
        if (one![2] && req.method === 'POST') {
          if (!job.finished && !job.cancelledAt) job.cancelledAt = Date.now();
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end('{}');
        }
        if (faults.unavailableGets > 0) {
          faults.unavailableGets--;
          return error(res, 503, 'UNAVAILABLE', 'try again');
        }
        await settle(job);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(view(job)));
      })().catch((err: Error) => error(res, 500, 'INTERNAL', err.message));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  s.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  s.close = async () => {
    for (const child of children) child.kill();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return s;
}

/** Points this process's Vertex clients at the stand-in (test-env.ts sets the fast poll interval). */
export function useVertexStandIn(standIn: VertexStandIn, extra: Record<string, string> = {}): void {
  Object.assign(process.env, {
    MLOPS_VERTEX_API_ENDPOINT: standIn.endpoint,
    MLOPS_VERTEX_ACCESS_TOKEN: 'test-token',
    ...extra,
  });
}
