/**
 * Launch overhead of the `local` training backend on a GPU machine, measured in one run:
 *   baseline: the example's CUDA training command (examples/breast-cancer/train_torch.py) spawned directly
 *   launcher: the same command through `trainLocal` (detached job, log streaming, exit-code file, metrics check)
 * Both get the same contract environment. Prints medians, the ratio and the overhead in ms.
 * `trainLocal` runs in a hand-made activity context (no Temporal server needed), so this bundles into one file
 * that runs wherever Node and the training command's Python do:
 *   npx esbuild bench/gpu-launch.ts --bundle --platform=node --format=esm --outfile=gpu-launch.mjs
 *   node gpu-launch.mjs --runs 3 --python python3 --data breast_cancer.csv
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { asyncLocalStorage, Context, type Info } from '@temporalio/activity';
import { noopMetricMeter } from '@temporalio/common';
import { local } from '../sdk/factories.js';
import { trainLocal } from '../activities/train/local.js';
import { contractEnv } from '../activities/train/contract.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    python: { type: 'string', default: 'python3' },
    data: { type: 'string' },
    script: { type: 'string', default: 'examples/breast-cancer/train_torch.py' },
    epochs: { type: 'string', default: '2000' },
  },
});
const runs = Number(values.runs);
const script = path.resolve(values.script);
const home = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-gpu-bench-'));
const data = path.resolve(values.data ?? path.join(home, 'data.csv'));
if (!values.data) await exec(values.python, [path.resolve('examples/breast-cancer/export_dataset.py'), data], {});
const params = { epochs: Number(values.epochs) };

function exec(cmd: string, args: string[], env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`))));
  });
}

function activityContext(): Context {
  const info = { activityId: 'train', activityType: 'trainModel', attempt: 1, heartbeatDetails: undefined } as Info;
  const log = {
    trace: () => undefined,
    debug: () => undefined,
    info: (m: string) => console.log(m),
    warn: (m: string) => console.warn(m),
    error: (m: string) => console.error(m),
    log: () => undefined,
  };
  return new Context(
    info,
    new Promise<never>(() => undefined),
    new AbortController().signal,
    () => undefined,
    undefined,
    log,
    noopMetricMeter,
    {},
  );
}

async function direct(i: number): Promise<number> {
  const modelDir = path.join(home, `direct-${i}`, 'model');
  const env = contractEnv({
    modelDir,
    checkpointDir: '',
    tensorboardDir: '',
    dataUri: `file://${data}`,
    dataPath: data,
    runKey: `direct-${i}`,
    jobKey: `direct-${i}`,
    pipeline: 'gpu-bench',
    params,
  });
  const started = performance.now();
  await exec(values.python, [script], env);
  return performance.now() - started;
}

async function launched(i: number): Promise<number> {
  const jobKey = `mlops-gpu-bench-${i}`;
  const started = performance.now();
  const result = await asyncLocalStorage.run(activityContext(), () =>
    trainLocal({
      home,
      jobKey,
      backend: local({ command: [values.python, script] }),
      contract: { dataUri: `file://${data}`, dataPath: data, runKey: `launched-${i}`, pipeline: 'gpu-bench', params },
    }),
  );
  const ms = performance.now() - started;
  console.log(`launcher run ${i}: metrics ${JSON.stringify(result.metrics)}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
await direct(-1); // warm-up: page cache, CUDA driver initialisation
const baseline: number[] = [];
const viaLauncher: number[] = [];
for (let i = 0; i < runs; i++) {
  baseline.push(await direct(i));
  viaLauncher.push(await launched(i));
}
const b = median(baseline);
const l = median(viaLauncher);
console.log(`\nruns: ${runs} each, interleaved`);
console.log(`direct command   median ${b.toFixed(0)} ms  (${baseline.map((x) => x.toFixed(0)).join(', ')})`);
console.log(`via trainLocal   median ${l.toFixed(0)} ms  (${viaLauncher.map((x) => x.toFixed(0)).join(', ')})`);
console.log(`ratio ${(l / b).toFixed(3)}x, launch overhead ${(l - b).toFixed(0)} ms per training step`);
