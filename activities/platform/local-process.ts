/**
 * Detached processes that outlive the worker that started them: training jobs and local model servers.
 * The process runs in its own session under a tiny `sh` wrapper that writes the exit code to a file, so a
 * new worker can find it by directory, see whether it still runs, and read how it ended. The worker that
 * started it also hears its exit at once (`childExit`), so waiting for it needs no polling there.
 */
import { spawn } from 'node:child_process';
import { promises as fs, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { pollUntil } from './poll.js';

// $0 is the job directory: it shows in /proc/<pid>/cmdline, which is how we recognise our own process.
const WRAPPER = '"$@"; code=$?; echo $code > "$0/exit_code.tmp"; mv "$0/exit_code.tmp" "$0/exit_code"';

/** What `startDetached` runs: `command` in `cwd`, its output appended to `logFile`, its pid and exit code in `dir`. */
export interface DetachedStart {
  dir: string;
  command: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
}

/** The processes this worker started, by directory, until they exit. */
const children = new Map<string, Promise<void>>();

/**
 * Resolves when the process this worker process started in `dir` exits (the wrapper has written its exit code
 * by then); undefined when it was started elsewhere (an earlier worker) or has exited already: poll then.
 */
export function childExit(dir: string): Promise<void> | undefined {
  return children.get(dir);
}

/** Starts a command in its own process group; returns its pid (the group id). */
export async function startDetached(opts: DetachedStart): Promise<number> {
  await fs.mkdir(opts.dir, { recursive: true });
  const out = openSync(opts.logFile, 'a');
  try {
    const child = spawn('/bin/sh', ['-c', WRAPPER, opts.dir, ...opts.command], {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ['ignore', out, out],
    });
    // Listen before the spawn settles: a job that fails at once may exit right after it.
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve(child.pid as number));
    });
    child.unref();
    children.set(opts.dir, exited);
    void exited.then(() => {
      if (children.get(opts.dir) === exited) children.delete(opts.dir);
    });
    await fs.writeFile(path.join(opts.dir, 'pid'), String(pid));
    return pid;
  } finally {
    closeSync(out);
  }
}

/** True when `pid` is alive and is the wrapper we started for `dir` (guards against pid reuse). */
export async function isOurProcess(pid: number, dir: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.split('\0').includes(dir)) return false;
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat); // a zombie has exited
  } catch {
    return process.platform !== 'linux';
  }
}

/** The exit code written by the wrapper, or undefined while it runs (or if it was killed before writing). */
export async function readExitCode(dir: string): Promise<number | undefined> {
  try {
    const text = await fs.readFile(path.join(dir, 'exit_code'), 'utf8');
    const code = Number(text.trim());
    return Number.isInteger(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

/** The pid the wrapper was started with (see `startDetached`), or undefined before it was written. */
export async function readPid(dir: string): Promise<number | undefined> {
  try {
    const pid = Number((await fs.readFile(path.join(dir, 'pid'), 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** SIGTERM to the whole process group, then SIGKILL after `graceMs`. */
export async function stopProcessGroup(pid: number, dir: string, graceMs = 10_000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* already gone */
    }
  };
  signal('SIGTERM');
  // No cancellation signal: this runs during cancellation, and the grace period must be given in full.
  await pollUntil(async () => ((await isOurProcess(pid, dir)) ? undefined : true), {
    intervalMs: 200,
    timeoutMs: graceMs,
    wake: childExit(dir),
  });
  signal('SIGKILL');
}

/** Reads a log file from `offset`; returns complete lines and the new offset. */
export async function readNewLines(file: string, offset: number): Promise<{ lines: string[]; offset: number }> {
  let handle;
  try {
    handle = await fs.open(file, 'r');
  } catch {
    return { lines: [], offset };
  }
  try {
    const { size } = await handle.stat();
    if (size <= offset) return { lines: [], offset };
    const buf = Buffer.alloc(Math.min(size - offset, 1 << 20));
    const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
    const text = buf.subarray(0, bytesRead).toString('utf8');
    const end = text.lastIndexOf('\n');
    if (end < 0) return { lines: [], offset };
    return { lines: text.slice(0, end).split('\n'), offset: offset + Buffer.byteLength(text.slice(0, end + 1)) };
  } finally {
    await handle.close();
  }
}

/** The last `n` lines of a file. */
export async function tailLines(file: string, n: number): Promise<string[]> {
  try {
    const text = await fs.readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-n);
  } catch {
    return [];
  }
}

/** Directories under `root` (at most `depth` levels down) that hold a `pid` file. */
async function pidDirs(root: string, depth: number): Promise<string[]> {
  const entries = await fs.readdir(root, { withFileTypes: true }).catch(() => []);
  const found = entries.some((e) => e.isFile() && e.name === 'pid') ? [root] : [];
  if (depth === 0) return found;
  const below = await Promise.all(
    entries.filter((e) => e.isDirectory()).map((e) => pidDirs(path.join(root, e.name), depth - 1)),
  );
  return found.concat(...below);
}

/**
 * Stops every detached process a worker started under `home` (`jobs/<key>`, `serving/<model>/v<n>`,
 * `serving/<model>/router`) and returns their directories.
 *
 * @example
 * await worker.shutdown(); await stopDetachedUnder(home); // the demo's Ctrl-C, a test's afterAll
 */
export async function stopDetachedUnder(home: string): Promise<string[]> {
  const stopped = await Promise.all(
    (await pidDirs(home, 4)).map(async (dir) => {
      const pid = await readPid(dir);
      if (pid === undefined || !(await isOurProcess(pid, dir))) return undefined;
      await stopProcessGroup(pid, dir, 5000);
      return dir;
    }),
  );
  return stopped.filter((d): d is string => d !== undefined);
}
