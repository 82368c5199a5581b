/** What the Temporal Web UI shows of a run: search attributes to filter by, and the details panel. */
import type { GateReport, PipelineStatus, RegisteredVersion, TrainingResult } from '../sdk/run-types.js';

export { SEARCH_ATTRIBUTE_KEYS } from './messages.js';

/** The `MlopsStage` value: the stage name, with the approval wait spelled as what a person looks for. */
export function searchStage(stage: PipelineStatus['stage']): string {
  return stage === 'approval' ? 'awaiting-approval' : stage;
}

/** Markdown for the UI's details panel, next to the Send a Signal button. */
export function approvalDetails(
  version: RegisteredVersion,
  training: TrainingResult,
  gate: GateReport,
  approvers: string[],
  quorum: number,
): string {
  const metrics = Object.entries(training.metrics)
    .map(([k, v]) => `| ${k} | ${Number(v.toFixed(6))} |`)
    .join('\n');
  const checks = gate.checks.map((c) => `- ${c.passed ? 'PASS' : 'FAIL'}: ${c.reason}`).join('\n');
  return [
    `## ${version.model} v${version.version} awaits approval`,
    `Send the **approve** or **reject** signal with \`{"by": "you@company.com", "comment": "why"}\`.`,
    `Needs ${quorum} approval(s)${approvers.length ? ` from: ${approvers.join(', ')}` : ''}.`,
    '',
    '| metric | value |',
    '|---|---|',
    metrics,
    '',
    '**Gate**',
    '',
    checks,
    '',
    `Registry: ${version.manifestUri}`,
  ].join('\n');
}
