/**
 * Staged rollouts on the `local` target: the candidate's server starts beside the champion's, the model's
 * traffic router (traffic-router.ts, one per model, stable port) moves traffic between them step by step,
 * and at the end the candidate is promoted (made live, `champion` moved) or rolled back (traffic restored to the
 * champion, the candidate's server stopped, the analysis written to the deployment log; no alias moves).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { Deployment } from '../../../sdk/run-types.js';
import {
  isHealthy,
  liveServer,
  localDeployment,
  makeLive,
  nodeScript,
  startVersionServer,
  type DeployInput,
} from './deploy.js';
import { freePort } from '../../platform/free-port.js';
import { isOurProcess, readPid, startDetached, stopProcessGroup } from '../../platform/local-process.js';
import { pollUntil } from '../../platform/poll.js';
import type { ObjectStore } from '../../../registry/object-store.js';
import type { Route, TrafficState } from './traffic-router.js';
import type { Mirror } from './mirror.js';
import type { CandidateServers, PromoteInput, RollBackInput, StopInput } from '../types.js';

/** Starts the candidate's server (healthy + smoke) without giving it any traffic. */
export async function startCandidate(home: string, input: DeployInput, store: ObjectStore): Promise<CandidateServers> {
  const { model, version } = input.version;
  const live = await liveServer(home, model);
  const candidate = { ...(await startVersionServer(home, input, store)), version };
  return {
    candidate,
    champion: live && live.version !== version ? { version: live.version, endpoint: live.endpoint } : undefined,
  };
}

/** Starts the model's router unless it runs; keeps its port across restarts so the endpoint stays the same. */
async function ensureRouter(home: string, model: string): Promise<string> {
  const dir = path.join(home, 'serving', model, 'router');
  const portFile = path.join(dir, 'port');
  const pid = await readPid(dir);
  const known = await fs.readFile(portFile, 'utf8').catch(() => undefined);
  if (pid !== undefined && known && (await isOurProcess(pid, dir))) {
    const endpoint = `http://127.0.0.1:${known}`;
    if (await isHealthy(`${endpoint}/-/mlops/health`)) return endpoint;
    await stopProcessGroup(pid, dir, 2000);
  }
  await fs.mkdir(dir, { recursive: true });
  const port = known ? Number(known) : await freePort();
  await fs.writeFile(portFile, String(port));
  const endpoint = `http://127.0.0.1:${port}`;
  await startDetached({
    dir,
    command: nodeScript('traffic-router'),
    cwd: dir,
    env: { ...process.env, MLOPS_ROUTER_PORT: String(port), MLOPS_ROUTER_DIR: dir, MLOPS_ROUTER_MODEL: model },
    logFile: path.join(dir, 'router.log'),
  });
  const started = await pollUntil(async () => (await isHealthy(`${endpoint}/-/mlops/health`)) || undefined, {
    intervalMs: 100,
    timeoutMs: 30_000,
  });
  if (!started) throw new Error(`the traffic router of ${model} did not start on ${endpoint}`);
  Context.current().log.info(`deploy: traffic router of ${model} on ${endpoint}`);
  return endpoint;
}

/**
 * Sets the traffic split; `step` names the rollout step (the router's stats restart when it changes); `mirror`
 * sends a share of live requests to the candidate on the side (the shadow stage).
 */
export async function routeTraffic(
  home: string,
  input: { model: string; step: string; routes: Route[]; mirror?: Mirror },
) {
  const endpoint = await ensureRouter(home, input.model);
  const { step, routes, mirror } = input;
  const res = await fetch(`${endpoint}/-/mlops/traffic`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ step, routes, ...(mirror && { mirror }) } satisfies TrafficState),
  });
  if (!res.ok) throw new Error(`the router refused the split: HTTP ${res.status} ${await res.text()}`);
  return { routerEndpoint: endpoint };
}

/** Waits (up to 10 s) until no request to `version` is in flight at the router; after that, goes on anyway. */
async function drained(endpoint: string, version: number): Promise<void> {
  await pollUntil(
    async () => {
      const body = (await (await fetch(`${endpoint}/-/mlops/traffic`)).json()) as { inflight: Record<string, number> };
      return body.inflight[String(version)] ? undefined : true;
    },
    { intervalMs: 50, timeoutMs: 10_000 },
  );
}

/** The candidate takes all traffic for good: it becomes the live server; the champion's server stops. */
export async function promoteCandidate(home: string, input: PromoteInput): Promise<Deployment> {
  const { model, version } = input.version;
  const c = input.servers.candidate;
  if (input.servers.champion) await drained(input.routerEndpoint, input.servers.champion.version);
  await makeLive(home, model, version, { version, pid: c.pid!, dir: c.dir!, endpoint: c.endpoint });
  return localDeployment(input, input.routerEndpoint, c, input.rollout);
}

/**
 * Local target, the candidate failed a check before any traffic moved (the skew gate): its server stops; the
 * router and the live server are not touched. A candidate that is already the live server is left running.
 */
export async function stopLocalCandidate(home: string, input: StopInput): Promise<void> {
  const { candidate } = input.servers;
  const live = await liveServer(home, input.version.model);
  if (live?.pid === candidate.pid) return;
  if (candidate.pid && candidate.dir && (await isOurProcess(candidate.pid, candidate.dir)))
    await stopProcessGroup(candidate.pid, candidate.dir, 5000);
}

/** Local target: all traffic back to the champion, the candidate's requests in flight answered, its server stopped. */
export async function rollBackLocal(home: string, input: RollBackInput): Promise<void> {
  const { model, version } = input.version;
  const { candidate, champion } = input.servers;
  if (champion && input.routerEndpoint) {
    const workflowId = Context.current().info.workflowExecution?.workflowId ?? '';
    await routeTraffic(home, {
      model,
      step: `${workflowId}/rollback`,
      routes: [{ version: champion.version, url: champion.endpoint, weight: 100 }],
    });
    await drained(input.routerEndpoint, version);
  }
  if (candidate.pid && candidate.dir && (await isOurProcess(candidate.pid, candidate.dir)))
    await stopProcessGroup(candidate.pid, candidate.dir, 5000);
}
