/**
 * The load and fault scenarios of issue 15, shared by `test/scale/fleet.test.ts` (which asserts) and
 * `bench/scale.ts` (which prints): worker processes (bench/scale-worker.ts) on one task queue of a real
 * Temporal server, on loopback. Counts are parameters so development runs can be small.
 *
 * - crash: N concurrent runs with a short local training job; one worker SIGKILLed when a third have finished,
 *   then restarted. Every run must complete with exactly one training job started.
 * - waiting: N runs waiting for approval; workers' CPU over a quiet window and RSS; `pending()` time; approve
 *   Signal → deploy activity start over A approvals sent while the rest wait, against the same latency of a bare
 *   workflow (signal, then one activity) served by the same worker processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { definePipeline, type PipelineDefinition } from '../sdk/define-pipeline.js';
import { local, localServer } from '../sdk/factories.js';
import type { PipelineClient, PipelineRun } from '../sdk/client.js';
import { approveSignal } from '../workflows/messages.js';
import { percentile } from '../activities/deploy/canary-analysis.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where the worker processes connect and what they run. */
export interface FleetOptions {
  address: string;
  taskQueue: string;
  bareTaskQueue: string;
  home: string;
  workflowBundlePath: string;
  bareBundlePath: string;
  size: number;
}

/** Worker processes on one task queue; `kill` and `restart` one by index. */
export function startFleet(options: FleetOptions) {
  const children: ChildProcess[] = [];
  const spawnOne = (i: number) =>
    new Promise<ChildProcess>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'scale-worker.ts')], {
        cwd: ROOT,
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: options.address,
          MLOPS_TASK_QUEUE: options.taskQueue,
          MLOPS_BARE_TASK_QUEUE: options.bareTaskQueue,
          MLOPS_HOME: options.home,
          MLOPS_WORKFLOW_BUNDLE: options.workflowBundlePath,
          MLOPS_BARE_BUNDLE: options.bareBundlePath,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children[i] = child;
      child.once('exit', (code) => reject(new Error(`scale worker ${i} exited ${code} before it was ready`)));
      child.stdout!.on('data', (c: Buffer) => c.toString().includes('worker ready') && resolve(child));
    });
  return {
    ready: Promise.all(Array.from({ length: options.size }, (_, i) => spawnOne(i))),
    pids: () => children.map((c) => c.pid!),
    kill: (i: number) => children[i]!.kill('SIGKILL'),
    restart: (i: number) => spawnOne(i),
    stop: async () => {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGTERM');
              setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
            }),
        ),
      );
    },
  };
}
export type Fleet = ReturnType<typeof startFleet>;

/** A small CSV; with `variant`, one more row makes its content (and so its snapshot) its own. */
async function dataFile(home: string, variant?: number): Promise<string> {
  const csv = path.join(home, `scale-data${variant === undefined ? '' : `-${variant}`}.csv`);
  const rows = Array.from({ length: 100 }, (_, i) => `${i},${i % 2}`);
  if (variant !== undefined) rows.push(`${1000 + variant},1`);
  await fs.writeFile(csv, `x,y\n${rows.join('\n')}\n`);
  return csv;
}

const base = (csv: string) => ({
  ingest: { source: csv, columns: { x: { type: 'number' as const }, y: { type: 'integer' as const } }, target: 'y' },
  gate: { metrics: { auc: { min: 0.5 } } },
});

/** Starts runs `concurrency` at a time. */
async function startRuns(client: PipelineClient, pipeline: PipelineDefinition, count: number, concurrency = 25) {
  const runs: PipelineRun[] = [];
  for (let i = 0; i < count; i += concurrency) {
    const batch = Math.min(concurrency, count - i);
    runs.push(
      ...(await Promise.all(
        Array.from({ length: batch }, () => client.start(pipeline, { requestedBy: 'scale@acme.com' })),
      )),
    );
  }
  return runs;
}

/** What the crash scenario saw. */
export interface CrashFigures {
  runs: number;
  completed: number;
  failed: string[];
  /** Training jobs started, by job key (from the jobs' own log of starts). */
  jobStarts: Map<string, number>;
  /** Job key of each completed run's training. */
  runJobKeys: string[];
  reattached: number;
  killedAfter: number;
  wallMs: number;
}

/** N runs with a short training job; worker 0 SIGKILLed once a third have completed, then restarted. */
export async function crashScenario(
  fleet: Fleet,
  client: PipelineClient,
  home: string,
  runs: number,
): Promise<CrashFigures> {
  const starts = path.join(home, 'crash-job-starts.txt');
  const pipeline = definePipeline({
    name: 'scale-crash',
    ...base(await dataFile(home)),
    train: {
      backend: local({
        command: [
          'sh',
          '-c',
          `echo "$MLOPS_JOB_KEY" >> ${starts}; sleep 1; echo '{"auc": 0.9}' > "$AIP_MODEL_DIR/metrics.json"`,
        ],
      }),
      heartbeatTimeout: '5s',
    },
    approval: { required: false },
  });
  const started = performance.now();
  const handles = await startRuns(client, pipeline, runs);
  let completed = 0;
  let killedAfter = -1;
  const failed: string[] = [];
  const runJobKeys: string[] = [];
  let reattached = 0;
  let restarted: Promise<unknown> = Promise.resolve();
  await Promise.all(
    handles.map(async (run) => {
      try {
        const result = await client.result(run);
        runJobKeys.push(result.training.jobKey);
        if (result.training.reattached) reattached++;
      } catch (err) {
        failed.push(`${run.workflowId}: ${String(err)}`);
      }
      completed++;
      if (killedAfter < 0 && completed >= Math.ceil(runs / 3)) {
        killedAfter = completed;
        progress(`crash: ${completed} of ${runs} runs done; SIGKILL worker 0`);
        fleet.kill(0);
        restarted = new Promise((r) => setTimeout(r, 1000)).then(() => fleet.restart(0));
      }
    }),
  );
  await restarted;
  const jobStarts = new Map<string, number>();
  for (const key of (await fs.readFile(starts, 'utf8')).trim().split('\n'))
    jobStarts.set(key, (jobStarts.get(key) ?? 0) + 1);
  return {
    runs,
    completed,
    failed,
    jobStarts,
    runJobKeys,
    reattached,
    killedAfter,
    wallMs: performance.now() - started,
  };
}

const progress = (line: string) => {
  if (process.env.MLOPS_SCALE_VERBOSE === '1') console.error(`${new Date().toISOString()} ${line}`);
};

/** CPU seconds (user + system) of a process so far, from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

async function rssMiB(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

const eventMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  Number(t?.seconds ?? 0) * 1000 + Number(t?.nanos ?? 0) / 1e6;

/** Milliseconds from `sentAt` to the start of the first activity named `activity` in the workflow's history. */
async function activityStartAfter(temporal: Client, workflowId: string, activity: string, sentAt: number) {
  const history = await temporal.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = new Set<string>();
  for (const e of history.events ?? []) {
    if (e.activityTaskScheduledEventAttributes?.activityType?.name === activity) scheduled.add(String(e.eventId));
    const s = e.activityTaskStartedEventAttributes;
    if (s && scheduled.has(String(s.scheduledEventId))) return eventMs(e.eventTime) - sentAt;
  }
  throw new Error(`${workflowId}: no started ${activity} activity in its history`);
}

/** What the waiting scenario measured. */
export interface WaitingFigures {
  runs: number;
  startMs: number;
  quietMs: number;
  /**
   * Per worker process: share of one core over the quiet window, in percent, once the workers have settled. The
   * window right after the runs reached approval (`cpuPercentAfterLoad`) also holds V8 compacting the heap the
   * start-up left behind (its memory reducer): several per cent for about a minute, then it stops.
   */
  cpuPercent: number[];
  cpuPercentAfterLoad: number[];
  /** Per worker process, at the end of the quiet windows. */
  rssMiB: number[];
  pendingMs: number[];
  approvals: number;
  approveToDeploy: { p50: number; p99: number };
  bareSignalToActivity: { p50: number; p99: number };
}

/**
 * N runs waiting for approval (their deploy target's command exits at once: the run fails fast with
 * DeployFailed once the deploy activity has started, so 200 approvals do not start 200 model servers).
 */
export async function waitingScenario(
  fleet: Fleet,
  client: PipelineClient,
  temporal: Client,
  opts: { home: string; bareTaskQueue: string; runs: number; approvals: number; quietMs: number },
): Promise<WaitingFigures> {
  const pipeline = (csv: string) =>
    definePipeline({
      name: 'scale-waiting',
      ...base(csv),
      train: { backend: local({ command: ['sh', '-c', 'echo \'{"auc": 0.9}\' > "$AIP_MODEL_DIR/metrics.json"'] }) },
      approval: { approvers: ['ana@acme.com'], timeout: '1h' },
      deploy: { target: localServer({ command: ['sh', '-c', 'exit 3'], healthTimeout: '10s' }) },
    });
  // One data file per run: each run ingests its own snapshot, as a team's distinct runs would.
  const t0 = performance.now();
  const runs: PipelineRun[] = [];
  for (let i = 0; i < opts.runs; i += 25) {
    const batch = Array.from({ length: Math.min(25, opts.runs - i) }, (_, j) => i + j);
    runs.push(
      ...(await Promise.all(
        batch.map(async (k) => client.start(pipeline(await dataFile(opts.home, k)), { requestedBy: 'scale@acme.com' })),
      )),
    );
  }
  // About 0.8 CPU-seconds per run between the workers and the server: on 2 cores, 1,000 runs take minutes.
  let lastReport = Date.now();
  const waitMs = Number(process.env.MLOPS_SCALE_WAIT_MS ?? 120_000 + opts.runs * 720);
  for (const deadline = Date.now() + waitMs; ;) {
    const pending = await client.pending({ pipeline: 'scale-waiting' });
    if (pending.length === opts.runs) break;
    if (Date.now() > deadline) {
      const listed = new Set(pending.map((p) => p.workflowId));
      const others = await Promise.all(
        runs
          .filter((r) => !listed.has(r.workflowId))
          .map((r) => client.status(r).then((s) => `${r.workflowId}: ${s.stage} ${JSON.stringify(s.stages)}`)),
      );
      throw new Error(
        `${pending.length} of ${opts.runs} runs listed as waiting after ${waitMs / 1000} s; the others: ${others}`,
      );
    }
    if (Date.now() - lastReport > 30_000) {
      progress(`waiting: ${pending.length} of ${opts.runs} runs wait for approval`);
      lastReport = Date.now();
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const startMs = performance.now() - t0;
  progress(`waiting: ${opts.runs} runs wait for approval`);
  const pendingMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await client.pending({ pipeline: 'scale-waiting' });
    pendingMs.push(performance.now() - t);
  }
  const bare = await Promise.all(
    Array.from({ length: opts.approvals }, (_, i) =>
      temporal.workflow.start('bareSignalWorkflow', {
        taskQueue: opts.bareTaskQueue,
        workflowId: `bare-signal-${Date.now()}-${i}`,
      }),
    ),
  );

  progress(`waiting: ${opts.approvals} bare workflows wait for their signal`);
  // The quiet windows: everything waits; the workers should only keep their polls open. The first one follows
  // the load (V8 compacts the heap then), the second one is the steady state.
  await new Promise((r) => setTimeout(r, 10_000));
  const pids = fleet.pids();
  const quietWindow = async () => {
    const before = await Promise.all(pids.map(cpuSeconds));
    await new Promise((r) => setTimeout(r, opts.quietMs));
    const after = await Promise.all(pids.map(cpuSeconds));
    return pids.map((_, i) => ((after[i]! - before[i]!) / (opts.quietMs / 1000)) * 100);
  };
  const cpuPercentAfterLoad = await quietWindow();
  progress(`waiting: CPU after the load ${cpuPercentAfterLoad.map((c) => c.toFixed(2)).join(' / ')} %`);
  const cpuPercent = await quietWindow();
  const rss = await Promise.all(pids.map(rssMiB));

  // Approvals interleaved with the bare baseline's signals, a few per second, while the other runs wait.
  const sent: { pipeline: number; bare: number }[] = [];
  for (let i = 0; i < opts.approvals; i++) {
    const p = Date.now();
    await temporal.workflow.getHandle(runs[i]!.workflowId).signal(approveSignal, { by: 'ana@acme.com', comment: 'ok' });
    await new Promise((r) => setTimeout(r, 50));
    const b = Date.now();
    await bare[i]!.signal('go', {});
    sent.push({ pipeline: p, bare: b });
    await new Promise((r) => setTimeout(r, 50));
  }
  progress(`waiting: ${opts.approvals} approvals sent`);
  const approved = runs.slice(0, opts.approvals);
  await Promise.all(approved.map((r) => client.result(r).catch(() => undefined)));
  progress('waiting: approved runs ended');
  await Promise.all(bare.map((b) => b.result()));
  progress('waiting: bare workflows ended');
  const approveToDeploy = await Promise.all(
    approved.map((r, i) => activityStartAfter(temporal, r.workflowId, 'deployModel', sent[i]!.pipeline)),
  );
  const bareLatency = await Promise.all(
    bare.map((b, i) => activityStartAfter(temporal, b.workflowId, 'noop', sent[i]!.bare)),
  );
  // The rest are no longer needed.
  for (let i = opts.approvals; i < runs.length; i += 50)
    await Promise.all(
      runs.slice(i, i + 50).map((r) =>
        client
          .handle(r)
          .terminate('scale scenario done')
          .catch(() => undefined),
      ),
    );
  const stats = (xs: number[]) => ({ p50: percentile(xs, 50)!, p99: percentile(xs, 99)! });
  return {
    runs: opts.runs,
    startMs,
    quietMs: opts.quietMs,
    cpuPercent,
    cpuPercentAfterLoad,
    rssMiB: rss,
    pendingMs,
    approvals: opts.approvals,
    approveToDeploy: stats(approveToDeploy),
    bareSignalToActivity: stats(bareLatency),
  };
}

/** Counts from the full scale (300 / 1,000 / 200, a 60 s quiet window, at least 20 s) times `MLOPS_SCALE_FACTOR` (default 1). */
export function scaleCounts(factor = Number(process.env.MLOPS_SCALE_FACTOR ?? 1)) {
  const n = (full: number, least: number) => Math.max(least, Math.round(full * factor));
  return {
    crashRuns: n(300, 6),
    waitingRuns: n(1000, 10),
    approvals: n(200, 5),
    quietMs: n(60_000, 20_000),
  };
}
