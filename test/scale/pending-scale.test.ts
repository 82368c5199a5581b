/** `pending` at scale: 200 runs waiting for approval are listed in under 2 s (issue 3's acceptance). */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { local } from '../../sdk/factories.js';
import { eventually, FIXTURES, startHarness, StopWaiting, type Harness } from '../helpers/harness.js';

const RUNS = 200;
const elapsed = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;
let h: Harness;
beforeAll(async () => {
  h = await startHarness('pending-scale', {
    worker: { maxConcurrentActivityTaskExecutions: 50, maxConcurrentWorkflowTaskExecutions: 50 },
  });
});
afterAll(async () => {
  await h?.stop();
});

describe('pending at scale', () => {
  it(`lists ${RUNS} waiting runs in under 2 s`, { timeout: 540_000 }, async () => {
    const pipeline = definePipeline({
      name: 'pending-scale',
      ingest: {
        source: path.join(FIXTURES, 'iris-mini.csv'),
        columns: { sepal_length: { type: 'number' } },
        allowExtraColumns: true,
      },
      train: { backend: local({ command: ['sh', '-c', 'echo \'{"auc": 0.91}\' > "$AIP_MODEL_DIR/metrics.json"'] }) },
      gate: { metrics: { auc: { min: 0.5 } } },
      approval: { approvers: ['ana@acme.com'], timeout: '1h' },
    });
    const runsStarted = performance.now();
    let lastWaiting = -1;
    const runs = [];
    for (let i = 0; i < RUNS; i += 20) {
      runs.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, () => h.client.start(pipeline, { requestedBy: 'ci@acme.com' })),
        )),
      );
    }
    const waitStarted = performance.now();
    await eventually(
      async () => {
        // A failed run never reaches approval: stop at once with its failure rather than time out.
        for await (const wf of h.temporal.workflow.list({
          query: `MlopsPipeline = "pending-scale" AND ExecutionStatus != "Running"`,
        })) {
          const failure = await h.temporal.workflow
            .getHandle(wf.workflowId)
            .result()
            .then(
              () => 'completed',
              (err: Error) => `${err.message}: ${String(err.cause)}`,
            );
          throw new StopWaiting(`${wf.workflowId} ended ${wf.status.name} before approval: ${failure}`);
        }
        const waiting = (await h.client.pending({ pipeline: 'pending-scale' })).length;
        if (waiting !== lastWaiting) console.log(`${waiting} of ${RUNS} waiting after ${elapsed(waitStarted)}`);
        lastWaiting = waiting;
        await new Promise((r) => setTimeout(r, 2000));
        return waiting === RUNS ? waiting : undefined;
      },
      420_000,
      `${RUNS} runs awaiting approval`,
    );
    console.log(`${RUNS} runs reached approval in ${elapsed(runsStarted)} after the first start`);

    const timings: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const pending = await h.client.pending({ pipeline: 'pending-scale' });
      timings.push(performance.now() - started);
      expect(pending).toHaveLength(RUNS);
      expect(pending[0]).toMatchObject({ model: 'pending-scale', metrics: { auc: 0.91 }, version: expect.any(Number) });
    }
    const best = Math.min(...timings);
    console.log(`pending(): ${RUNS} runs in ${timings.map((t) => t.toFixed(0)).join(' / ')} ms`);
    expect(best).toBeLessThan(2000);

    const cliStarted = performance.now();
    const { stdout } = await promisify(execFile)(process.execPath, [
      'bin/temporal-mlops.js',
      'pending',
      '--pipeline',
      'pending-scale',
      '--address',
      inject('temporalAddress'),
    ]);
    const cliMs = performance.now() - cliStarted;
    console.log(`CLI pending (process start included): ${cliMs.toFixed(0)} ms; ${stdout.trim().split('\n').at(-1)}`);
    expect(stdout).toContain(`${RUNS} run(s) awaiting approval`);

    await Promise.all(runs.map((r) => h.client.handle(r).terminate('pending-scale test cleanup')));
  });
});
