/**
 * The skew gate activity: the training job's offline predictions (`predictions.jsonl`, registered with the
 * version's artifacts) replayed through the candidate's own serving endpoint after it is healthy and before any
 * traffic moves, then compared row by row (compare.ts). On a breach it looks for the cause (diagnose.ts). The
 * report goes into the version's manifest either way; what happens next is the workflow's decision.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { RegisteredVersion, SkewExplanation, SkewReport } from '../../../sdk/run-types.js';
import type { SkewSpec } from '../../../sdk/spec/deploy.js';
import type { DeploySpec } from '../../../sdk/spec/pipeline.js';
import type { ObjectStore } from '../../../registry/object-store.js';
import { artifactsPrefix, recordSkew } from '../../../registry/registry.js';
import { parseOfflinePredictions, PREDICTIONS_FILE, type OfflinePrediction } from '../../train/contract.js';
import type { CandidateServers } from '../types.js';
import { comparePredictions, fmt, sampleRows, worstRows, type ComparisonSummary } from './compare.js';
import { associatedFeatures, interpretProbes, observedExplanations, planProbes } from './diagnose.js';

/** The `checkSkew` activity's input: the candidate, started healthy with no traffic. */
export interface SkewInput {
  version: RegisteredVersion;
  deploy: DeploySpec;
  servers: CandidateServers;
  store?: string;
}

/**
 * How a target sends instances to the candidate alone: answers in request order, undefined for an instance it
 * gave no answer for. `unavailable` says why a target cannot (the gate is then skipped, and says so).
 */
export type CandidatePredictor =
  | {
      via: string;
      predict(instances: unknown[]): Promise<(unknown | undefined)[]>;
      /** Removes what the target set up for the gate alone (Vertex's scratch endpoint); runs after the gate, whatever happened. */
      close?(): Promise<void>;
    }
  | { unavailable: string };

/** Instances per request to an HTTP model server. */
const BATCH = 64;

/** Who the gate's requests come from, for a request log that should leave them out (the serving proxy). */
export const SKEW_TRAFFIC_HEADER = { 'x-mlops-traffic': 'skew-gate' };

/** A predictor that POSTs `{ instances }` to `url` in batches, Vertex / KServe v1 style. */
export function httpPredictor(url: string, headers: Record<string, string> = {}): CandidatePredictor {
  return {
    via: url,
    async predict(instances) {
      const out: (unknown | undefined)[] = [];
      const ctx = Context.current();
      for (let i = 0; i < instances.length; i += BATCH) {
        const batch = instances.slice(i, i + BATCH);
        let predictions: unknown[] = [];
        try {
          const res = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...SKEW_TRAFFIC_HEADER, ...headers },
            body: JSON.stringify({ instances: batch }),
            signal: AbortSignal.timeout(30_000),
          });
          const body = (await res.json().catch(() => ({}))) as { predictions?: unknown[] };
          if (res.ok && Array.isArray(body.predictions)) predictions = body.predictions;
          else ctx.log.warn(`skew gate: ${url} answered HTTP ${res.status} for ${batch.length} instances`);
        } catch (err) {
          ctx.log.warn(`skew gate: ${url} failed for ${batch.length} instances: ${(err as Error).message}`);
        }
        for (let j = 0; j < batch.length; j++) out.push(predictions[j] ?? undefined);
        ctx.heartbeat({ skewGate: 'replaying', sent: out.length, of: instances.length });
      }
      return out;
    },
  };
}

function skipped(spec: SkewSpec, reason: string, offlineRows = 0): SkewReport {
  return {
    at: new Date().toISOString(),
    status: spec.required ? 'failed' : 'skipped',
    summary: spec.required ? `${reason}, and deploy.skew.required is set` : `skipped: ${reason}`,
    offlineRows,
    rows: 0,
    seed: spec.seed,
    agreement: null,
    maxAbsDiff: null,
    meanAbsDiff: null,
    errors: 0,
    checks: [],
    worst: [],
    explanations: [],
  };
}

/** The report's one-line summary: the failed numbers first, then what differs. */
function summarize(summary: ComparisonSummary, spec: SkewSpec, explanations: SkewExplanation[]): string {
  const numbers = [
    summary.agreement === null ? undefined : `class agreement ${fmt(summary.agreement)} (min ${spec.minAgreement})`,
    summary.maxAbsDiff === null
      ? undefined
      : `largest difference ${Number.isFinite(summary.maxAbsDiff) ? fmt(summary.maxAbsDiff) : 'n/a (fields missing)'} (max ${fmt(spec.maxAbsDiff)})`,
    summary.errors > 0 ? `${summary.errors} rows without an answer` : undefined,
  ].filter(Boolean);
  const head = `${numbers.join(', ')} over ${summary.rows} evaluation rows`;
  if (summary.passed) return `served as trained: ${head}`;
  const why = explanations.filter((e) => e.kind !== 'association');
  const shown = (why.length ? why : explanations).slice(0, 3).map((e) => e.message);
  return `served predictions differ from training's: ${head}${shown.length ? `; ${shown.join('; ')}` : ''}`;
}

/** Reads the version's offline predictions from its registered artifacts; undefined when the job wrote none. */
async function offlinePredictions(
  store: ObjectStore,
  version: RegisteredVersion,
): Promise<OfflinePrediction[] | undefined> {
  const key = `${artifactsPrefix(version.model, version.version)}${PREDICTIONS_FILE}`;
  const object = await store.get(key);
  if (!object) return undefined;
  try {
    return parseOfflinePredictions(object.data.toString('utf8'), store.uri(key));
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, 'InvalidPredictions');
  }
}

/** Replays, compares, diagnoses a breach, and records the report in the version's manifest. */
export async function checkSkew(
  store: ObjectStore,
  input: SkewInput,
  predictor: CandidatePredictor,
): Promise<SkewReport> {
  const spec = input.deploy.skew;
  if (!spec) throw ApplicationFailure.nonRetryable('checkSkew needs deploy.skew in the spec', 'InvalidSpec');
  const report = await evaluate(store, input, spec, predictor);
  await recordSkew(store, input.version, report);
  const log = Context.current().log;
  (report.status === 'failed' ? log.warn : log.info).call(log, `skew gate: ${report.summary}`);
  return report;
}

async function evaluate(
  store: ObjectStore,
  input: SkewInput,
  spec: SkewSpec,
  predictor: CandidatePredictor,
): Promise<SkewReport> {
  const rows = await offlinePredictions(store, input.version);
  if (!rows)
    return skipped(
      spec,
      `the training job wrote no ${PREDICTIONS_FILE}, so there is nothing to compare the served predictions with (write it beside metrics.json: see the README's Training job contract)`,
    );
  if ('unavailable' in predictor) return skipped(spec, predictor.unavailable, rows.length);
  const sample = sampleRows(rows, spec.sample, spec.seed);
  const served = await predictor.predict(sample.map((r) => r.instance));
  const summary = comparePredictions(sample, served, spec);
  const explanations: SkewExplanation[] = [];
  let probes = 0;
  if (!summary.passed) {
    // A probe that reproduces the offline predictions names the cause; what the answers show comes after it.
    if (spec.diagnose) {
      const plan = planProbes(summary, spec, sample);
      if (plan.instances.length > 0) {
        probes = plan.instances.length;
        explanations.push(...interpretProbes(plan, await predictor.predict(plan.instances), spec, sample));
      }
    }
    explanations.push(...observedExplanations(summary));
    const associated = associatedFeatures(summary);
    if (associated) explanations.push(associated);
  }
  return {
    at: new Date().toISOString(),
    status: summary.passed ? 'passed' : 'failed',
    summary: summarize(summary, spec, explanations),
    via: predictor.via,
    offlineRows: rows.length,
    rows: sample.length,
    seed: spec.seed,
    agreement: summary.agreement,
    maxAbsDiff: summary.maxAbsDiff === null || Number.isFinite(summary.maxAbsDiff) ? summary.maxAbsDiff : null,
    meanAbsDiff: summary.meanAbsDiff,
    errors: summary.errors,
    checks: summary.checks,
    worst: worstRows(summary, spec.worst),
    explanations,
    ...(probes ? { probes } : {}),
  };
}
