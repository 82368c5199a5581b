/**
 * The local training backend's waits: a job this worker started ends its stage when the process exits (not at
 * the next poll), and cancelling the run stops the job's whole process group.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isOurProcess, readPid } from '../../activities/platform/local-process.js';
import { PipelineError } from '../../sdk/errors.js';
import { eventually, fixturePipeline, startHarness, waitForStage, type Harness } from '../helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('local-training');
});
afterEach(() => {
  delete process.env.MLOPS_LOCAL_POLL_MS;
});
afterAll(async () => {
  await h?.stop();
});

/** Whether a process with this pid exists (a zombie counts as gone: it has exited). */
async function running(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && !/^\d+ \(.*\) Z /.test(stat);
}

describe('local training', () => {
  it('ends its stage when the job exits, not at the next poll', async () => {
    // A poll a minute apart: only the process's exit can end this stage within the bound below.
    process.env.MLOPS_LOCAL_POLL_MS = '60000';
    const run = await h.client.start(fixturePipeline(), { requestedBy: 'ci@acme.com' });
    const waiting = await waitForStage(h, run.workflowId, 'approval', 45_000);
    const training = waiting.training!;
    expect(training.reattached).toBe(false);
    expect(Date.parse(training.finishedAt) - Date.parse(training.startedAt)).toBeLessThan(30_000);
    await h.client.reject(run, { by: 'ana@acme.com', comment: 'done measuring' });
    await h.client.result(run).catch(() => undefined);
  });

  it('cancelling the run stops the job and its child processes', async () => {
    const startsFile = path.join(h.home, 'starts-cancel.txt');
    const pipeline = fixturePipeline({}, { sleep: 300, starts_file: startsFile });
    const run = await h.client.start(pipeline, { requestedBy: 'ci@acme.com' });
    const [trainingPid, jobKey] = await eventually(
      async () => {
        const line = (await fs.readFile(startsFile, 'utf8').catch(() => '')).trim();
        return line ? (line.split(' ') as [string, string]) : undefined;
      },
      30_000,
      'the training job to start',
    );
    const jobDir = path.join(h.home, 'jobs', jobKey);
    const wrapperPid = (await readPid(jobDir))!;
    expect(await isOurProcess(wrapperPid, jobDir)).toBe(true);
    expect(await running(Number(trainingPid))).toBe(true);

    await h.client.cancel(run);
    const err = await h.client.result(run).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect((err as PipelineError).code).toBe('PipelineCancelled');
    // The wrapper and the python process under it (same process group) are both gone, and the job is marked.
    const marked = () =>
      fs.stat(path.join(jobDir, 'cancelled')).then(
        () => true,
        () => false,
      );
    await eventually(
      async () =>
        !(await isOurProcess(wrapperPid, jobDir)) && !(await running(Number(trainingPid))) && (await marked())
          ? true
          : undefined,
      30_000,
      'the training processes to stop',
    );
  });
});
