/**
 * Cost of the rollout traffic router (activities/traffic-router.ts) on the local target, measured in one run:
 *   baseline: predictions sent straight to the model server (test/fixtures/serve_fixture.py)
 *   router:   the same predictions through the router, split 90/10 between two servers of the same model
 *   mirror:   all traffic to one server, with mirroring off and on (every request, then one in ten, also sent to
 *             the other server: the shadow stage), in alternating rounds of the same run
 * Sequential requests (latency) and 8 concurrent loops (throughput). Prints medians, p99, requests/s and ratios.
 * Usage: npm run bench:router [-- --requests 2000]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '../activities/platform/free-port.js';
import { nodeScript } from '../activities/deploy/local/deploy.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '2000' } } });
const requests = Number(values.requests);
const here = path.dirname(fileURLToPath(import.meta.url));
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-bench-router-'));
await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify({ threshold: 0.5 }));
const children: ChildProcess[] = [];

async function up(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not come up`);
}

async function modelServer(version: number): Promise<string> {
  const port = await freePort();
  children.push(
    spawn('python3', [path.join(here, '..', 'test', 'fixtures', 'serve_fixture.py')], {
      env: {
        ...process.env,
        AIP_HTTP_PORT: String(port),
        AIP_HEALTH_ROUTE: '/health',
        AIP_PREDICT_ROUTE: '/predict',
        AIP_STORAGE_URI: dir,
        AIP_DEPLOYED_MODEL_ID: `bench-v${version}`,
      },
      stdio: 'ignore',
    }),
  );
  await up(`http://127.0.0.1:${port}/health`);
  return `http://127.0.0.1:${port}`;
}

const body = JSON.stringify({ instances: [{ a: 1.5, b: 2.5, c: 0.1 }] });
const predict = async (base: string) => {
  const res = await fetch(`${base}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  await res.arrayBuffer();
};

async function latency(base: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < requests; i++) {
    const t = performance.now();
    await predict(base);
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

async function throughput(base: string): Promise<number> {
  let sent = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (sent < requests) {
        sent++;
        await predict(base);
      }
    }),
  );
  return requests / ((performance.now() - started) / 1000);
}

try {
  const [v1, v2] = await Promise.all([modelServer(1), modelServer(2)]);
  const routerPort = await freePort();
  const router = `http://127.0.0.1:${routerPort}`;
  const [cmd, ...args] = nodeScript('traffic-router');
  children.push(
    spawn(cmd!, args, {
      env: {
        ...process.env,
        MLOPS_ROUTER_PORT: String(routerPort),
        MLOPS_ROUTER_DIR: dir,
        MLOPS_ROUTER_MODEL: 'bench',
      },
      stdio: 'ignore',
    }),
  );
  await up(`${router}/-/mlops/health`);
  const route = async (step: string, routes: object[], mirror?: object) => {
    const put = await fetch(`${router}/-/mlops/traffic`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ step, routes, ...(mirror && { mirror }) }),
    });
    if (!put.ok) throw new Error(`router refused the split: ${await put.text()}`);
  };
  await route('bench', [
    { version: 1, url: v1, weight: 90 },
    { version: 2, url: v2, weight: 10 },
  ]);

  for (const base of [v1, router]) await latency(base).then(() => undefined); // warm-up
  const direct = await latency(v1);
  const routed = await latency(router);
  const directRps = await throughput(v1);
  const routedRps = await throughput(router);
  const p = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
  console.log(`${requests} sequential predictions each, then ${requests} from 8 concurrent loops`);
  console.log(
    `direct   median ${p(direct, 0.5).toFixed(2)} ms  p99 ${p(direct, 0.99).toFixed(2)} ms  ${directRps.toFixed(0)} req/s`,
  );
  console.log(
    `router   median ${p(routed, 0.5).toFixed(2)} ms  p99 ${p(routed, 0.99).toFixed(2)} ms  ${routedRps.toFixed(0)} req/s`,
  );
  console.log(
    `ratio    latency ${(p(routed, 0.5) / p(direct, 0.5)).toFixed(2)}x (+${(p(routed, 0.5) - p(direct, 0.5)).toFixed(2)} ms median), throughput ${(routedRps / directRps).toFixed(2)}x`,
  );

  // Mirroring: the same router, all traffic to v1, mirroring off / on in alternating rounds (drift cancels out).
  const rounds = 6;
  const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
  const samples: Record<string, number[]> = { off: [], 'on 100 %': [], 'on 10 %': [] };
  const share: Record<string, number | undefined> = { off: undefined, 'on 100 %': 1, 'on 10 %': 0.1 };
  const modes = Object.keys(samples);
  for (let round = 0; round < rounds; round++)
    // Each round starts with another mode, so no mode always follows the same one.
    for (const mode of [...modes.slice(round % modes.length), ...modes.slice(0, round % modes.length)]) {
      const mirror = share[mode] === undefined ? undefined : { version: 2, url: v2, share: share[mode] };
      await route(`mirror-${mode}-${round}`, [{ version: 1, url: v1, weight: 100 }], mirror);
      samples[mode]!.push(...(await latency(router)));
    }
  const off = sorted(samples.off!);
  console.log(`mirroring: ${rounds} alternating rounds of ${requests} sequential predictions per mode`);
  for (const mode of Object.keys(samples)) {
    const xs = sorted(samples[mode]!);
    const added = (q: number) => `${p(xs, q) - p(off, q) >= 0 ? '+' : ''}${(p(xs, q) - p(off, q)).toFixed(2)} ms`;
    console.log(
      `mirror ${mode.padEnd(9)} median ${p(xs, 0.5).toFixed(2)} ms  p99 ${p(xs, 0.99).toFixed(2)} ms` +
        (mode === 'off'
          ? ''
          : `  vs off: p50 ${(p(xs, 0.5) / p(off, 0.5)).toFixed(2)}x (${added(0.5)}), p99 ${(p(xs, 0.99) / p(off, 0.99)).toFixed(2)}x (${added(0.99)})`),
    );
  }
} finally {
  for (const child of children) child.kill('SIGTERM');
  await fs.rm(dir, { recursive: true, force: true });
}
