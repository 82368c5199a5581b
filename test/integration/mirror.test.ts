/**
 * The traffic router's mirroring (the shadow stage's data path), on the real router process between two real
 * HTTP servers: callers get the champion's answer byte for byte, the candidate gets the configured share of the
 * same requests marked `x-mlops-traffic: shadow`, a slow or failing candidate neither delays nor changes what
 * callers get, and both answers of each mirrored request are kept for the analysis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeScript } from '../../activities/deploy/local/deploy.js';
import type { ShadowState } from '../../activities/deploy/local/mirror.js';
import { freePort } from '../../activities/platform/free-port.js';
import { pollUntil } from '../../activities/platform/poll.js';
import { routerState } from '../helpers/traffic.js';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A model server that answers `{ predictions: [<who>:<n>], deployedModelId }` and keeps what it received. */
async function server(who: string) {
  const received: Received[] = [];
  const behaviour = { delayMs: 0, status: 200 };
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ headers: req.headers, body });
      const { instances } = JSON.parse(body) as { instances: { n: number }[] };
      const { status, delayMs } = behaviour; // as it was when the request came
      setTimeout(() => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ predictions: instances.map((i) => `${who}:${i.n}`), deployedModelId: who }));
      }, delayMs);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    received,
    behaviour,
    close: () => new Promise((r) => srv.close(r)),
  };
}

let dir: string;
let router: string;
let child: ChildProcess;
let champion: Awaited<ReturnType<typeof server>>;
let candidate: Awaited<ReturnType<typeof server>>;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-mirror-'));
  [champion, candidate] = await Promise.all([server('champion'), server('candidate')]);
  const port = await freePort();
  router = `http://127.0.0.1:${port}`;
  const [cmd, ...args] = nodeScript('traffic-router');
  child = spawn(cmd!, args, {
    env: { ...process.env, MLOPS_ROUTER_PORT: String(port), MLOPS_ROUTER_DIR: dir, MLOPS_ROUTER_MODEL: 'mirror' },
    stdio: 'ignore',
  });
  const up = await pollUntil(
    () =>
      fetch(`${router}/-/mlops/health`).then(
        (r) => r.ok || undefined,
        () => undefined,
      ),
    { intervalMs: 100, timeoutMs: 30_000 },
  );
  if (!up) throw new Error('the router did not start');
});
afterAll(async () => {
  child?.kill('SIGTERM');
  await Promise.all([champion?.close(), candidate?.close()]);
  await fs.rm(dir, { recursive: true, force: true });
});

async function route(step: string, share?: number) {
  const res = await fetch(`${router}/-/mlops/traffic`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      step,
      routes: [{ version: 1, url: champion.url, weight: 100 }],
      ...(share && { mirror: { version: 2, url: candidate.url, share } }),
    }),
  });
  expect(res.status).toBe(200);
}

/** Sends `count` one-instance predictions from 4 loops; returns each answer with its latency. */
async function send(count: number, from = 0) {
  const answers: { n: number; status: number; body: string; ms: number }[] = [];
  let next = from;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < from + count) {
        const n = next++;
        const t = performance.now();
        const res = await fetch(`${router}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ instances: [{ n }] }),
        });
        answers.push({ n, status: res.status, body: await res.text(), ms: performance.now() - t });
      }
    }),
  );
  return answers;
}

const shadow = async () => (await (await fetch(`${router}/-/mlops/shadow`)).json()) as ShadowState;

describe('traffic router mirroring', () => {
  it('mirrors the share to the candidate; callers get the champion answer, byte for byte', async () => {
    await route('s1', 0.25);
    const answers = await send(200);
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(JSON.parse(a.body)).toEqual({ predictions: [`champion:${a.n}`], deployedModelId: 'champion' });
    }
    expect(champion.received).toHaveLength(200);
    await pollUntil(async () => ((await shadow()).pairs.length === 50 ? true : undefined), {
      intervalMs: 50,
      timeoutMs: 5000,
    });
    // Exactly one request in four, each the caller's bytes, marked as the router's own copy.
    expect(candidate.received).toHaveLength(50);
    const sent = new Set(champion.received.map((r) => r.body));
    for (const r of candidate.received) {
      expect(r.headers['x-mlops-traffic']).toBe('shadow');
      expect(sent.has(r.body)).toBe(true);
    }
    expect(champion.received.every((r) => r.headers['x-mlops-traffic'] === undefined)).toBe(true);
    const state = await shadow();
    expect(state).toMatchObject({ step: 's1', live: 200, mirrored: 50, skipped: 0 });
    for (const p of state.pairs) {
      const n = (JSON.parse(p.request) as { instances: { n: number }[] }).instances[0]!.n;
      expect(JSON.parse(p.champion.body).predictions).toEqual([`champion:${n}`]);
      expect(JSON.parse(p.candidate.body).predictions).toEqual([`candidate:${n}`]);
      expect([p.champion.status, p.candidate.status]).toEqual([200, 200]);
    }
    // The router's own stats (the canary analysis) count the callers' requests only.
    expect(Object.keys((await routerState(router)).stats)).toEqual(['1']);
  });

  it('a slow or failing candidate neither delays nor changes what callers get', async () => {
    await route('s2', 0.5);
    candidate.behaviour.delayMs = 3000;
    candidate.behaviour.status = 500;
    const started = performance.now();
    const answers = await send(100, 1000);
    const elapsed = performance.now() - started;
    candidate.behaviour.delayMs = 0;
    candidate.behaviour.status = 200;
    expect(answers.every((a) => a.status === 200 && JSON.parse(a.body).deployedModelId === 'champion')).toBe(true);
    // 50 mirrored copies wait 3 s each at the candidate; the callers' 100 requests do not wait for them.
    expect(elapsed).toBeLessThan(3000);
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(1500);
    const state = await pollUntil(async () => ((await shadow()).pairs.length === 50 ? shadow() : undefined), {
      intervalMs: 100,
      timeoutMs: 10_000,
    });
    expect(state!.pairs.every((p) => p.candidate.status === 500 && p.candidate.ms >= 2900)).toBe(true);
    expect(state!.pairs.every((p) => p.champion.status === 200 && p.champion.ms < 1500)).toBe(true);
  });

  it('a split without mirror ends the mirroring', async () => {
    const before = candidate.received.length;
    await route('s3');
    await send(40, 2000);
    await new Promise((r) => setTimeout(r, 200));
    expect(candidate.received.length).toBe(before);
    expect(await shadow()).toMatchObject({ step: 's3', live: 0, mirrored: 0, pairs: [] });
  });
});
