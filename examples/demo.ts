/**
 * The end-to-end demo: a real Temporal dev server (or $TEMPORAL_ADDRESS), a worker, and the breast-cancer
 * pipeline from data to a deployed model answering a prediction.
 *   npm run demo                          approves automatically after showing how a person would
 *   npm run demo -- --manual-approval     waits for you to approve in the Web UI or with the CLI
 *   npm run demo -- --keep-running        leaves the server, worker and model server up at the end
 */
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { ensureServer, freePort } from '../scripts/dev-server.js';
import { createPipelineWorker } from '../workers/index.js';
import { stopLocalServer } from '../activities/index.js';
import { PipelineClient, PipelineError, type PipelineStatus } from '../sdk/index.js';
import { breastCancerPipeline, PYTHON } from './breast-cancer/pipeline.js';

const { values: flags } = parseArgs({
  options: {
    'manual-approval': { type: 'boolean', default: false },
    'keep-running': { type: 'boolean', default: false },
  },
});
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const home = path.join(repo, '.mlops');
const REQUESTER = 'demo-requester@example.com';
const APPROVER = 'ml-lead@example.com';

function say(line: string) {
  console.log(line);
}

// Show what the activities report (stages, training output); keep SDK chatter to warnings.
Runtime.install({
  logger: new DefaultLogger('INFO', ({ level, message, meta }) => {
    if (meta?.sdkComponent === 'activity' || level === 'WARN' || level === 'ERROR')
      say(`      ${level === 'INFO' ? '' : `${level} `}${message}`);
  }),
});

async function exportDataset(): Promise<string> {
  const file = path.join(home, 'data', 'breast_cancer.csv');
  await fs.mkdir(path.dirname(file), { recursive: true });
  const result = spawnSync(PYTHON, [path.join(repo, 'examples', 'breast-cancer', 'export_dataset.py'), file], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`exporting the dataset failed:\n${result.stderr}`);
  say(`  ${result.stdout.trim()}`);
  return file;
}

function describeStage(s: PipelineStatus): string | undefined {
  switch (s.stage) {
    case 'ingest':
      return 'ingest: snapshot + schema and quality checks';
    case 'train':
      return 'train: scikit-learn job via the local backend (output streams in the worker log)';
    case 'gate':
      return `gate: ${Object.entries(s.training?.metrics ?? {})
        .filter(([k]) => ['auc', 'recall', 'accuracy'].includes(k))
        .map(([k, v]) => `${k}=${v.toFixed(4)}`)
        .join(' ')}`;
    case 'register':
      return 'register: artifacts + lineage manifest into the registry';
    case 'approval':
      return `approval: ${s.version?.model} v${s.version?.version} waits for a human decision`;
    case 'deploy':
      return 'deploy: starting the model server, health check, smoke prediction';
    default:
      return undefined;
  }
}

async function main() {
  say('temporal-mlops demo: ingest → train → gate → register → approval → deploy\n');
  const dbFile = path.join(home, 'temporal.db');
  const port = await freePort();
  const server = await ensureServer({ dbFile, port, log: (l) => say(`  ${l}`) });
  say(
    `Temporal: ${server.address}${server.external ? ' (from $TEMPORAL_ADDRESS)' : ` (dev server, state in ${dbFile})`}`,
  );
  if (server.uiUrl) say(`Web UI:   ${server.uiUrl}/namespaces/default/workflows`);

  say("\nPreparing data: scikit-learn's bundled Breast Cancer Wisconsin dataset");
  const dataFile = await exportDataset();
  const pipeline = breastCancerPipeline(dataFile, [APPROVER]);

  const taskQueue = 'temporal-mlops-demo';
  const worker = await createPipelineWorker({ address: server.address, taskQueue, home, pipelines: [pipeline] });
  const workerRun = worker.run();
  const client = await PipelineClient.connect({ address: server.address, taskQueue });

  const run = await client.start(pipeline, { requestedBy: REQUESTER });
  say(`\nStarted ${run.workflowId}`);
  if (server.uiUrl)
    say(`  watch it: ${server.uiUrl}/namespaces/default/workflows/${encodeURIComponent(run.workflowId)}`);

  let last = '';
  let prompted = false;
  const resultPromise = client.result(run);
  let done = false;
  resultPromise.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    const status = await client.status(run).catch(() => undefined);
    if (status && status.stage !== last) {
      last = status.stage;
      const text = describeStage(status);
      if (text) say(`  ▸ ${text}`);
    }
    if (status?.stage === 'approval' && !prompted) {
      prompted = true;
      say(`\n  To approve (allowed approver: ${APPROVER}; the requester ${REQUESTER} may not approve):`);
      if (server.uiUrl)
        say(
          `    Web UI: open the run → More Actions → Send a Signal → "approve" with {"by": "${APPROVER}", "comment": "looks good"}`,
        );
      say(
        `    CLI:    npx temporal-mlops approve ${run.workflowId} --by ${APPROVER} --comment "looks good" --address ${server.address}`,
      );
      if (flags['manual-approval']) {
        say('\n  Waiting for your decision (Ctrl-C to stop; the run stays in Temporal and resumes with a worker)...');
      } else {
        await new Promise((r) => setTimeout(r, 1500));
        await client.approve(run, {
          by: APPROVER,
          comment: 'Automatic approval by the demo (use --manual-approval to decide yourself)',
        });
        say(`  ✓ approved by ${APPROVER} (automatic in the demo)\n`);
      }
    }
    await new Promise((r) => setTimeout(r, 300));
  }

  try {
    const result = await resultPromise;
    say(`\n✔ ${result.model} v${result.version.version} deployed at ${result.deployment?.predictUrl}`);
    say(`  registry manifest: ${result.version.manifestUri}`);
    say(
      `  metrics: ${Object.entries(result.training.metrics)
        .map(([k, v]) => `${k}=${Number(v.toFixed(4))}`)
        .join(' ')}`,
    );
    const instance = result.snapshot.sampleFeatures;
    const res = await fetch(result.deployment!.predictUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [instance] }),
    });
    say(`  prediction for the first patient in the data: ${JSON.stringify(await res.json())}`);
  } catch (err) {
    if (err instanceof PipelineError) say(`\n✘ the run failed: ${err.code}: ${err.message}`);
    else throw err;
    process.exitCode = 1;
  }

  if (flags['keep-running']) {
    say('\nKeeping the server, worker and model server up (Ctrl-C to stop).');
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
  await stopLocalServer(home, pipeline.model);
  worker.shutdown();
  await workerRun;
  await client.close();
  await server.stop();
  say('\nDemo finished.');
}

await main();
