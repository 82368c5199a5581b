/**
 * `watchNewData` (id `watch/<pipeline>`): polls `retrain.onNewDataPrefix` and starts one pipeline run per new
 * object, ingesting that object. The run key is derived from the object's URI, so an object starts exactly one
 * run however often it is seen (a restart, two watchers, a re-listed page). Continues as new to stay small.
 */
import { continueAsNew, proxyActivities, sleep } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import { KEEP_ALIVE_TIMEOUT } from './pipeline/activities.js';
import { newDataRunKey } from '../sdk/ids.js';
import type { PipelineSpec } from '../sdk/spec/pipeline.js';

export interface WatchInput {
  spec: PipelineSpec;
  /** Object URIs already handled (bounded; the run key is the real guard). */
  seen?: string[];
}

const acts = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: KEEP_ALIVE_TIMEOUT,
  retry: { maximumAttempts: 10 },
});
const POLLS_PER_RUN = 100;
const SEEN_KEPT = 5000;

export async function watchNewData(input: WatchInput): Promise<void> {
  const prefix = input.spec.retrain.onNewDataPrefix!;
  const seen = new Set(input.seen ?? []);
  for (let i = 0; i < POLLS_PER_RUN; i++) {
    const objects = await acts.listObjects({ prefix });
    for (const objectUri of objects.filter((o) => !seen.has(o))) {
      const spec = { ...input.spec, ingest: { ...input.spec.ingest, source: objectUri } };
      await acts.startTriggeredRun(spec, newDataRunKey(objectUri), { kind: 'new-data', objectUri });
      seen.add(objectUri);
    }
    await sleep(input.spec.retrain.newDataPoll);
  }
  await continueAsNew<typeof watchNewData>({ spec: input.spec, seen: [...seen].slice(-SEEN_KEPT) });
}
