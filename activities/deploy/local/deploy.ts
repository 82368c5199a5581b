/**
 * The `local` deploy target: starts the model's server with Vertex AI's serving contract
 * (`AIP_HTTP_PORT`, `AIP_PREDICT_ROUTE`, `AIP_HEALTH_ROUTE`, `AIP_STORAGE_URI`), waits until it is healthy,
 * sends a smoke prediction, then retires the model's previous local server and records the deployment.
 */
import { promises as fs } from 'node:fs';
import { freePort } from '../../platform/free-port.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { DataSnapshot, Deployment, RegisteredVersion } from '../../../sdk/run-types.js';
import type { DeploySpec } from '../../../sdk/spec/pipeline.js';
import { targetOf } from '../../../sdk/spec/deploy.js';
import {
  isOurProcess,
  readExitCode,
  readPid,
  startDetached,
  stopProcessGroup,
  tailLines,
} from '../../platform/local-process.js';
import type { ObjectStore } from '../../../registry/object-store.js';
import { artifactsPrefix } from '../../../registry/registry.js';
import { pollUntil } from '../../platform/poll.js';

/** How often a starting model server's health route is tried. */
const HEALTH_CHECK_MS = 300;

/** A deploy or rollout activity's input: the version, where to deploy it, and the data it was trained on. */
export interface DeployInput {
  version: RegisteredVersion;
  deploy: DeploySpec;
  snapshot: DataSnapshot;
  store?: string;
  /** Log served requests into windows for the monitor (the request-logging proxy fronts the model server). */
  monitor?: { windowMs: number };
}

/** A Node script beside this module, with the tsx loader when running from TypeScript sources. */
export function nodeScript(name: string): string[] {
  const here = fileURLToPath(import.meta.url);
  const script = path.join(path.dirname(here), `${name}${path.extname(here)}`);
  const loader = path.extname(here) === '.ts' ? ['--import', import.meta.resolve('tsx')] : [];
  return [process.execPath, ...loader, script];
}

/** The model server command, wrapped in the request-logging proxy when the model is monitored. */
function serveCommand(input: DeployInput, store: ObjectStore): { command: string[]; env: Record<string, string> } {
  const command = targetOf(input.deploy, 'local').command;
  if (!input.monitor) return { command, env: {} };
  return {
    command: [...nodeScript('serving-proxy'), ...command],
    env: {
      MLOPS_MONITOR_STORE: store.root,
      MLOPS_MONITOR_MODEL: input.version.model,
      MLOPS_MONITOR_VERSION: String(input.version.version),
      MLOPS_MONITOR_WINDOW_MS: String(input.monitor.windowMs),
    },
  };
}

/** What `<home>/serving/<model>/current.json` holds: the server now taking the model's traffic. */
export interface LiveServer {
  version: number;
  pid: number;
  dir: string;
  endpoint: string;
}

/** True when `url` answers 2xx within 2 s. */
export async function isHealthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** The live server recorded in `file`, or undefined when there is none (or it is unreadable). */
export async function readLive(file: string): Promise<LiveServer | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as LiveServer;
  } catch {
    return undefined;
  }
}

/** A local directory with the version's artifacts: the registry's own when it is on disk, else a download. */
async function localArtifacts(store: ObjectStore, version: RegisteredVersion, serverDir: string): Promise<string> {
  const prefix = artifactsPrefix(version.model, version.version);
  const onDisk = store.localPath(prefix.slice(0, -1));
  if (onDisk) return onDisk;
  const dir = path.join(serverDir, 'artifacts');
  for (const key of await store.list(prefix)) {
    const obj = await store.get(key);
    if (!obj) throw new Error(`${store.uri(key)} vanished while downloading ${version.model} v${version.version}`);
    const file = path.join(dir, key.slice(prefix.length));
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, obj.data);
  }
  return dir;
}

/** Starts (or, on a retry, finds) the version's server and returns its endpoint. */
async function ensureServer(
  home: string,
  input: DeployInput,
  store: ObjectStore,
): Promise<{ pid: number; dir: string; endpoint: string }> {
  const target = targetOf(input.deploy, 'local');
  const { model, version } = input.version;
  const dir = path.join(home, 'serving', model, `v${version}`);
  const pid = await readPid(dir);
  const endpointFile = path.join(dir, 'endpoint');
  if (pid !== undefined && (await isOurProcess(pid, dir))) {
    const endpoint = await fs.readFile(endpointFile, 'utf8');
    if (await isHealthy(endpoint + target.healthRoute)) return { pid, dir, endpoint };
    await stopProcessGroup(pid, dir, 2000);
  }
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const port = target.port || (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  await fs.writeFile(endpointFile, endpoint);
  const artifacts = await localArtifacts(store, input.version, dir);
  const passed = Object.fromEntries(
    target.passEnv.flatMap((n) => (process.env[n] !== undefined ? [[n, process.env[n]]] : [])),
  );
  const serve = serveCommand(input, store);
  const env = {
    ...process.env,
    ...passed,
    ...target.env,
    AIP_MODE: 'PREDICTION',
    AIP_HTTP_PORT: String(port),
    AIP_PREDICT_ROUTE: target.predictRoute,
    AIP_HEALTH_ROUTE: target.healthRoute,
    AIP_STORAGE_URI: artifacts,
    AIP_DEPLOYED_MODEL_ID: `${model}-v${version}`,
    PYTHONUNBUFFERED: '1',
    ...serve.env,
  };
  const started = await startDetached({
    dir,
    command: serve.command,
    cwd: path.resolve(target.cwd ?? '.'),
    env,
    logFile: path.join(dir, 'server.log'),
  });
  Context.current().log.info(`deploy: started ${model} v${version} server (pid ${started}) on ${endpoint}`);
  return { pid: started, dir, endpoint };
}

async function waitHealthy(server: { pid: number; dir: string; endpoint: string }, input: DeployInput): Promise<void> {
  const ctx = Context.current();
  const target = targetOf(input.deploy, 'local');
  const url = server.endpoint + target.healthRoute;
  const stop = () => stopProcessGroup(server.pid, server.dir, 2000);
  const healthy = await pollUntil(
    async () => {
      if (await isHealthy(url)) return true;
      const exited = await readExitCode(server.dir);
      if (exited !== undefined || !(await isOurProcess(server.pid, server.dir))) {
        const lastLines = await tailLines(path.join(server.dir, 'server.log'), 30);
        throw ApplicationFailure.nonRetryable(
          `The model server exited (code ${exited ?? 'unknown'}) before becoming healthy. Last lines:\n${lastLines.join('\n')}`,
          'DeployFailed',
          { exitCode: exited, lastLines },
        );
      }
      ctx.heartbeat({ waitingFor: url });
      return undefined;
    },
    {
      intervalMs: HEALTH_CHECK_MS,
      timeoutMs: target.healthTimeout,
      signal: ctx.cancellationSignal,
      what: `the model server's health check ${url}`,
      onCancel: stop,
    },
  );
  if (healthy) return;
  await stop();
  throw ApplicationFailure.nonRetryable(
    `The model server did not answer ${url} within ${target.healthTimeout} ms`,
    'DeployFailed',
  );
}

async function smoke(endpoint: string, input: DeployInput): Promise<Deployment['smoke']> {
  const request = input.deploy.smokeRequest ?? { instances: [input.snapshot.sampleFeatures] };
  const url = endpoint + targetOf(input.deploy, 'local').predictRoute;
  const started = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(request),
    signal: AbortSignal.timeout(30_000),
  });
  const latencyMs = Math.round((performance.now() - started) * 10) / 10;
  const text = await res.text();
  let response: unknown;
  try {
    response = JSON.parse(text);
  } catch {
    response = text;
  }
  if (!res.ok || typeof response !== 'object' || response === null || !('predictions' in response)) {
    throw ApplicationFailure.nonRetryable(
      `Smoke prediction to ${url} failed: HTTP ${res.status}, body ${text.slice(0, 300)} (expected {"predictions": [...]})`,
      'DeployFailed',
      { request, status: res.status, body: text.slice(0, 2000) },
    );
  }
  return { request, response, latencyMs };
}

export interface VersionServer {
  pid: number;
  dir: string;
  endpoint: string;
  smoke: Deployment['smoke'];
}

/** Starts (or finds) the version's server, waits until it is healthy and answers a smoke prediction. */
export async function startVersionServer(home: string, input: DeployInput, store: ObjectStore): Promise<VersionServer> {
  const server = await ensureServer(home, input, store);
  await waitHealthy(server, input);
  return { ...server, smoke: await smoke(server.endpoint, input) };
}

/** Makes `server` the model's live server and stops the one it replaces. */
export async function makeLive(home: string, model: string, version: number, server: LiveServer): Promise<void> {
  const liveFile = path.join(home, 'serving', model, 'current.json');
  const previous = await readLive(liveFile);
  await fs.writeFile(liveFile, JSON.stringify({ ...server, version } satisfies LiveServer));
  if (previous && previous.version !== version && (await isOurProcess(previous.pid, previous.dir))) {
    Context.current().log.info(`deploy: retiring ${model} v${previous.version} (pid ${previous.pid})`);
    await stopProcessGroup(previous.pid, previous.dir, 5000);
  }
}

/** The model's live server, when it runs. */
export async function liveServer(home: string, model: string): Promise<LiveServer | undefined> {
  const live = await readLive(path.join(home, 'serving', model, 'current.json'));
  return live && (await isOurProcess(live.pid, live.dir)) ? live : undefined;
}

/** The deploy activity for the `local` target. Returns the deployment; recording it is the caller's part. */
export async function deployLocal(home: string, input: DeployInput, store: ObjectStore): Promise<Deployment> {
  const { model, version } = input.version;
  const server = await startVersionServer(home, input, store);
  await makeLive(home, model, version, { version, pid: server.pid, dir: server.dir, endpoint: server.endpoint });
  return localDeployment(input, server.endpoint, server);
}

/** The deployment record of a local version served at `endpoint` (its own server, or the model's router). */
export function localDeployment(
  input: Pick<DeployInput, 'version' | 'deploy'>,
  endpoint: string,
  server: Partial<Pick<VersionServer, 'pid' | 'smoke'>>,
  rollout?: Deployment['rollout'],
): Deployment {
  return {
    target: 'local',
    model: input.version.model,
    version: input.version.version,
    endpoint,
    predictUrl: endpoint + targetOf(input.deploy, 'local').predictRoute,
    pid: server.pid,
    deployedAt: new Date().toISOString(),
    smoke: server.smoke,
    ...(rollout ? { rollout } : {}),
  };
}

/** Stops a model's local server and its traffic router (used by the demo and tests to clean up). */
export async function stopLocalServer(home: string, model: string): Promise<boolean> {
  const routerDir = path.join(home, 'serving', model, 'router');
  const routerPid = await readPid(routerDir);
  if (routerPid !== undefined && (await isOurProcess(routerPid, routerDir)))
    await stopProcessGroup(routerPid, routerDir, 5000);
  const live = await readLive(path.join(home, 'serving', model, 'current.json'));
  if (!live || !(await isOurProcess(live.pid, live.dir))) return false;
  await stopProcessGroup(live.pid, live.dir, 5000);
  return true;
}
