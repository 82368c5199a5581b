/** The benchmark's baseline: a plain Temporal workflow running `count` no-op activities in sequence. */
import { proxyActivities } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(i: number): Promise<number> }>({ startToCloseTimeout: '1 minute' });

export async function bareWorkflow(count: number): Promise<number> {
  let sum = 0;
  for (let i = 0; i < count; i++) sum += await noop(i);
  return sum;
}
