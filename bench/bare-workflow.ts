/**
 * The benchmarks' baselines, plain Temporal workflows: `bareWorkflow` runs `count` no-op activities in sequence;
 * `bareSignalWorkflow` waits for one signal, then runs one no-op activity (the bare shape of approve → deploy).
 */
import { condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(i: number): Promise<number> }>({ startToCloseTimeout: '1 minute' });

/** The signal `bareSignalWorkflow` waits for. */
export const goSignal = defineSignal<[unknown]>('go');

export async function bareWorkflow(count: number): Promise<number> {
  let sum = 0;
  for (let i = 0; i < count; i++) sum += await noop(i);
  return sum;
}

export async function bareSignalWorkflow(): Promise<number> {
  let go = false;
  setHandler(goSignal, () => void (go = true));
  await condition(() => go);
  return noop(1);
}
