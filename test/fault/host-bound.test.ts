/**
 * Local training jobs bound to their machine (`train.placement`): two training workers, each a "machine" with
 * its own host name, home and host queue, on one pool queue. The worker that placed the job is SIGKILLed while
 * it trains: restarted, it reattaches to the running process (one start, no second job anywhere); gone for good,
 * the run ends with JobLost naming its host, and the other machine never runs the job (or, with
 * `onLost: 'restart'`, runs a fresh one).
 */
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PipelineError } from '../../sdk/errors.js';
import type { PipelineRun } from '../../sdk/client.js';
import { hostTaskQueue } from '../../sdk/spec/placement.js';
import type { PipelineConfig } from '../../sdk/spec/pipeline.js';
import { isOurProcess, readPid } from '../../activities/platform/local-process.js';
import { eventually, fixturePipeline, startHarness, StopWaiting, type Harness } from '../helpers/harness.js';
import { workerProcesses } from '../helpers/worker-processes.js';
import { recordHistory } from '../helpers/histories.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('host-bound');
});
afterAll(async () => {
  await h?.stop();
});

const HOSTS = ['host-a', 'host-b'] as const;

/** Two training machines on `pool`, each with its own home below the harness home. */
async function machines(pool: string) {
  const workers = workerProcesses(pool, h.home);
  const homeOf = (host: string) => path.join(h.home, pool, host);
  const started: Record<string, ChildProcess> = {};
  const start = async (host: string) => {
    started[host] = await workers.start({ MLOPS_HOST: host, MLOPS_HOME: homeOf(host), MLOPS_WORKFLOWS: '0' });
  };
  await Promise.all(HOSTS.map(start));
  /** The host whose home has the job, once its process runs, with the job's directory. */
  const placedJob = (run: PipelineRun) =>
    eventually(
      async () => {
        const status = await h.client.status(run);
        if (status.stage === 'failed') throw new StopWaiting(`run failed: ${JSON.stringify(status.error)}`);
        for (const host of HOSTS) {
          const jobs = await fs.readdir(path.join(homeOf(host), 'jobs')).catch(() => []);
          const dir = jobs.find((j) => !j.includes('.'));
          if (dir && (await readPid(path.join(homeOf(host), 'jobs', dir)))) {
            return { host, dir: path.join(homeOf(host), 'jobs', dir) };
          }
        }
        return undefined;
      },
      60_000,
      'the training job placed on a machine',
    );
  return { workers, homeOf, started, start, placedJob };
}

function pipeline(
  name: string,
  pool: string,
  placement: NonNullable<PipelineConfig['train']['placement']>,
  starts: string,
) {
  const base = fixturePipeline();
  return fixturePipeline({
    name,
    train: {
      ...base.spec.train,
      params: { sleep: 6, starts_file: starts },
      heartbeatTimeout: '3s',
      placement: { taskQueue: pool, ...placement },
    },
    approval: { required: false },
    deploy: undefined,
  });
}

describe('local jobs bound to their machine', () => {
  it(
    'the placing worker SIGKILLed mid-job and restarted reattaches to the same process',
    { timeout: 120_000 },
    async () => {
      const pool = `hb-reattach-${process.pid}`;
      const fleet = await machines(pool);
      try {
        const starts = path.join(h.home, `${pool}.starts`);
        const run = await h.client.start(pipeline('hb-reattach', pool, { lostAfter: '60s' }, starts), {
          requestedBy: 'ci@acme.com',
        });
        const { host, dir } = await fleet.placedJob(run);
        const pid = (await readPid(dir))!;
        fleet.started[host]!.kill('SIGKILL');
        expect(await isOurProcess(pid, dir)).toBe(true); // the job outlives its worker
        await fleet.start(host);

        const result = await h.client.result(run);
        expect(result.training).toMatchObject({ backend: 'local', reattached: true, jobKey: path.basename(dir) });
        // One start of the job, on its machine only.
        expect((await fs.readFile(starts, 'utf8')).trim().split('\n')).toHaveLength(1);
        const other = HOSTS.find((x) => x !== host)!;
        expect(await fs.readdir(path.join(fleet.homeOf(other), 'jobs')).catch(() => [])).toEqual([]);
        expect((await fs.readdir(path.dirname(dir))).filter((d) => d.includes('.lost-'))).toEqual([]);
        // Placed on the pool's queue; every attempt of the job on the host's own queue.
        const history = await h.client.handle(run).fetchHistory();
        const scheduled = history.events!.flatMap((e) => {
          const a = e.activityTaskScheduledEventAttributes;
          return a ? [[a.activityType!.name!, a.taskQueue!.name!]] : [];
        });
        expect(scheduled.filter(([name]) => name === 'placeLocalJob')).toEqual([['placeLocalJob', pool]]);
        expect(scheduled.filter(([name]) => name === 'trainModel')).toEqual([
          ['trainModel', hostTaskQueue(pool, host)],
        ]);
        const trainScheduled = history.events!.find(
          (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'trainModel',
        )!.eventId;
        const trainStarted = history.events!.find(
          (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(trainScheduled),
        );
        // The attempt that finished is a retry: the first one died with its worker.
        expect(trainStarted?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThan(1);
        await recordHistory(inject('temporalAddress'), run.workflowId, 'ml-pipeline-host-bound-reattached');
      } finally {
        fleet.workers.killAll();
      }
    },
  );

  it('the placing machine gone for good: the run ends JobLost naming its host', { timeout: 120_000 }, async () => {
    const pool = `hb-lost-${process.pid}`;
    const fleet = await machines(pool);
    try {
      const starts = path.join(h.home, `${pool}.starts`);
      const run = await h.client.start(pipeline('hb-lost', pool, { lostAfter: '5s' }, starts), {
        requestedBy: 'ci@acme.com',
      });
      const { host } = await fleet.placedJob(run);
      fleet.started[host]!.kill('SIGKILL');

      const error = await h.client.result(run).then(
        () => new StopWaiting('the run completed'),
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(PipelineError);
      expect((error as PipelineError).code).toBe('JobLost');
      expect((error as PipelineError).message).toContain(`host "${host}"`);
      expect((error as PipelineError).details).toMatchObject({ host, taskQueue: hostTaskQueue(pool, host) });
      const other = HOSTS.find((x) => x !== host)!;
      expect(await fs.readdir(path.join(fleet.homeOf(other), 'jobs')).catch(() => [])).toEqual([]);
      await recordHistory(inject('temporalAddress'), run.workflowId, 'ml-pipeline-host-bound-job-lost');
    } finally {
      fleet.workers.killAll();
    }
  });
  it(
    "the placing machine gone, onLost 'restart': the job starts again on the other machine",
    { timeout: 120_000 },
    async () => {
      const pool = `hb-restart-${process.pid}`;
      const fleet = await machines(pool);
      try {
        const starts = path.join(h.home, `${pool}.starts`);
        const run = await h.client.start(
          pipeline('hb-restart', pool, { lostAfter: '5s', onLost: 'restart', maxRestarts: 1 }, starts),
          { requestedBy: 'ci@acme.com' },
        );
        const { host, dir } = await fleet.placedJob(run);
        fleet.started[host]!.kill('SIGKILL');

        const result = await h.client.result(run);
        const other = HOSTS.find((x) => x !== host)!;
        // A fresh job (its own key) on the surviving machine, not a reattachment.
        expect(result.training).toMatchObject({ backend: 'local', reattached: false });
        expect(result.training.jobKey).not.toBe(path.basename(dir));
        expect(await fs.readdir(path.join(fleet.homeOf(other), 'jobs'))).toContain(result.training.jobKey);
        expect((await fs.readFile(starts, 'utf8')).trim().split('\n')).toHaveLength(2);
      } finally {
        fleet.workers.killAll();
      }
    },
  );
});
