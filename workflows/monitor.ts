/**
 * `monitorModel` (id `monitor/<model>`): one per model, started or re-pointed by the pipeline after each deploy
 * (signal `newReference`). Every window it checks the latest closed serving window for drift against the
 * training snapshot; sustained drift starts one retrain run, deduplicated by a run key derived from the window
 * and held back by a cooldown. Continues as new to keep its history small.
 */
import { condition, continueAsNew, log, proxyActivities, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { PipelineActivities } from '../activities/index.js';
import { KEEP_ALIVE_TIMEOUT } from './pipeline/activities.js';
import type { StepContext } from '../sdk/define-step.js';
import { stepActivityName } from '../sdk/step-names.js';
import { driftRunKey, qualityRunKey } from '../sdk/ids.js';
import type {
  DriftReport,
  MonitorAlert,
  MonitorReference,
  MonitorState,
  QualityReport,
  Trigger,
} from '../sdk/run-types.js';
import { checkNowUpdate, monitorStatusQuery, newReferenceSignal } from './messages.js';

export interface MonitorInput {
  model: string;
  reference?: MonitorReference;
  state?: MonitorState;
}

const acts = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: KEEP_ALIVE_TIMEOUT,
  retry: { maximumAttempts: 5 },
});
const CHECKS_PER_RUN = 200;
/** The alert step is a notification: a few quick tries, then the monitor goes on. */
const alertSteps = proxyActivities<Record<string, (input: MonitorAlert, context: StepContext) => Promise<unknown>>>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});

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
    await checkDrift(ref);
    // Without monitor.labels nothing more runs: the command sequence of monitors recorded before it stays the same.
    if (ref.spec.monitor.labels) await checkQuality(ref);
  }

  /** No retrain started within the cooldown (drift and quality share it). */
  const cooledDown = (ref: MonitorReference) =>
    !state.lastRetrainAt || Date.now() - Date.parse(state.lastRetrainAt) >= ref.spec.monitor.cooldown;

  async function checkDrift(ref: MonitorReference): Promise<void> {
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
    showDetails(state);
    if (ref.spec.monitor.onAlert && (report.drifted || report.predictions?.drifted))
      await alert(ref, driftAlert(report));
    if (ref.spec.retrain.onDrift && state.streak >= ref.spec.monitor.sustainedWindows && cooledDown(ref))
      await startRetrain(
        ref,
        { kind: 'drift', reportUri: report.reportUri },
        driftRunKey(ref.version, report.window),
        report.window,
        state,
      );
  }

  /** Quality from the labels so far; a sustained breach starts a retrain through the same path as drift. */
  async function checkQuality(ref: MonitorReference): Promise<void> {
    const labels = ref.spec.monitor.labels!;
    const report = await acts.checkQuality({
      model: ref.model,
      version: ref.version,
      spec: ref.spec,
      store: ref.store,
    });
    const wasDegraded = state.quality?.degraded ?? false;
    state.quality = report;
    showDetails(state);
    if (ref.spec.monitor.onAlert && report.degraded && !wasDegraded) await alert(ref, qualityAlert(report));
    if (report.degraded && report.window && labels.retrain && cooledDown(ref))
      await startRetrain(
        ref,
        { kind: 'quality-degraded', reportUri: report.reportUri },
        qualityRunKey(ref.version, report.window),
        report.window,
        state,
      );
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

/** Calls the spec's alert step; a failing notification is logged and the monitor goes on. */
async function alert(ref: MonitorReference, input: MonitorAlert): Promise<void> {
  const context: StepContext = { pipeline: ref.spec.name, model: ref.model, runKey: 'monitor' };
  try {
    await alertSteps[stepActivityName(ref.spec.monitor.onAlert!.step)]!(input, context);
  } catch (err) {
    log.warn(`monitor: the alert step ${ref.spec.monitor.onAlert!.step} failed: ${(err as Error).message}`);
  }
}

function driftAlert(r: DriftReport): MonitorAlert {
  const what = [
    r.drifted ? `dataset drift (${r.driftedColumns} of ${r.columns.length} columns)` : '',
    r.predictions?.drifted ? 'prediction drift' : '',
  ].filter(Boolean);
  return {
    kind: r.drifted ? 'drift' : 'prediction-drift',
    model: r.model,
    version: r.version,
    window: r.window,
    summary: `${r.model} v${r.version}: ${what.join(' and ')} in window ${r.window}`,
    reportUri: r.reportUri,
    htmlUri: r.htmlUri,
  };
}

function qualityAlert(r: QualityReport): MonitorAlert {
  const w = r.windows.find((x) => x.window === r.window);
  return {
    kind: 'quality-degraded',
    model: r.model,
    version: r.version,
    window: r.window!,
    summary: `${r.model} v${r.version}: quality degraded (${w?.breaches.join('; ') ?? ''}) in window ${r.window}`,
    reportUri: r.reportUri,
    htmlUri: r.htmlUri,
  };
}

/** The last verdicts as the Web UI shows a workflow's current details (markdown); no command, replay-safe. */
function showDetails(state: MonitorState): void {
  const lines: string[] = [];
  const d = state.latest;
  if (d) {
    lines.push(
      `**Drift** (window ${d.window}): ${d.drifted ? 'dataset drift' : 'no dataset drift'}, ${d.driftedColumns} of ${d.columns.length} columns; predictions: ${d.predictions ? (d.predictions.drifted ? 'drift' : d.predictions.skipped ? 'not compared' : 'no drift') : 'n/a'}; streak ${state.streak}`,
      `[drift report](${d.htmlUri})`,
    );
  }
  const q = state.quality;
  if (q) {
    const last = q.windows.filter((w) => w.judged).slice(-3);
    lines.push(
      `**Quality**: ${q.degraded ? `degraded (window ${q.window})` : 'ok'}; ${
        last
          .map(
            (w) =>
              `${w.window}: ${Object.entries(w.metrics)
                .map(([k, v]) => `${k} ${Number(v.toPrecision(3))}`)
                .join(', ')}`,
          )
          .join(' · ') || 'no window judged yet'
      }`,
      `[quality report](${q.htmlUri})`,
    );
  }
  if (state.retrains.length) {
    const r = state.retrains.at(-1)!;
    lines.push(`**Last retrain**: ${r.workflowId} (${r.kind ?? 'drift'}, window ${r.window})`);
  }
  setCurrentDetails(lines.join('\n\n'));
}

/** Starts one triggered retrain (deduplicated by its run key), unless the previous one still runs. */
async function startRetrain(
  ref: MonitorReference,
  trigger: Extract<Trigger, { reportUri: string }>,
  runKey: string,
  window: string,
  state: MonitorState,
): Promise<void> {
  // Claim the trigger before awaiting, so a racing check sees the cooldown; give it back if nothing started.
  const before = { lastRetrainAt: state.lastRetrainAt, streak: state.streak };
  state.lastRetrainAt = new Date().toISOString();
  state.streak = 0;
  // One retrain per model at a time: while the previous one still runs, nothing new starts.
  const previous = state.retrains.at(-1)?.workflowId;
  const { workflowId, started } = await acts.startTriggeredRun(ref.spec, runKey, trigger, previous);
  if (!started) {
    Object.assign(state, before);
    return;
  }
  if (!state.retrains.some((r) => r.workflowId === workflowId))
    state.retrains.push({
      workflowId,
      window,
      at: state.lastRetrainAt,
      reportUri: trigger.reportUri,
      ...(trigger.kind === 'drift' ? {} : { kind: trigger.kind }),
    });
  showDetails(state);
}
