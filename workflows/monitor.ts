/**
 * `monitorModel` (id `monitor/<model>`): one per model, started or re-pointed by the pipeline after each deploy
 * (signal `newReference`). Every window it checks the latest closed serving window for drift against the
 * training snapshot; sustained drift starts one retrain run, deduplicated by a run key derived from the window
 * and held back by a cooldown. Continues as new to keep its history small.
 */
import { condition, continueAsNew, proxyActivities, setHandler } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import { driftRunKey } from '../sdk/ids.js';
import type { DriftReport, MonitorReference, MonitorState } from '../sdk/run-types.js';
import { checkNowUpdate, monitorStatusQuery, newReferenceSignal } from './messages.js';

export interface MonitorInput {
  model: string;
  reference?: MonitorReference;
  state?: MonitorState;
}

const acts = proxyActivities<PipelineActivities>({ startToCloseTimeout: '10 minutes', retry: { maximumAttempts: 5 } });
const CHECKS_PER_RUN = 200;

export async function monitorModel(input: MonitorInput): Promise<void> {
  let reference = input.reference;
  const state: MonitorState = input.state ?? { streak: 0, retrains: [], checks: 0 };
  let wake = false;
  setHandler(monitorStatusQuery, () => ({
    ...state,
    model: input.model,
    version: reference?.version,
    referenceSnapshot: reference?.snapshot.uri,
  }));
  setHandler(newReferenceSignal, (ref) => {
    reference = ref;
    state.streak = 0;
    wake = true;
  });
  setHandler(checkNowUpdate, async () => {
    await check();
    return state.latest ?? null;
  });

  async function check(): Promise<void> {
    if (!reference) return;
    const ref = reference;
    const report = await acts.checkDrift({
      model: ref.model,
      version: ref.version,
      snapshot: ref.snapshot,
      spec: ref.spec,
      store: ref.store,
      afterWindow: state.lastWindow,
    });
    // A concurrent check may have taken this window already: count every window once.
    if (!report || (state.lastWindow && report.window <= state.lastWindow)) return;
    state.lastWindow = report.window;
    state.latest = report;
    state.checks++;
    state.streak = report.drifted ? state.streak + 1 : 0;
    const cooled = !state.lastRetrainAt || Date.now() - Date.parse(state.lastRetrainAt) >= ref.spec.monitor.cooldown;
    if (ref.spec.retrain.onDrift && state.streak >= ref.spec.monitor.sustainedWindows && cooled)
      await startRetrain(ref, report, state);
  }

  for (let i = 0; i < CHECKS_PER_RUN; i++) {
    const interval = reference?.spec.monitor.window ?? 60_000;
    await condition(() => wake, interval);
    wake = false;
    await check();
  }
  await continueAsNew<typeof monitorModel>({
    model: input.model,
    reference,
    state: { ...state, retrains: state.retrains.slice(-20) },
  });
}

/** Starts one drift-triggered retrain (deduplicated by the window's run key), unless the previous one still runs. */
async function startRetrain(ref: MonitorReference, report: DriftReport, state: MonitorState): Promise<void> {
  // Claim the trigger before awaiting, so a racing check sees the cooldown; give it back if nothing started.
  const before = { lastRetrainAt: state.lastRetrainAt, streak: state.streak };
  state.lastRetrainAt = new Date().toISOString();
  state.streak = 0;
  // One retrain per model at a time: while the previous one still runs, nothing new starts.
  const previous = state.retrains.at(-1)?.workflowId;
  const trigger = { kind: 'drift' as const, reportUri: report.reportUri };
  const { workflowId, started } = await acts.startTriggeredRun(
    ref.spec,
    driftRunKey(ref.version, report.window),
    trigger,
    previous,
  );
  if (!started) {
    Object.assign(state, before);
    return;
  }
  if (!state.retrains.some((r) => r.workflowId === workflowId))
    state.retrains.push({ workflowId, window: report.window, at: state.lastRetrainAt, reportUri: report.reportUri });
}
