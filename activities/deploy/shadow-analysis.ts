/**
 * The shadow stage's analysis: the router's mirrored requests (mirror.ts), each answered by the champion (what
 * the caller got) and by the candidate, compared on the same requests: error rate, latency, prediction agreement
 * (the skew gate's row comparison) and the distance between the two prediction distributions (the drift
 * statistics of sdk/drift). Judged against `rollout.shadow`.
 */
import type { ShadowReport, ShadowSide } from '../../sdk/run-types.js';
import type { ShadowSpec } from '../../sdk/spec/rollout.js';
import {
  STAT_TESTS,
  binnedShares,
  cleanSorted,
  jensenShannonOfShares,
  psiOfShares,
  wassersteinNormed,
} from '../../sdk/drift/statistics.js';
import { percentile } from './canary-analysis.js';
import { compareRow, fmt, labelOf, rowPasses, scoresOf } from './skew/compare.js';
import type { MirroredAnswer, MirroredPair, ShadowState } from './local/mirror.js';

/** The `analyzeShadow` activity's input. */
export interface ShadowInput {
  routerEndpoint: string;
  shadow: ShadowSpec;
}

const EXAMPLES = 5;

const failed = (a: MirroredAnswer) => a.status === 0 || a.status >= 500;

function side(answers: MirroredAnswer[], p: number): ShadowSide {
  const errors = answers.filter(failed).length;
  return {
    requests: answers.length,
    errors,
    errorRate: answers.length ? errors / answers.length : null,
    latencyMs: percentile(
      answers.filter((a) => !failed(a)).map((a) => a.ms),
      p,
    ),
  };
}

function parsed(text: string, field: string): unknown[] | undefined {
  try {
    const value = (JSON.parse(text) as Record<string, unknown>)[field];
    return Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** The predictions both sides gave for the same instances, in request order. */
function predictionPairs(pairs: MirroredPair[]) {
  const out: { instance: unknown; champion: unknown; candidate: unknown }[] = [];
  for (const p of pairs) {
    if (p.champion.status !== 200 || p.candidate.status !== 200) continue;
    const champion = parsed(p.champion.body, 'predictions');
    if (!champion) continue;
    const candidate = parsed(p.candidate.body, 'predictions') ?? [];
    const instances = parsed(p.request, 'instances') ?? [];
    champion.forEach((c, i) => out.push({ instance: instances[i], champion: c, candidate: candidate[i] }));
  }
  return out;
}

/** The distance between the two prediction distributions: on the first score when there is one, else labels. */
export function distributionDistance(
  champion: unknown[],
  candidate: unknown[],
  test: ShadowSpec['distribution']['test'],
): { test: string; on: string; value: number | null } | null {
  if (champion.length === 0 || candidate.length === 0) return null;
  const path = [...scoresOf(champion[0]).keys()][0];
  const scores = (values: unknown[]) => cleanSorted(values.map((v) => scoresOf(v).get(path ?? '') ?? NaN));
  if (path !== undefined) {
    const ref = scores(champion);
    const cur = scores(candidate);
    if (ref.length === 0 || cur.length === 0) return { test, on: path || 'value', value: null };
    if (test === 'wasserstein') return { test, on: path || 'value', value: wassersteinNormed(ref, cur) };
    const { ref: r, cur: c } = binnedShares(ref, cur, 'numerical');
    return { test, on: path || 'value', value: test === 'psi' ? psiOfShares(r, c) : jensenShannonOfShares(r, c) };
  }
  const labels = (values: unknown[]) => values.map((v) => labelOf(v) ?? 'none');
  // Wasserstein needs numbers; class labels are compared with Jensen-Shannon.
  const used = test === 'wasserstein' ? 'jensenshannon' : test;
  const { ref, cur } = binnedShares(labels(champion), labels(candidate), 'categorical');
  return {
    test: used,
    on: 'class label',
    value: used === 'psi' ? psiOfShares(ref, cur) : jensenShannonOfShares(ref, cur),
  };
}

/** Compares champion and candidate on the mirrored requests so far and judges them. Pure. */
export function compareShadow(state: ShadowState, spec: ShadowSpec, at = new Date()): ShadowReport {
  const p = spec.latency?.percentile ?? 95;
  const champion = side(
    state.pairs.map((x) => x.champion),
    p,
  );
  const candidate = side(
    state.pairs.map((x) => x.candidate),
    p,
  );
  const predictions = predictionPairs(state.pairs);
  const compared = predictions.map((x) => {
    const row = x.candidate === undefined ? undefined : compareRow(x.champion, x.candidate);
    return {
      ...x,
      passes: row !== undefined && rowPasses(row, { maxAbsDiff: spec.tolerance }),
      absDiff: row === undefined ? null : row.absDiff,
    };
  });
  const agreement = compared.length ? compared.filter((x) => x.passes).length / compared.length : null;
  const diffs = compared.flatMap((x) => (x.absDiff === null || !Number.isFinite(x.absDiff) ? [] : [x.absDiff]));
  const distribution = distributionDistance(
    predictions.map((x) => x.champion),
    predictions.flatMap((x) => (x.candidate === undefined ? [] : [x.candidate])),
    spec.distribution.test,
  );
  const threshold = spec.distribution.threshold ?? STAT_TESTS[spec.distribution.test].threshold;
  const checks: ShadowReport['checks'] = [
    {
      name: 'candidate error rate',
      value: candidate.errorRate,
      max: spec.maxErrorRate,
      passed: candidate.errorRate !== null && candidate.errorRate <= spec.maxErrorRate,
    },
    {
      name: 'prediction agreement',
      value: agreement,
      min: spec.minAgreement,
      passed: agreement !== null && agreement >= spec.minAgreement,
    },
  ];
  if (distribution)
    checks.push({
      name: `${distribution.test} distance of ${distribution.on}`,
      value: distribution.value,
      max: threshold,
      passed: distribution.value !== null && distribution.value < threshold,
    });
  if (spec.latency) {
    const ratio = candidate.latencyMs !== null && champion.latencyMs ? candidate.latencyMs / champion.latencyMs : null;
    checks.push({
      name: `p${p} latency ratio candidate/champion`,
      value: ratio,
      max: spec.latency.maxRatio,
      passed: ratio !== null && ratio <= spec.latency.maxRatio,
    });
  }
  const conclusive = state.pairs.length >= spec.minRequests;
  const passed = !conclusive || checks.every((c) => c.passed);
  const report: Omit<ShadowReport, 'summary'> = {
    at: at.toISOString(),
    share: state.mirror?.share ?? 0,
    liveRequests: state.live,
    mirrored: state.mirrored,
    skipped: state.skipped,
    champion,
    candidate,
    predictions: predictions.length,
    agreement,
    maxAbsDiff: diffs.length ? Math.max(...diffs) : null,
    distribution,
    checks,
    disagreements: compared
      .filter((x) => !x.passes)
      .slice(0, EXAMPLES)
      .map(({ instance, champion, candidate }) => ({ instance, champion, candidate })),
    conclusive,
    passed,
  };
  return { ...report, summary: summarize(report) };
}

function summarize(r: Omit<ShadowReport, 'summary'>): string {
  const shown = r.checks.map(
    (c) =>
      `${c.name} ${fmt(c.value)}${c.min !== undefined ? ` (min ${c.min})` : ''}${c.max !== undefined ? ` (max ${c.max})` : ''}`,
  );
  const head = `${r.champion.requests} mirrored requests (${r.predictions} predictions) answered by both`;
  if (!r.conclusive) return `not enough mirrored traffic yet: ${head}`;
  const failedChecks = r.checks.filter((c) => !c.passed);
  if (r.passed) return `the candidate answers like the champion: ${head}; ${shown.join(', ')}`;
  return `the candidate answers differently from the champion: ${head}; failed: ${shown.filter((_, i) => !r.checks[i]!.passed).join(', ')}${failedChecks.length < r.checks.length ? `; passed: ${shown.filter((_, i) => r.checks[i]!.passed).join(', ')}` : ''}`;
}

/** Reads the router's mirrored requests and compares them. */
export async function analyzeShadow(input: ShadowInput): Promise<ShadowReport> {
  const res = await fetch(`${input.routerEndpoint}/-/mlops/shadow`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`router ${input.routerEndpoint} answered HTTP ${res.status} for its shadow record`);
  return compareShadow((await res.json()) as ShadowState, input.shadow);
}
