/**
 * Overhead of temporal-mlops over plain Temporal, measured in one run on one server:
 *   pipeline: the full mlPipeline (ingest, train with a trivial job, gate, register, approval not required)
 *   baseline: a bare workflow running as many no-op activities
 * Prints medians, the ratio, and the per-stage time (activity scheduled → completed, from history).
 * Usage: npm run bench [-- --runs 10]
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { ensureServer } from '../scripts/dev-server.js';
import { createPipelineWorker } from '../workers/index.js';
import { definePipeline, local, PipelineClient } from '../sdk/index.js';

Runtime.install({ logger: new DefaultLogger('WARN') });
const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const runs = Number(values.runs);
const here = path.dirname(fileURLToPath(import.meta.url));
const home = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-bench-'));
const csv = path.join(home, 'data.csv');
await fs.writeFile(csv, 'x,y\n' + Array.from({ length: 100 }, (_, i) => `${i},${i % 2}`).join('\n') + '\n');

const pipeline = definePipeline({
  name: 'bench',
  ingest: { source: csv, columns: { x: { type: 'number' }, y: { type: 'integer' } }, target: 'y' },
  train: { backend: local({ command: ['sh', '-c', 'echo \'{"auc": 0.9}\' > "$AIP_MODEL_DIR/metrics.json"'] }) },
  gate: { metrics: { auc: { min: 0.5 } } },
  approval: { required: false },
});

const server = await ensureServer({ dbFile: path.join(home, 'temporal.db'), headless: true, log: () => undefined });
const nativeConnection = await NativeConnection.connect({ address: server.address });
const pipelineWorker = await createPipelineWorker({ connection: nativeConnection, taskQueue: 'bench-pipeline', home });
const bareWorker = await Worker.create({
  connection: nativeConnection,
  taskQueue: 'bench-bare',
  workflowsPath: path.join(here, 'bare-workflow.ts'),
  activities: { noop: async (i: number) => i },
});
const workers = [pipelineWorker.run(), bareWorker.run()];
const connection = await Connection.connect({ address: server.address });
const temporal = new Client({ connection });
const client = await PipelineClient.connect({ client: temporal, taskQueue: 'bench-pipeline' });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function stageTimes(workflowId: string): Promise<Record<string, number>> {
  const history = await temporal.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Map<string, { name: string; at: number }>();
  const out: Record<string, number> = {};
  for (const e of history.events ?? []) {
    const at = Number(e.eventTime?.seconds ?? 0) * 1000 + Number(e.eventTime?.nanos ?? 0) / 1e6;
    if (e.activityTaskScheduledEventAttributes)
      scheduled.set(String(e.eventId), { name: e.activityTaskScheduledEventAttributes.activityType!.name!, at });
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const s = scheduled.get(String(done.scheduledEventId))!;
      out[s.name] = at - s.at;
    }
  }
  return out;
}

let activityCount = 0;
const pipelineMs: number[] = [];
const bareMs: number[] = [];
const perStage: Record<string, number[]> = {};
for (let i = 0; i < runs + 1; i++) {
  let t = performance.now();
  const run = await client.start(pipeline, { requestedBy: 'bench@example.com' });
  await client.result(run);
  const p = performance.now() - t;
  const stages = await stageTimes(run.workflowId);
  activityCount = Object.keys(stages).length;
  t = performance.now();
  await temporal.workflow.execute('bareWorkflow', {
    taskQueue: 'bench-bare',
    workflowId: `bare-${Date.now()}-${i}`,
    args: [activityCount],
  });
  const b = performance.now() - t;
  if (i === 0) continue; // warm-up: bundles, connections, first process spawn
  pipelineMs.push(p);
  bareMs.push(b);
  for (const [name, ms] of Object.entries(stages)) (perStage[name] ??= []).push(ms);
}

const bareMedian = median(bareMs);
const pipelineMedian = median(pipelineMs);
console.log(`temporal-mlops overhead benchmark: ${runs} runs each (after 1 warm-up), same dev server, same process`);
console.log(`baseline  bare workflow, ${activityCount} no-op activities: median ${bareMedian.toFixed(1)} ms`);
console.log(
  `pipeline  mlPipeline, ${activityCount} activities incl. a trivial training job: median ${pipelineMedian.toFixed(1)} ms`,
);
console.log(
  `ratio     pipeline / baseline = ${(pipelineMedian / bareMedian).toFixed(2)}x   (+${(pipelineMedian - bareMedian).toFixed(1)} ms per run)`,
);
console.log(
  `per stage (activity scheduled → completed, median ms; baseline no-op activity ≈ ${(bareMedian / activityCount).toFixed(1)} ms incl. workflow task):`,
);
for (const [name, ms] of Object.entries(perStage))
  console.log(`  ${name.padEnd(16)} ${median(ms).toFixed(1).padStart(8)}`);

pipelineWorker.shutdown();
bareWorker.shutdown();
await Promise.all(workers);
await connection.close();
await server.stop();
