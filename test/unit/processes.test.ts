import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isOurProcess, startDetached } from '../../activities/platform/local-process.js';
import { killProcesses, processesInside, stopDetachedUnder } from '../helpers/processes.js';
import { eventually } from '../helpers/harness.js';

const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone, as it should be */
    }
  }
});

function sleeper(options: { cwd: string; env?: NodeJS.ProcessEnv }): number {
  const child = spawn('sleep', ['60'], { ...options, detached: true, stdio: 'ignore' });
  child.unref();
  started.push(child.pid!);
  return child.pid!;
}

describe.runIf(process.platform === 'linux')('the suite leak check', () => {
  it('finds a process by its working directory or its environment, and kills it', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'leak-'));
    const byCwd = sleeper({ cwd: dir });
    const byEnv = sleeper({ cwd: '/', env: { ...process.env, SOME_HOME: path.join(dir, 'home') } });
    const elsewhere = sleeper({ cwd: '/', env: { PATH: process.env.PATH } });
    const found = await processesInside(dir);
    expect(found.map((p) => p.pid).sort()).toEqual([byCwd, byEnv].sort());
    expect(found.find((p) => p.pid === byCwd)!.via).toBe(`working directory ${dir}`);
    expect(found.find((p) => p.pid === byEnv)!.via).toMatch(/^environment SOME_HOME=.*\/home$/);
    await killProcesses(found);
    expect(await processesInside(dir)).toEqual([]);
    expect(() => process.kill(elsewhere, 0)).not.toThrow(); // only what points into the directory
  });

  it('stopDetachedUnder stops the detached processes under a home by their pid files', async () => {
    const home = await fs.mkdtemp(path.join(os.tmpdir(), 'home-'));
    const dir = path.join(home, 'serving', 'm', 'v1');
    const pid = await startDetached({
      dir,
      command: ['sleep', '60'],
      cwd: home,
      env: process.env,
      logFile: path.join(home, 'log'),
    });
    started.push(pid);
    expect(await isOurProcess(pid, dir)).toBe(true);
    expect(await stopDetachedUnder(home)).toEqual([dir]);
    expect(await isOurProcess(pid, dir)).toBe(false);
    // The group's children get the signal with the wrapper, but on a busy machine may take a moment to be reaped.
    expect(await eventually(async () => ((await processesInside(home)).length === 0 ? true : undefined), 10_000)).toBe(
      true,
    );
  });
});
