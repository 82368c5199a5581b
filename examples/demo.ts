/**
 * The end-to-end demo, the whole loop on one machine: a real Temporal dev server (or $TEMPORAL_ADDRESS), a worker,
 * and the breast-cancer pipeline from data to a deployed model, then traffic, drift, the retrain it starts, the
 * challenger beating the champion, the skew gate, canary steps, and the model's history.
 *   npm run demo                          approves automatically after showing how a person would
 *   npm run demo -- --manual-approval     waits for you to approve each version in the Web UI or with the CLI
 *   npm run demo -- --keep-running        leaves the server, worker and model servers up at the end
 *   npm run demo -- --verbose             streams the worker's activity log (always written to .mlops/worker.log)
 * Its state lives in `.mlops/` (or $MLOPS_HOME), reset at every start. Ctrl-C at any point stops everything it
 * started and exits cleanly.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import { ensureServer, freePort } from '../scripts/dev-server.js';
import { createPipelineWorker } from '../workers/index.js';
import { stopDetachedUnder } from '../activities/platform/local-process.js';
import {
  PipelineClient,
  PipelineError,
  type DriftReport,
  type MonitorStatus,
  type QualityReport,
} from '../sdk/index.js';
import { monitorWorkflowId } from '../sdk/ids.js';
import { closedLoopPipeline, PYTHON } from './breast-cancer/pipeline.js';
import { Interrupted, Lifecycle } from './demo/lifecycle.js';
import { RunNarrator } from './demo/narrate.js';
import { LabelFeed, readRows, Traffic } from './demo/traffic.js';

const { values: flags } = parseArgs({
  options: {
    'manual-approval': { type: 'boolean', default: false },
    'keep-running': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const example = path.join(repo, 'examples', 'breast-cancer');
const home = path.resolve(process.env.MLOPS_HOME ?? path.join(repo, '.mlops'));
const MODEL = 'breast-cancer-classifier';
const REQUESTER = 'demo-requester@example.com';
const APPROVER = 'ml-lead@example.com';
const PREDICTIONS_PER_SECOND = 25;
const LABEL_DELAY_MS = 3000;
const QUALITY_WAIT_MS = 30_000;

const say = (line: string) => console.log(line);
const life = new Lifecycle(say);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// What the activities report (stages, training output) goes to the worker log, and to the screen with --verbose;
// warnings and errors always show. SDK chatter stays out, and Core's (such as a slow workflow task on a busy
// machine) below errors. Signals are ours to handle (see demo/lifecycle.ts).
let workerLog: WriteStream | undefined;
Runtime.install({
  shutdownSignals: [],
  telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} } },
  logger: new DefaultLogger('INFO', ({ level, message, meta }) => {
    const problem = level === 'WARN' || level === 'ERROR';
    if (meta?.sdkComponent !== 'activity' && !problem) return;
    const line = `${problem ? `${level} ` : ''}${message}`;
    workerLog?.write(`${new Date().toISOString()} ${line}\n`);
    if (flags.verbose || problem) say(`      ${line}`);
  }),
});

function python(script: string, ...args: string[]): void {
  const result = spawnSync(PYTHON, [path.join(example, script), ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${script} failed:\n${result.stderr}`);
  say(`  ${result.stdout.trim()}`);
}

/** The training data (scikit-learn's bundled dataset), and the newer data a recalibrated scanner produces. */
async function prepareData() {
  const dir = path.join(home, 'data');
  await fs.mkdir(dir, { recursive: true });
  const original = path.join(dir, 'original.csv');
  const newer = path.join(dir, 'newer.csv');
  python('export_dataset.py', original);
  python('shift_dataset.py', original, newer, '--seed', '1', '--scale', '1.2');
  // Where ingest reads: the original data now, the newer data once it "arrives".
  const source = path.join(dir, 'breast_cancer.csv');
  await fs.copyFile(original, source);
  return { original, newer, source };
}

const uiLink = (uiUrl: string | undefined, workflowId: string) =>
  uiUrl && `${uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`;

/** Follows a run to its end, one line per stage; approves it (or waits for a person) at the approval stage. */
async function follow(client: PipelineClient, workflowId: string, address: string, uiUrl?: string) {
  const narrator = new RunNarrator();
  const result = client.result(workflowId);
  let done = false;
  result.then(
    () => (done = true),
    () => (done = true),
  );
  let prompted = false;
  while (!done) {
    const status = await client.status(workflowId).catch(() => undefined);
    for (const line of status ? narrator.lines(status) : []) say(`  ${line}`);
    if (status?.stage === 'approval' && !prompted) {
      prompted = true;
      say(`\n    To approve (allowed approver: ${APPROVER}; the requester ${status.requestedBy} may not approve):`);
      if (uiUrl)
        say(
          `      Web UI: open the run → More Actions → Send a Signal → "approve" with {"by": "${APPROVER}", "comment": "looks good"}`,
        );
      say(
        `      CLI:    npx temporal-mlops approve ${workflowId} --by ${APPROVER} --comment "looks good" --address ${address}`,
      );
      if (flags['manual-approval']) {
        say('\n    Waiting for your decision (Ctrl-C stops the demo and everything it started)...');
      } else {
        await sleep(1500);
        await client.approve(workflowId, {
          by: APPROVER,
          comment: 'Automatic approval by the demo (--manual-approval to decide yourself)',
        });
        say(`    ✓ approved by ${APPROVER} (automatic in the demo)\n`);
      }
    }
    await sleep(300);
  }
  return result;
}

function describeReport(r: DriftReport): string {
  const when = r.window.slice(11, 19);
  if (!r.drifted)
    return `monitor, window ${when}: no drift (${r.driftedColumns} of ${r.columns.length} columns moved, ${r.rows} predictions)`;
  const moved = r.columns.filter((c) => c.drifted).map((c) => c.column);
  return (
    `monitor, window ${when}: DRIFT in ${r.driftedColumns} of ${r.columns.length} columns ` +
    `(${moved.slice(0, 4).join(', ')}${moved.length > 4 ? ', …' : ''}; ${r.rows} predictions)\n` +
    `    report: ${fileURLToPath(r.htmlUri)}`
  );
}

let toldWindow = '';
/** The accuracy of the judged windows that broke the bound, oldest first, and the verdict. */
function describeQuality(q: QualityReport): string {
  const judged = q.windows.filter((w) => w.judged && w.breaches.length > 0).slice(-3);
  const windows = judged.map(
    (w) => `${w.window.slice(11, 19)} accuracy ${w.metrics.accuracy?.toFixed(2)} (${w.labelled} labels)`,
  );
  return `${windows.join(', ')}: ${q.degraded ? 'quality-degraded (min 0.9)' : 'within bounds'}`;
}

/**
 * Prints each new monitor report (each window once) until `until` holds for the monitor's status, or undefined
 * after `timeoutMs`.
 */
async function watchMonitor(
  client: PipelineClient,
  until: (s: MonitorStatus) => boolean,
  timeoutMs = Infinity,
): Promise<MonitorStatus | undefined> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
    const status = await client.monitorStatus(MODEL).catch(() => undefined);
    const latest = status?.latest;
    if (latest && latest.window !== toldWindow && latest.rows >= 10) {
      toldWindow = latest.window;
      say(`  ${describeReport(latest)}`);
    }
    if (status && until(status)) return status;
    await sleep(500);
  }
  return undefined;
}

function cli(...args: string[]): void {
  say(`\n$ npx temporal-mlops ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [path.join(repo, 'bin', 'temporal-mlops.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, MLOPS_HOME: home },
  });
  say((result.stdout + result.stderr).trimEnd());
}

async function main() {
  say('temporal-mlops demo: ingest → train → gate → register → approval → deploy → monitor → drift → retrain\n');
  await fs.rm(home, { recursive: true, force: true });
  await fs.mkdir(home, { recursive: true });
  workerLog = createWriteStream(path.join(home, 'worker.log'));
  const dbFile = path.join(home, 'temporal.db');
  const server = await ensureServer({ dbFile, port: await freePort(), log: (l) => say(`  ${l}`) });
  life.add('the Temporal dev server', () => server.stop());
  life.add('model servers, routers and training jobs', () => stopDetachedUnder(home));
  say(
    `Temporal: ${server.address}${server.external ? ' (from $TEMPORAL_ADDRESS)' : ` (dev server, state in ${dbFile})`}`,
  );
  if (server.uiUrl) say(`Web UI:   ${server.uiUrl}/namespaces/default/workflows`);
  if (!flags.verbose) say(`Worker log (training output, every activity): ${path.join(home, 'worker.log')}`);

  say("\nPreparing data: scikit-learn's bundled Breast Cancer Wisconsin dataset, and its shifted twin");
  const data = await prepareData();
  const labels = path.join(home, 'labels');
  const pipeline = closedLoopPipeline(data.source, [APPROVER], `${pathToFileURL(labels).href}/`);

  const taskQueue = 'temporal-mlops-demo';
  const client = await PipelineClient.connect({ address: server.address, taskQueue });
  if (server.external)
    life.add('the monitor', () =>
      client
        .handle(monitorWorkflowId(MODEL))
        .terminate('demo finished')
        .catch(() => undefined),
    );
  const worker = await createPipelineWorker({ address: server.address, taskQueue, home, pipelines: [pipeline] });
  const workerRun = worker.run();
  life.add('the worker', async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
  });

  say('\n1. v1: trained, gated, approved, deployed');
  const first = await client.start(pipeline, { requestedBy: REQUESTER });
  say(`  started ${first.workflowId}${server.uiUrl ? `\n  watch it: ${uiLink(server.uiUrl, first.workflowId)}` : ''}`);
  const v1 = await follow(client, first.workflowId, server.address, server.uiUrl);
  const endpoint = v1.deployment!.predictUrl;
  say(`  ✔ ${v1.model} v${v1.version.version} deployed at ${endpoint}`);

  say(`\n2. Traffic: callers send ${PREDICTIONS_PER_SECOND} predictions/s like the training data`);
  const traffic = new Traffic(endpoint, PREDICTIONS_PER_SECOND);
  life.add('the traffic', () => traffic.stop());
  traffic.send(await readRows(data.original, 'malignant'));
  const feed = new LabelFeed(traffic, labels, LABEL_DELAY_MS, 0.6);
  life.add('the label feed', () => feed.stop());
  say(`  diagnoses of 6 in 10 patients come back ${LABEL_DELAY_MS / 1000} s later, as label files in ${labels}`);
  await watchMonitor(client, (s) => s.latest?.version === 1 && s.latest.rows >= 20 && !s.latest.drifted);

  say('\n3. The scanner is recalibrated: sizes read 20 % larger (shift_dataset.py, seed 1); the newer data lands');
  await fs.copyFile(data.newer, data.source);
  traffic.send(await readRows(data.newer, 'malignant'));
  const drifted = await watchMonitor(client, (s) => s.retrains.length > 0);
  const retrain = drifted!.retrains[0]!;
  say(
    `  ✔ sustained ${retrain.kind === 'quality-degraded' ? 'quality loss' : 'drift (2 windows in a row)'} started one retrain run: ${retrain.workflowId}`,
  );
  const degraded = await watchMonitor(client, (s) => s.quality?.degraded === true, QUALITY_WAIT_MS);
  say(
    degraded?.quality
      ? `  ✔ and as diagnoses arrive, quality falls: ${describeQuality(degraded.quality)}\n    quality report: ${fileURLToPath(degraded.quality.htmlUri)}`
      : `  (no quality verdict within ${QUALITY_WAIT_MS / 1000} s: labels come back ${LABEL_DELAY_MS / 1000} s late)`,
  );

  say('\n4. v2: trained on the newer data, must beat v1 on the same rows, skew gate, shadow, canary, all traffic');
  const v2 = await follow(client, retrain.workflowId, server.address, server.uiUrl);
  say(`  ✔ ${v2.model} v${v2.version.version} takes all traffic at ${endpoint}`);
  await traffic.stop();
  await feed.stop();
  say(
    `  callers: ${traffic.sent} predictions answered, ${traffic.failed} failed; ${feed.labelled} diagnoses came back`,
  );
  const after = await client.monitorStatus(MODEL);
  say(`  drift-triggered runs: ${after.retrains.length}; the monitor now compares against v${after.version}'s data`);

  say("\n5. The model's history");
  cli('models', 'live', MODEL);
  cli('models', 'lineage', `${MODEL}@${v2.version.version}`);
  if (server.uiUrl) {
    say('\nOpen each run in the Web UI:');
    for (const id of [first.workflowId, retrain.workflowId, monitorWorkflowId(MODEL)])
      say(`  ${uiLink(server.uiUrl, id)}`);
  }

  if (flags['keep-running']) {
    say('\nKeeping the server, worker and model servers up (Ctrl-C to stop).');
    await life.interrupted;
  }
  say('\nDemo finished.');
}

try {
  await life.orInterrupt(main());
} catch (err) {
  if (err instanceof Interrupted) say(`\nStopping (${err.signal}): everything the demo started is being stopped.`);
  else if (err instanceof PipelineError) {
    say(`\n✘ the run failed: ${err.code}: ${err.message}`);
    process.exitCode = 1;
  } else {
    console.error(err);
    process.exitCode = 1;
  }
} finally {
  await life.stopAll();
}
process.exit();
