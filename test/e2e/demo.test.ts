/**
 * `npm run demo` as a person runs it (the same wrapper script, its own dev server, a temp MLOPS_HOME): the whole
 * loop to v2 live, then Ctrl-C with `--keep-running`; with `--manual-approval`, a stop at each of the two
 * approvals until the approver runs the printed CLI command, then the demo's own end; and Ctrl-C while it waits for
 * a manual approval. Ctrl-C is a SIGINT to the demo's process group, as a terminal sends it. After each: exit 0
 * and no process it started left.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openObjectStore } from '../../activities/index.js';
import { deploymentLog, getAlias } from '../../registry/aliases.js';
import { listVersions, readManifest } from '../../registry/registry.js';
import { processesInside } from '../helpers/processes.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODEL = 'breast-cancer-classifier';

interface Demo {
  child: ChildProcess;
  home: string;
  output: () => string;
  exited: Promise<number | null>;
  /** Resolves once the output contains `text` (`times` times); rejects if the demo exits first or after `timeoutMs`. */
  waitFor(text: string, timeoutMs: number, times?: number): Promise<void>;
  /** Ctrl-C: SIGINT to the whole process group. */
  interrupt(): void;
}

async function startDemo(...args: string[]): Promise<Demo> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-demo-'));
  const env: NodeJS.ProcessEnv = { ...process.env, MLOPS_HOME: home };
  delete env.TEMPORAL_ADDRESS; // its own dev server, so that the test sees it stopped
  const child = spawn(process.execPath, ['scripts/run-demo.mjs', ...args], {
    cwd: repo,
    env,
    detached: true, // its own process group, like a terminal's foreground job
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    home,
    output: () => text,
    exited,
    async waitFor(wanted, timeoutMs, times = 1) {
      const deadline = Date.now() + timeoutMs;
      let gone = false;
      void exited.then(() => (gone = true));
      const found = () => text.split(wanted).length > times;
      while (!found()) {
        if (gone) throw new Error(`the demo exited before printing ${wanted}:\n${text}`);
        if (Date.now() > deadline) throw new Error(`no ${wanted} after ${timeoutMs} ms:\n${text}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    interrupt() {
      process.kill(-child.pid!, 'SIGINT');
    },
  };
}

async function expectCleanExit(demo: Demo): Promise<void> {
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000));
  const code = await Promise.race([demo.exited, timeout]);
  if (code === 'timeout') process.kill(-demo.child.pid!, 'SIGKILL');
  expect(code, demo.output()).toBe(0);
  expect(demo.output()).not.toMatch(/IllegalStateError|Unhandled|ERR_/);
  // Whatever the demo started (dev server, worker, training jobs, model servers, proxies, router) names its home.
  let left = await processesInside(demo.home);
  for (const deadline = Date.now() + 5000; left.length > 0 && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 250));
    left = await processesInside(demo.home);
  }
  expect(left.map((p) => `${p.pid} ${p.command}`)).toEqual([]);
}

describe('npm run demo', () => {
  it(
    'closes the loop: v1 live, drift, exactly one retrain, v2 beats v1, skew gate, canary, v2 live; Ctrl-C at the end stops everything',
    { timeout: 420_000 },
    async () => {
      const demo = await startDemo('--keep-running');
      try {
        await closesTheLoop(demo);
      } finally {
        demo.interrupt();
        await expectCleanExit(demo);
      }
      expect(demo.output()).toContain('Stopping (SIGINT)');
    },
  );

  it(
    '--manual-approval stops at each approval until the approver runs the printed command, then ends by itself: exit 0',
    { timeout: 480_000 },
    async () => {
      const demo = await startDemo('--manual-approval');
      try {
        for (const stop of [1, 2]) {
          await demo.waitFor('Waiting for your decision', 300_000, stop);
          // Still waiting a moment later: nothing approves for the person.
          await new Promise((r) => setTimeout(r, 3000));
          const waiting = demo.output().split('Waiting for your decision');
          expect(waiting.length - 1).toBe(stop);
          expect(waiting.at(-1)).not.toMatch(/skew gate passed|deployed at|takes all traffic/);
          const printed = [...demo.output().matchAll(/CLI: +npx temporal-mlops (approve .*)$/gm)].at(-1)![1]!;
          const args = [...printed.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
          await promisify(execFile)(process.execPath, ['bin/temporal-mlops.js', ...args], {
            cwd: repo,
            env: { ...process.env, MLOPS_HOME: demo.home },
          });
        }
        await demo.waitFor('Demo finished.', 300_000);
      } finally {
        if (!demo.output().includes('Demo finished.')) demo.interrupt();
        await expectCleanExit(demo);
      }
      expect(demo.output()).toMatch(/✔ breast-cancer-classifier v2 takes all traffic/);
      expect(demo.output()).not.toContain('Stopping (');
      const store = openObjectStore(`file://${demo.home}/store`);
      expect((await getAlias(store, MODEL, 'champion'))?.version).toBe(2);
    },
  );

  it('Ctrl-C while it waits for a manual approval: exit 0, nothing left running', { timeout: 240_000 }, async () => {
    const demo = await startDemo('--manual-approval');
    try {
      await demo.waitFor('Waiting for your decision', 180_000);
    } finally {
      demo.interrupt();
      await expectCleanExit(demo);
    }
  });
});

async function closesTheLoop(demo: Demo): Promise<void> {
  await demo.waitFor('Keeping the server, worker and model servers up', 360_000);
  const out = demo.output();
  const order = [
    /1\. v1: trained, gated, approved, deployed/,
    /✔ breast-cancer-classifier v1 deployed at http/,
    /monitor, window [\d:]+: no drift/,
    /monitor, window [\d:]+: DRIFT in \d+ of 30 columns/,
    /✔ sustained drift \(2 windows in a row\) started one retrain run: pipeline\/breast-cancer\//,
    /✔ and as diagnoses arrive, quality falls: .*accuracy 0\.\d+ \(\d+ labels\).*: quality-degraded \(min 0\.9\)/,
    /champion\/challenger: beats champion v1 \(re-evaluated: accuracy/,
    /approved by ml-lead@example.com/,
    /skew gate passed: /,
    /shadow: the router mirrors 50 % of live requests to v2; callers get v1's answers/,
    /shadow passed: /,
    /rollout step 1\/2: v2 25% \/ v1 75%|rollout step 1\/2: v1 75% \/ v2 25%/,
    /canary analysis, step 1: passed/,
    /rollout step 2\/2: .*v2 100%/,
    /✔ breast-cancer-classifier v2 takes all traffic/,
    /drift-triggered runs: 1; the monitor now compares against v2's data/,
    /\$ npx temporal-mlops models live breast-cancer-classifier/,
    /\$ npx temporal-mlops models lineage breast-cancer-classifier@2/,
    /trigger drift \(report file:\/\/\S+\/monitoring\/breast-cancer-classifier\/reports\/\S+\.json\)/,
  ];
  let at = 0;
  for (const step of order) {
    const m = step.exec(out.slice(at));
    expect(m, `${step} after position ${at} in:\n${out}`).not.toBeNull();
    at += m!.index + m![0].length;
  }
  const quality = /quality report: (\S+\.html)/.exec(out)?.[1];
  expect(quality && existsSync(quality), `quality report ${quality}`).toBe(true);
  const report = /report: (\S+\.html)/.exec(out)?.[1];
  expect(report && existsSync(report), `drift report ${report}`).toBe(true);
  expect(await fs.readFile(report!, 'utf8')).toContain('mean_radius');

  // The registry, read independently of what the demo printed.
  const store = openObjectStore(`file://${demo.home}/store`);
  expect(await listVersions(store, MODEL)).toEqual([1, 2]);
  expect((await getAlias(store, MODEL, 'champion'))?.version).toBe(2);
  const log = await deploymentLog(store, MODEL, 'champion');
  expect(log.map((e) => e.to)).toEqual([1, 2]);
  const v2 = await readManifest(store, MODEL, 2);
  expect(v2.lineage.trigger.kind).toBe('drift');
  expect((await readManifest(store, MODEL, 1)).lineage.trigger.kind).not.toBe('drift');
  expect(v2.lineage.snapshot.sha256).not.toBe((await readManifest(store, MODEL, 1)).lineage.snapshot.sha256);
  // The example serves exactly as it trained: every replayed row answered with the offline class.
  for (const version of [1, 2])
    expect((await readManifest(store, MODEL, version)).skew, `v${version}'s skew report`).toMatchObject({
      status: 'passed',
      agreement: 1,
      errors: 0,
    });

  // Still serving while it keeps running: the stable endpoint answers a patient of the newer data.
  const endpoint = /v2 takes all traffic at (\S+)/.exec(out)![1]!;
  const [header, first] = (await fs.readFile(path.join(demo.home, 'data', 'newer.csv'), 'utf8')).split(/\r?\n/);
  const names = header!.split(',');
  const values = first!.split(',').map(Number);
  const instance = Object.fromEntries(names.flatMap((n, i) => (n === 'malignant' ? [] : [[n, values[i]]])));
  const res = await fetch(endpoint, { method: 'POST', body: JSON.stringify({ instances: [instance] }) });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { predictions: unknown[] }).predictions).toHaveLength(1);
}
