/**
 * Where a pipeline's training runs (`train.placement`): a pool's task queue, and for `local` jobs the machine
 * that started them. A local job lives on one machine, so once a worker there has placed it, every attempt of
 * the job goes to that machine's own task queue; when nothing polls that queue within `lostAfter` the machine
 * counts as gone. Sandbox-safe.
 */
import { z } from 'zod';
import { DurationSchema } from '../duration-schema.js';

export const TrainPlacementSchema = z.strictObject({
  /**
   * The task queue of the workers that train (a GPU pool); default: the pipeline's own queue. Those workers
   * run `createPipelineWorkers` so that each also polls its host queue.
   */
  taskQueue: z.string().min(1, 'must name a task queue').optional(),
  /**
   * How long a local job's next attempt may wait for its machine's worker (the activity's schedule-to-start
   * timeout on the host queue). Past it, the machine is presumed gone. Longer than a worker restart takes.
   */
  lostAfter: DurationSchema.prefault('10m'),
  /** When the machine is gone: `fail` the run with JobLost naming the host, or `restart` the job elsewhere. */
  onLost: z.enum(['fail', 'restart']).default('fail'),
  /** With `onLost: 'restart'`: how many times the job may start again from scratch before JobLost. */
  maxRestarts: z.number().int().min(0).default(1),
});

export type TrainPlacement = z.output<typeof TrainPlacementSchema>;

/** Where a local job was placed: the machine and the task queue only that machine's workers poll. */
export interface HostPlacement {
  host: string;
  taskQueue: string;
}

/** The task queue of one machine among the workers of `taskQueue`: `<taskQueue>@<host>`. */
export function hostTaskQueue(taskQueue: string, host: string): string {
  return `${taskQueue}@${host}`;
}
