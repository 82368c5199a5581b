/**
 * Scale and fault figures of issue 15 on one dev server, loopback only: three worker processes on one task
 * queue; N concurrent runs with one worker SIGKILLed and restarted (exactly one training job per run?); N runs
 * waiting for approval (workers' CPU over a quiet window, RSS, `pending()` time, approve → deploy start p50/p99
 * against a bare signal → activity workflow served by the same processes). Prints the machine load with them.
 * Usage: npm run bench:scale [-- --factor 0.1]   (counts: 300 / 1,000 / 200 approvals / 60 s quiet, × factor)
 * `MLOPS_MAX_CACHED_WORKFLOWS=200` bounds each worker's workflow cache (default: the SDK's, from the heap size).
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import { ensureServer } from '../scripts/dev-server.js';
import { workflowsPath } from '../workers/index.js';
import { PipelineClient } from '../sdk/index.js';
import { crashScenario, scaleCounts, startFleet, waitingScenario } from './scale-scenarios.js';

Runtime.install({ logger: new DefaultLogger('WARN') });
// Progress lines on stderr: the full counts take a quarter of an hour on two cores.
process.env.MLOPS_SCALE_VERBOSE ??= '1';
const { values } = parseArgs({ options: { factor: { type: 'string', default: '1' } } });
const counts = scaleCounts(Number(values.factor));
const here = path.dirname(fileURLToPath(import.meta.url));
const home = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-bench-scale-'));
const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();

const server = await ensureServer({ dbFile: path.join(home, 'temporal.db'), headless: true, log: () => undefined });
const quiet = { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} };
const [pipelineBundle, bareBundle] = await Promise.all([
  bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quiet }),
  bundleWorkflowCode({ workflowsPath: path.join(here, 'bare-workflow.ts'), logger: quiet }),
]);
await fs.writeFile(path.join(home, 'pipeline-bundle.js'), pipelineBundle.code);
await fs.writeFile(path.join(home, 'bare-bundle.js'), bareBundle.code);
const fleet = startFleet({
  address: server.address,
  taskQueue: 'scale',
  bareTaskQueue: 'scale-bare',
  home,
  workflowBundlePath: path.join(home, 'pipeline-bundle.js'),
  bareBundlePath: path.join(home, 'bare-bundle.js'),
  size: 3,
});
await fleet.ready;
const connection = await Connection.connect({ address: server.address });
const temporal = new Client({ connection });
const client = await PipelineClient.connect({ client: temporal, taskQueue: 'scale' });

try {
  console.log(
    `temporal-mlops scale benchmark: 3 worker processes, one task queue, one dev server, loopback; workflow cache per worker: ${process.env.MLOPS_MAX_CACHED_WORKFLOWS ?? "the SDK's default"}`,
  );
  console.log(`before: ${uptime()}`);
  const crash = await crashScenario(fleet, client, home, counts.crashRuns);
  const exact =
    crash.failed.length === 0 &&
    crash.runJobKeys.length === crash.runs &&
    [...crash.jobStarts.values()].every((n) => n === 1) &&
    crash.jobStarts.size === crash.runs;
  console.log(
    `crash    ${crash.completed}/${crash.runs} runs completed in ${(crash.wallMs / 1000).toFixed(1)} s, worker 0 SIGKILLed after ${crash.killedAfter} and restarted; ${crash.jobStarts.size} training jobs started, ${crash.reattached} reattached, ${crash.failed.length} failed: ${exact ? 'exactly one job per run' : 'NOT exactly one job per run'}`,
  );
  const w = await waitingScenario(fleet, client, temporal, {
    home,
    bareTaskQueue: 'scale-bare',
    runs: counts.waitingRuns,
    approvals: Math.min(counts.approvals, counts.waitingRuns),
    quietMs: counts.quietMs,
  });
  const f = (n: number) => n.toFixed(0);
  console.log(
    `waiting  ${w.runs} runs waiting for approval (all started and waiting after ${(w.startMs / 1000).toFixed(1)} s)`,
  );
  console.log(
    `  idle   per worker over ${w.quietMs / 1000} s once settled: CPU ${w.cpuPercent.map((c) => `${c.toFixed(2)} %`).join(' / ')} of a core (goal < 1 %; the ${w.quietMs / 1000} s right after the load, while V8 compacts the heap: ${w.cpuPercentAfterLoad.map((c) => `${c.toFixed(2)} %`).join(' / ')}); RSS ${w.rssMiB.map((r) => `${f(r)} MiB`).join(' / ')} (goal < 1024)`,
  );
  console.log(`  pending() of ${w.runs}: ${w.pendingMs.map(f).join(' / ')} ms`);
  console.log(
    `  approve → deploy activity start over ${w.approvals}: p50 ${f(w.approveToDeploy.p50)} ms, p99 ${f(w.approveToDeploy.p99)} ms (goal p99 < 250)`,
  );
  console.log(
    `  baseline bare signal → activity start: p50 ${f(w.bareSignalToActivity.p50)} ms, p99 ${f(w.bareSignalToActivity.p99)} ms; ratio p50 ${(w.approveToDeploy.p50 / w.bareSignalToActivity.p50).toFixed(2)}x, p99 ${(w.approveToDeploy.p99 / w.bareSignalToActivity.p99).toFixed(2)}x (goal ≤ 1.2x)`,
  );
  console.log(`after: ${uptime()}`);
} finally {
  await fleet.stop();
  await connection.close();
  await server.stop();
}
