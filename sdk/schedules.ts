/** `client.schedules`: a pipeline's retraining schedule as a Temporal Schedule (`retrain/<name>`), visible in the Web UI. */
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptionsAction,
} from '@temporalio/client';
import type { PipelineDefinition } from './define-pipeline.js';
import { PipelineError } from './errors.js';
import { retrainScheduleId, scheduledRunWorkflowId } from './ids.js';
import type { PipelineRunInput } from './run-types.js';
import { runSpecInput } from './spec/pipeline.js';
import { WORKFLOW_TYPES } from '../workflows/messages.js';

const OVERLAP = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
} as const;

/** Schedules of pipeline runs. Reached as `pipelineClient.schedules`. */
export class PipelineSchedules {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly searchAttributes: () => Promise<boolean>,
  ) {}

  /**
   * Creates or updates the pipeline's schedule from `retrain.cron` (UTC) and `retrain.overlap`. Each scheduled
   * run gets the id `pipeline/<name>/schedule-<time>`. Returns the schedule id.
   *
   * @example await client.schedules.apply(churn) // retrain: { cron: '0 3 * * 1' }
   */
  async apply(pipeline: PipelineDefinition): Promise<string> {
    const { cron, every } = pipeline.spec.retrain;
    if (!cron && !every) {
      throw new PipelineError(
        'InvalidSpec',
        `Pipeline "${pipeline.name}" has no retrain.cron or retrain.every: add e.g. retrain: { cron: '0 3 * * 1' } to schedule it`,
      );
    }
    const scheduleId = retrainScheduleId(pipeline.name);
    const input: PipelineRunInput = {
      ...runSpecInput(pipeline.spec),
      runKey: '',
      requestedBy: pipeline.spec.retrain.requestedBy,
      trigger: { kind: 'schedule', scheduleId },
      params: {},
      searchAttributes: await this.searchAttributes(),
    };
    const action: ScheduleOptionsAction = {
      type: 'startWorkflow',
      workflowType: WORKFLOW_TYPES.mlPipeline,
      workflowId: scheduledRunWorkflowId(pipeline.name),
      taskQueue: this.taskQueue,
      args: [input],
    };
    const spec = every ? { intervals: [{ every }] } : { cronExpressions: Array.isArray(cron) ? cron : [cron!] };
    const policies = { overlap: OVERLAP[pipeline.spec.retrain.overlap], catchupWindow: '1 day' as const };
    const handle = this.client.schedule.getHandle(scheduleId);
    try {
      await handle.update((previous) => ({ ...previous, spec, action, policies }));
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
      await this.client.schedule.create({
        scheduleId,
        spec,
        action,
        policies,
        state: { note: `temporal-mlops retraining of ${pipeline.name}` },
      });
    }
    return scheduleId;
  }

  async pause(pipeline: string, note = 'paused with temporal-mlops'): Promise<void> {
    await this.client.schedule.getHandle(retrainScheduleId(pipeline)).pause(note);
  }

  async unpause(pipeline: string, note = 'unpaused with temporal-mlops'): Promise<void> {
    await this.client.schedule.getHandle(retrainScheduleId(pipeline)).unpause(note);
  }

  async remove(pipeline: string): Promise<void> {
    await this.client.schedule.getHandle(retrainScheduleId(pipeline)).delete();
  }

  describe(pipeline: string) {
    return this.client.schedule.getHandle(retrainScheduleId(pipeline)).describe();
  }
}
