/** Validation gate: metric thresholds. Pure, sandbox-safe. */
import type { GateSpec } from './spec/pipeline.js';
import type { GateCheck, GateReport } from './run-types.js';

/**
 * Checks every gated metric against its bounds; a missing metric fails its check (fail closed).
 *
 * @example evaluateGate({ metrics: { auc: { min: 0.8 } } }, { auc: 0.91 }) // { passed: true, checks: [...] }
 */
export function evaluateGate(gate: GateSpec, metrics: Record<string, number>): GateReport {
  const checks: GateCheck[] = Object.entries(gate.metrics).map(([metric, bounds]) => {
    const value = metrics[metric];
    const check: GateCheck = { metric, value: value ?? null, passed: false, reason: '' };
    if (bounds.min !== undefined) check.min = bounds.min;
    if (bounds.max !== undefined) check.max = bounds.max;
    if (value === undefined || !Number.isFinite(value)) {
      check.reason = `${metric} is missing from metrics.json (have: ${Object.keys(metrics).join(', ') || 'none'})`;
    } else if (bounds.min !== undefined && value < bounds.min) {
      check.reason = `${metric} = ${value} is below the minimum ${bounds.min}`;
    } else if (bounds.max !== undefined && value > bounds.max) {
      check.reason = `${metric} = ${value} is above the maximum ${bounds.max}`;
    } else {
      check.passed = true;
      check.reason = `${metric} = ${value} within [${bounds.min ?? '-inf'}, ${bounds.max ?? 'inf'}]`;
    }
    return check;
  });
  return { passed: checks.every((c) => c.passed), checks };
}
