/**
 * One real Temporal dev server (or `$TEMPORAL_ADDRESS`) and one workflow bundle for the whole suite.
 * Test files read both through `inject()`.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ensureServer, type DevServer } from '../../scripts/dev-server.js';
import { startFakeGcs, type FakeGcs } from '../../scripts/fake-gcs.js';
import { workflowsPath } from '../../workers/index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalUiUrl: string;
    workflowBundlePath: string;
    gcsEndpoint: string;
  }
}

let server: DevServer | undefined;
let gcs: FakeGcs | undefined;

export async function setup(project: TestProject): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mlops-suite-'));
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
}

export async function teardown(): Promise<void> {
  await server?.stop();
  await gcs?.stop();
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: console.warn, error: console.error, log: noop };
