/**
 * Processes the suite starts and must stop. Training jobs, model servers and traffic routers are detached on
 * purpose (they outlive the worker that started them, see activities/platform/local-process.ts), so stopping a
 * test's worker leaves them running; `stopDetachedUnder` (re-exported from there) stops them by their `pid` files.
 * `processesInside` is the suite's last check: every test's temp files live under one suite directory, so any
 * process whose command line, working directory or environment still points into it has leaked.
 */
import { promises as fs } from 'node:fs';
export { stopDetachedUnder } from '../../activities/platform/local-process.js';

/** A live process that points into a directory it should be done with. */
export interface StrayProcess {
  pid: number;
  command: string;
  /** What points into the directory: its command line, its working directory or an environment variable. */
  via: string;
}

const readProc = (pid: string, file: string) => fs.readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => '');

/**
 * Live processes (zombies excluded) whose command line, working directory or environment names `dir` or a path
 * inside it. Linux only (reads /proc); elsewhere it finds nothing.
 */
export async function processesInside(dir: string): Promise<StrayProcess[]> {
  const inside = (text: string) => text === dir || text.includes(`${dir}/`) || text.endsWith(dir);
  const pids = (await fs.readdir('/proc').catch(() => [])).filter((n) => /^\d+$/.test(n) && n !== String(process.pid));
  const found = await Promise.all(
    pids.map(async (pid): Promise<StrayProcess | undefined> => {
      const stat = await readProc(pid, 'stat');
      if (!stat || /^\d+ \(.*\) [ZX] /s.test(stat)) return undefined;
      const args = (await readProc(pid, 'cmdline')).split('\0').filter(Boolean);
      const command = args.join(' ');
      const cwd = await fs.readlink(`/proc/${pid}/cwd`).catch(() => '');
      const variable = (await readProc(pid, 'environ')).split('\0').find(inside);
      const via = args.some(inside)
        ? 'command line'
        : inside(cwd)
          ? `working directory ${cwd}`
          : variable
            ? `environment ${variable.split('=')[0]}=${variable.slice(variable.indexOf('=') + 1)}`
            : undefined;
      return via ? { pid: Number(pid), command: command || `(pid ${pid})`, via } : undefined;
    }),
  );
  return found.filter((p): p is StrayProcess => p !== undefined);
}

/** SIGKILLs the processes (and the groups they lead) and waits until they are gone. */
export async function killProcesses(processes: readonly StrayProcess[], timeoutMs = 5000): Promise<void> {
  for (const { pid } of processes) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        /* not a group leader, or already gone */
      }
    }
  }
  const deadline = Date.now() + timeoutMs;
  const alive = async (pid: number) => {
    const stat = await readProc(String(pid), 'stat');
    return stat !== '' && !/^\d+ \(.*\) [ZX] /s.test(stat);
  };
  while (Date.now() < deadline) {
    const left = await Promise.all(processes.map((p) => alive(p.pid)));
    if (!left.includes(true)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The failure message naming each leaked process. */
export function describeLeaks(dir: string, processes: readonly StrayProcess[]): string {
  const lines = processes.map((p) => {
    const command = p.command.length > 300 ? `${p.command.slice(0, 297)}...` : p.command;
    return `  - pid ${p.pid}: ${command}\n    (points into the suite directory through its ${p.via})`;
  });
  return (
    `Leak check: ${processes.length} process${processes.length === 1 ? '' : 'es'} outlived the test suite (killed now). ` +
    `Stop what a test starts in its afterAll (a harness's stop() stops the jobs and servers under its home):\n` +
    `${lines.join('\n')}\n  suite directory: ${dir}`
  );
}
