/**
 * The `local` training backend: the job is a detached subprocess in `<home>/jobs/<jobKey>/`. The job key is
 * deterministic (workflow id + activity id), so a retried or restarted activity finds the directory, sees the
 * process still running and reattaches to it instead of starting a second one. The worker process that started
 * the job ends the stage the moment it exits; one that reattached finds out from the exit-code file (polled).
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { LocalBackend } from '../../sdk/spec/backends.js';
import type { TrainingResult } from '../../sdk/run-types.js';
import { contractEnv, readMetrics, readPredictions, type JobContractEnv } from './contract.js';
import { localPollMs } from '../platform/poll-intervals.js';
import { pollUntil } from '../platform/poll.js';
import {
  childExit,
  isOurProcess,
  readExitCode,
  readNewLines,
  readPid,
  startDetached,
  stopProcessGroup,
  tailLines,
} from '../platform/local-process.js';

/** One training step on the `local` backend. */
export interface LocalTrainingJob {
  home: string;
  jobKey: string;
  backend: LocalBackend;
  contract: Omit<JobContractEnv, 'modelDir' | 'checkpointDir' | 'tensorboardDir' | 'jobKey'>;
}

interface Claim {
  jobKey: string;
  workflowId: string;
  activityId: string;
  attempt: number;
  claimedAt: string;
}

const run = promisify(execFile);
/** How long a claim without a pid counts as "another attempt is starting the process". */
const LAUNCH_GRACE_MS = 15_000;
/** How often that attempt's pid file is looked for. */
const LAUNCH_CHECK_MS = 500;

/** A local job's folder under the worker's home, and the files and folders the job contract puts in it. */
export function jobPaths(home: string, jobKey: string) {
  const dir = path.join(home, 'jobs', jobKey);
  return {
    dir,
    claim: path.join(dir, 'claim.json'),
    log: path.join(dir, 'output.log'),
    modelDir: path.join(dir, 'model'),
    checkpointDir: path.join(dir, 'checkpoints'),
    tensorboardDir: path.join(dir, 'tensorboard'),
  };
}

/** Claims the job directory atomically: exactly one activity attempt may launch the process. */
async function claim(file: string, body: Claim): Promise<boolean> {
  try {
    await fs.writeFile(file, JSON.stringify(body, null, 2), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Finds the job's process or starts it. Returns its pid and whether it was found (reattached).
 * A claim whose process is gone without an exit code (the machine rebooted, the process was SIGKILLed) is
 * moved aside and the job relaunched, resuming from AIP_CHECKPOINT_DIR.
 */
async function launchOrAttach(
  job: LocalTrainingJob,
  paths: ReturnType<typeof jobPaths>,
): Promise<{ pid?: number; reattached: boolean }> {
  const ctx = Context.current();
  await fs.mkdir(paths.dir, { recursive: true });
  for (;;) {
    const body: Claim = {
      jobKey: job.jobKey,
      workflowId: ctx.info.workflowExecution?.workflowId ?? '',
      activityId: ctx.info.activityId,
      attempt: ctx.info.attempt,
      claimedAt: new Date().toISOString(),
    };
    if (await claim(paths.claim, body)) {
      await Promise.all(
        [paths.modelDir, paths.checkpointDir, paths.tensorboardDir].map((d) => fs.mkdir(d, { recursive: true })),
      );
      const pid = await start(job, paths);
      ctx.log.info(`train: launched local job ${job.jobKey} (pid ${pid})`);
      return { pid, reattached: false };
    }
    if ((await readExitCode(paths.dir)) !== undefined) return { reattached: true };
    const pid = await readPid(paths.dir);
    if (pid !== undefined && (await isOurProcess(pid, paths.dir))) {
      ctx.log.info(`train: reattached to running local job ${job.jobKey} (pid ${pid})`);
      return { pid, reattached: true };
    }
    const claimedAt = await fs.stat(paths.claim).then(
      (s) => s.mtimeMs,
      () => Date.now(),
    );
    if (pid === undefined && Date.now() - claimedAt < LAUNCH_GRACE_MS) {
      // Another attempt claimed the job a moment ago and is starting the process: wait for its pid (or exit
      // code), then look again; past the grace period the claim counts as lost.
      await pollUntil(
        async () => {
          ctx.heartbeat({ jobKey: job.jobKey, state: 'waiting-for-launch' });
          const launched = (await readPid(paths.dir)) !== undefined || (await readExitCode(paths.dir)) !== undefined;
          return launched || undefined;
        },
        {
          intervalMs: LAUNCH_CHECK_MS,
          timeoutMs: claimedAt + LAUNCH_GRACE_MS - Date.now(),
          signal: ctx.cancellationSignal,
          what: `the launch of local job ${job.jobKey}`,
        },
      );
      continue;
    }
    const lost = `${paths.dir}.lost-${Date.now()}`;
    ctx.log.warn(
      `train: local job ${job.jobKey} is gone without an exit code; archiving it to ${lost} and relaunching`,
    );
    await fs.rename(paths.dir, lost);
    await fs.mkdir(paths.dir, { recursive: true });
    await fs.cp(path.join(lost, 'checkpoints'), paths.checkpointDir, { recursive: true }).catch(() => undefined);
  }
}

async function start(job: LocalTrainingJob, paths: ReturnType<typeof jobPaths>): Promise<number> {
  const passed = Object.fromEntries(
    job.backend.passEnv.flatMap((name) => (process.env[name] !== undefined ? [[name, process.env[name]]] : [])),
  );
  const env = {
    ...process.env,
    ...passed,
    ...job.backend.env,
    ...contractEnv({
      ...job.contract,
      jobKey: job.jobKey,
      modelDir: paths.modelDir,
      checkpointDir: paths.checkpointDir,
      tensorboardDir: paths.tensorboardDir,
    }),
    PYTHONUNBUFFERED: '1',
  };
  return startDetached({
    dir: paths.dir,
    command: job.backend.command,
    cwd: path.resolve(job.backend.cwd ?? '.'),
    env,
    logFile: paths.log,
  });
}

/**
 * Runs (or reattaches to) a local training job until it ends; streams its output to the worker log. Cancelling
 * the activity stops the job's whole process group.
 */
export async function trainLocal(job: LocalTrainingJob): Promise<TrainingResult> {
  const ctx = Context.current();
  const paths = jobPaths(job.home, job.jobKey);
  const startedAt = new Date().toISOString();
  const { pid, reattached } = await launchOrAttach(job, paths);
  // Show only what the job printed since the last worker stopped streaming.
  let offset = reattached ? ((ctx.info.heartbeatDetails as { logOffset?: number } | undefined)?.logOffset ?? 0) : 0;
  const streamLog = async () => {
    const read = await readNewLines(paths.log, offset);
    offset = read.offset;
    for (const line of read.lines) ctx.log.info(`[train ${job.jobKey}] ${line}`);
  };

  const finished = (exitCode: number) => finish(job, paths, exitCode, startedAt, reattached);

  return pollUntil(
    async () => {
      // The exit code first: once it is there, the log that follows is complete.
      const exitCode = await readExitCode(paths.dir);
      await streamLog();
      if (exitCode !== undefined) return finished(exitCode);
      if (pid === undefined || !(await isOurProcess(pid, paths.dir))) {
        const late = await readExitCode(paths.dir); // it may have ended between the two reads
        if (late !== undefined) return streamLog().then(() => finished(late));
        // Gone without an exit code: killed from outside. Retryable; the next attempt relaunches from checkpoints.
        throw ApplicationFailure.retryable(
          `local training job ${job.jobKey} (pid ${pid}) vanished without an exit code`,
          'JobLost',
        );
      }
      ctx.heartbeat({ jobKey: job.jobKey, pid, state: 'running', logOffset: offset });
      return undefined;
    },
    {
      intervalMs: localPollMs(),
      // This worker started the process (now or in an earlier attempt): its exit ends the wait at once.
      wake: childExit(paths.dir),
      signal: ctx.cancellationSignal,
      what: `local training job ${job.jobKey}`,
      onCancel: async () => {
        if (pid !== undefined) await stopProcessGroup(pid, paths.dir);
        await fs.writeFile(path.join(paths.dir, 'cancelled'), new Date().toISOString());
        ctx.log.info(`train: cancelled local job ${job.jobKey}`);
      },
    },
  );
}

async function finish(
  job: LocalTrainingJob,
  paths: ReturnType<typeof jobPaths>,
  exitCode: number,
  startedAt: string,
  reattached: boolean,
): Promise<TrainingResult> {
  if (exitCode !== 0) {
    const lastLines = await tailLines(paths.log, 30);
    throw ApplicationFailure.nonRetryable(
      `Training job ${job.jobKey} exited with code ${exitCode}. Last lines:\n${lastLines.join('\n')}`,
      'TrainingFailed',
      { jobKey: job.jobKey, exitCode, lastLines, log: pathToFileURL(paths.log).href },
    );
  }
  const metrics = await readMetrics(paths.modelDir);
  const predictions = await readPredictions(paths.modelDir);
  const code = { command: job.backend.command, ...(await gitVersion(path.resolve(job.backend.cwd ?? '.'))) };
  return {
    code,
    jobKey: job.jobKey,
    backend: 'local',
    metrics,
    ...(predictions ? { predictions } : {}),
    modelUri: pathToFileURL(paths.modelDir).href,
    startedAt,
    finishedAt: new Date().toISOString(),
    reattached,
  };
}

/** The git commit (and whether the tree has uncommitted changes) of `dir`, when it is inside a checkout. */
async function gitVersion(dir: string): Promise<{ gitCommit?: string; gitDirty?: boolean }> {
  try {
    // Both at once: they sit between the job's exit and the stage's end.
    const [{ stdout: commit }, { stdout: changes }] = await Promise.all([
      run('git', ['-C', dir, 'rev-parse', 'HEAD'], { timeout: 5000 }),
      run('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no', '.'], { timeout: 5000 }),
    ]);
    return { gitCommit: commit.trim(), gitDirty: changes.trim().length > 0 };
  } catch {
    return {};
  }
}
