/**
 * One real Temporal dev server (or `$TEMPORAL_ADDRESS`) and one workflow bundle for the whole suite.
 * Test files read both through `inject()`. Every test's temp files (harness homes, job and server directories)
 * live under one suite directory (test-env.ts points `TMPDIR` there), so the teardown can tell whether any
 * process the suite started is still running: it kills each one it finds and fails the run, naming them.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ensureServer, type DevServer } from '../../scripts/dev-server.js';
import { startFakeGcs, type FakeGcs } from '../../scripts/fake-gcs.js';
import { workflowsPath } from '../../workers/index.js';
import { describeLeaks, killProcesses, processesInside } from './processes.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalUiUrl: string;
    workflowBundlePath: string;
    gcsEndpoint: string;
    /** The `TMPDIR` of every test file: everything a test writes to a temp dir lands inside it. */
    suiteTmpDir: string;
  }
}

let server: DevServer | undefined;
let gcs: FakeGcs | undefined;
let suiteDir: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-suite-'));
  suiteDir = dir;
  const tmp = path.join(dir, 'tmp');
  await fs.mkdir(tmp);
  [server, gcs] = await Promise.all([
    ensureServer({ dbFile: path.join(dir, 'temporal.db'), log: (l) => console.log(l) }),
    startFakeGcs(),
  ]);
  const bundle = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quietLogger });
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  await fs.writeFile(bundlePath, bundle.code);
  project.provide('temporalAddress', server.address);
  project.provide('temporalUiUrl', server.uiUrl ?? '');
  project.provide('workflowBundlePath', bundlePath);
  project.provide('gcsEndpoint', gcs.endpoint);
  project.provide('suiteTmpDir', tmp);
}

export async function teardown(): Promise<void> {
  try {
    await server?.stop();
    await gcs?.stop();
  } finally {
    if (suiteDir) await failOnLeaks(suiteDir);
  }
}

/**
 * The last check of the run. The dev server counts too (its database is in the suite directory), which is why
 * this runs after it stopped. Vitest only logs an error thrown from a global teardown, hence the exit code.
 */
async function failOnLeaks(dir: string): Promise<void> {
  let leaked = await processesInside(dir);
  // A process that a last afterAll sent SIGTERM may still be exiting: give it a few seconds first.
  for (const deadline = Date.now() + 5000; leaked.length > 0 && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 250));
    leaked = await processesInside(dir);
  }
  if (leaked.length === 0) return;
  await killProcesses(leaked);
  process.exitCode = 1;
  throw new Error(describeLeaks(dir, leaked));
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };
