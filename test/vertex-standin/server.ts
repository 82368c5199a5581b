/**
 * STAND-IN for Vertex AI (aiplatform v1 REST), for tests only: no real Vertex can run here. It speaks the v1
 * REST protocol for CustomJobs (create, get, list with `labels.k="v"` filters, `:cancel`), checks every
 * CustomJob it receives against the official aiplatform v1 schema (the protos shipped in
 * `@google-cloud/aiplatform`: unknown fields, scalar types, enum names and Duration strings are rejected with
 * 400 INVALID_ARGUMENT), and runs a scripted job lifecycle QUEUED → PENDING → RUNNING → SUCCEEDED. "Training"
 * writes `metrics.json` under `baseOutputDirectory/model/` in the GCS emulator. Faults can be injected: 429
 * RESOURCE_EXHAUSTED on create, a created job whose response is lost (503), 503 on get, spot preemption
 * (the job fails with code 14 after writing a checkpoint that the next job resumes from).
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';
import { Storage } from '@google-cloud/storage';

const require = createRequire(import.meta.url);
const root = protobuf.Root.fromJSON(
  require('@google-cloud/aiplatform/build/protos/protos.json') as protobuf.INamespace,
);
const CUSTOM_JOB = root.lookupType('google.cloud.aiplatform.v1.CustomJob');

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

export interface VertexStandIn {
  endpoint: string;
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
  const s: VertexStandIn = { endpoint: '', jobs, faults, rejected, runMs: 1500, stateOf, close: async () => undefined };
  let nextId = 1000;

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

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        if (!/^Bearer .+/.test(req.headers.authorization ?? ''))
          return error(res, 401, 'UNAUTHENTICATED', 'missing bearer token');
        const url = new URL(req.url!, 'http://x');
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
  s.close = () => new Promise((resolve) => server.close(() => resolve()));
  return s;
}
