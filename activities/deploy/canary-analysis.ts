/**
 * Canary analysis: the candidate's (and champion's) error rate and latency during the current rollout step,
 * from the local router's own stats or from a Prometheus server scraping the router, judged against the
 * rollout's thresholds.
 */
import type { AnalysisReport, VersionNumbers } from '../../sdk/run-types.js';
import type { AnalysisSpec } from '../../sdk/spec/rollout.js';
import type { RouterStats, TrafficState } from './local/traffic-router.js';
import { googleAuthHeaders } from '../platform/vertex-api.js';

export interface AnalysisInput {
  model: string;
  candidate: number;
  champion?: number;
  routerEndpoint: string;
  analysis: AnalysisSpec;
  step: number;
  traffic: number;
  stepStartedAt: string;
  /** Where each version's traffic goes (URL or deployed model id), for `$target` in metric templates. */
  targets?: Record<string, string>;
}

/** The local router's metrics (traffic-router.ts), the default templates. */
export const ROUTER_METRICS = {
  requests: 'sum(increase(mlops_router_requests_total{model="$model",version="$version"}[$window]))',
  errors:
    'sum(increase(mlops_router_requests_total{model="$model",version="$version",code=~"5.."}[$window])) or vector(0)',
  latencyMs:
    'histogram_quantile($quantile, sum by (le) (increase(mlops_router_request_duration_seconds_bucket{model="$model",version="$version"}[$window]))) * 1000',
};

/** Nearest-rank percentile. */
export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function numbers(requests: number, errors: number, latencyMs: number | null): VersionNumbers {
  return { requests, errors, errorRate: requests > 0 ? errors / requests : null, latencyMs };
}

async function fromRouter(input: AnalysisInput) {
  const res = await fetch(`${input.routerEndpoint}/-/mlops/traffic`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`router ${input.routerEndpoint} answered HTTP ${res.status}`);
  const body = (await res.json()) as TrafficState & { stats: Record<string, RouterStats> };
  const p = input.analysis.latency?.percentile ?? 95;
  const of = (version: number) => {
    const s = body.stats[String(version)] ?? { requests: 0, errors: 0, latenciesMs: [] };
    return numbers(s.requests, s.errors, percentile(s.latenciesMs, p));
  };
  return {
    candidate: of(input.candidate),
    champion: input.champion !== undefined ? of(input.champion) : undefined,
    custom: [] as { name: string; value: number | null }[],
  };
}

async function promQuery(base: string, query: string): Promise<number | null> {
  const url = `${base.replace(/\/$/, '')}/api/v1/query?query=${encodeURIComponent(query)}`;
  // Cloud Monitoring's PromQL API takes the worker's Google credentials; a plain Prometheus takes none.
  const headers = new URL(base).hostname.endsWith('googleapis.com') ? await googleAuthHeaders() : {};
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data?: { resultType: string; result: unknown };
  };
  if (body.status !== 'success') throw new Error(`Prometheus refused ${query}: ${body.error ?? res.status}`);
  const result = body.data!.result;
  const raw =
    body.data!.resultType === 'scalar'
      ? (result as [number, string])[1]
      : (result as { value: [number, string] }[])[0]?.value[1];
  const value = raw === undefined ? null : Number(raw);
  return value === null || Number.isNaN(value) ? null : value;
}

async function fromPrometheus(input: AnalysisInput, base: string) {
  const seconds = Math.max(1, Math.round((Date.now() - Date.parse(input.stepStartedAt)) / 1000));
  const window = `${seconds}s`;
  const templates = input.analysis.metrics ?? ROUTER_METRICS;
  const fill = (template: string, version: number) =>
    template
      .replaceAll('$model', input.model)
      .replaceAll('$version', String(version))
      .replaceAll('$target', input.targets?.[String(version)] ?? '')
      .replaceAll('$window', window)
      .replaceAll('$quantile', String((input.analysis.latency?.percentile ?? 95) / 100));
  const of = async (version: number) => {
    const [requests, errors, latency] = await Promise.all([
      promQuery(base, fill(templates.requests, version)),
      promQuery(base, fill(templates.errors, version)),
      templates.latencyMs ? promQuery(base, fill(templates.latencyMs, version)) : null,
    ]);
    // increase() extrapolates to the window's edges; counts are reported rounded.
    return numbers(Math.round(requests ?? 0), Math.round(errors ?? 0), latency);
  };
  const custom = await Promise.all(
    input.analysis.queries.map(async (c) => ({
      name: c.name,
      value: await promQuery(base, fill(c.query, input.candidate)),
    })),
  );
  return {
    candidate: await of(input.candidate),
    champion: input.champion !== undefined ? await of(input.champion) : undefined,
    custom,
    windowSeconds: seconds,
  };
}

/** Measures the step so far and judges it. Inconclusive (too few candidate requests) is not a failure. */
export async function analyzeCanary(input: AnalysisInput): Promise<AnalysisReport> {
  const a = input.analysis;
  const measured = a.source === 'router' ? await fromRouter(input) : await fromPrometheus(input, a.source.prometheus);
  const c = measured.candidate;
  const checks: AnalysisReport['checks'] = [
    {
      name: 'error rate',
      value: c.errorRate,
      max: a.maxErrorRate,
      passed: c.errorRate !== null && c.errorRate <= a.maxErrorRate,
    },
  ];
  if (a.latency)
    checks.push({
      name: `p${a.latency.percentile} latency ms`,
      value: c.latencyMs,
      max: a.latency.maxMs,
      passed: c.latencyMs !== null && c.latencyMs <= a.latency.maxMs,
    });
  for (const q of a.queries) {
    const value = measured.custom.find((m) => m.name === q.name)?.value ?? null;
    checks.push({
      name: q.name,
      value,
      min: q.min,
      max: q.max,
      passed: value !== null && (q.min === undefined || value >= q.min) && (q.max === undefined || value <= q.max),
    });
  }
  const conclusive = c.requests >= a.minRequests;
  return {
    at: new Date().toISOString(),
    source: a.source === 'router' ? 'router' : 'prometheus',
    windowSeconds: 'windowSeconds' in measured ? (measured.windowSeconds as number) : undefined,
    step: input.step,
    traffic: input.traffic,
    candidate: c,
    champion: measured.champion,
    checks,
    conclusive,
    passed: !conclusive || checks.every((ch) => ch.passed),
  };
}
