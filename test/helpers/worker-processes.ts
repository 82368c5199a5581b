/**
 * Pipeline workers in their own processes (worker-process.ts) on the suite's server, so tests can SIGKILL them.
 * They inherit this process's environment: the fast poll intervals of test-env.ts and what the test file set.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { inject } from 'vitest';

export function workerProcesses(taskQueue: string, home: string) {
  const started: ChildProcess[] = [];
  return {
    /**
     * Starts one and resolves once it polls its task queue. `env` adds settings (MLOPS_HOST, MLOPS_WORKFLOWS,
     * another MLOPS_HOME for another machine).
     */
    start(env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/worker-process.ts'], {
          env: {
            ...process.env,
            TEMPORAL_ADDRESS: inject('temporalAddress'),
            MLOPS_TASK_QUEUE: taskQueue,
            MLOPS_HOME: home,
            MLOPS_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
            ...env,
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        started.push(child);
        child.once('exit', (code) => reject(new Error(`worker exited ${code} before it was ready`)));
        child.stdout!.on('data', (c: Buffer) => c.toString().includes('worker ready') && resolve(child));
      });
    },
    killAll(): void {
      for (const child of started) child.kill('SIGKILL');
    },
  };
}
