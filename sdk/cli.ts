/**
 * `temporal-mlops` CLI: inspect runs and decide approvals.
 *   temporal-mlops show <workflowId>
 *   temporal-mlops approve <workflowId> --by you@acme.com --comment "why"
 *   temporal-mlops reject <workflowId> --by you@acme.com --comment "why"
 * Connection: --address / $TEMPORAL_ADDRESS (default localhost:7233), --namespace / $TEMPORAL_NAMESPACE.
 */
import { parseArgs } from 'node:util';
import { PipelineClient } from './client.js';
import { PipelineError } from './errors.js';
import type { PipelineStatus } from './run-types.js';

const USAGE = `Usage:
  temporal-mlops show <workflowId>                                  stage, metrics, gate, approval trail
  temporal-mlops approve <workflowId> --by EMAIL [--comment TEXT]   approve a waiting candidate
  temporal-mlops reject <workflowId> --by EMAIL [--comment TEXT]    reject a waiting candidate
Options: --address HOST:PORT (or $TEMPORAL_ADDRESS), --namespace NS (or $TEMPORAL_NAMESPACE), --json`;

/** Renders a status for a terminal. */
export function formatStatus(s: PipelineStatus): string {
  const lines = [
    `${s.pipeline} run ${s.runKey}  (model ${s.model}, requested by ${s.requestedBy})`,
    `stage: ${s.stage}   ${Object.entries(s.stages)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  ];
  if (s.snapshot)
    lines.push(`data: ${s.snapshot.rows} rows, sha256 ${s.snapshot.sha256.slice(0, 12)}  ${s.snapshot.uri}`);
  if (s.training)
    lines.push(
      `metrics: ${Object.entries(s.training.metrics)
        .map(([k, v]) => `${k}=${Number(v.toFixed(4))}`)
        .join(' ')}`,
    );
  if (s.gate)
    lines.push(`gate: ${s.gate.passed ? 'passed' : 'FAILED'}  ${s.gate.checks.map((c) => c.reason).join('; ')}`);
  if (s.version) lines.push(`candidate: ${s.version.model} v${s.version.version}  ${s.version.uri}`);
  lines.push(
    `approval: quorum ${s.approval.quorum}${s.approval.approvers.length ? ` of ${s.approval.approvers.join(', ')}` : ''}${s.approval.deadline ? `, deadline ${s.approval.deadline}` : ''}`,
  );
  for (const a of s.approval.attempts) {
    lines.push(
      `  ${a.at} ${a.decision} by ${a.by ?? '?'} via ${a.via}: ${a.accepted ? 'accepted' : `REFUSED (${a.reason})`}${a.comment ? ` "${a.comment}"` : ''}`,
    );
  }
  if (s.approval.record) lines.push(`decision: ${s.approval.record.decision} at ${s.approval.record.decidedAt}`);
  if (s.deployment) lines.push(`deployed: ${s.deployment.predictUrl} (v${s.deployment.version})`);
  if (s.error) lines.push(`error: ${s.error.code}: ${s.error.message}`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      by: { type: 'string' },
      comment: { type: 'string', default: '' },
      address: { type: 'string' },
      namespace: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, workflowId] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (!['show', 'approve', 'reject'].includes(command)) {
    console.error(`Unknown command "${command}".\n${USAGE}`);
    return 2;
  }
  if (!workflowId) {
    console.error(`${command} needs a workflow id, e.g. pipeline/churn/20261122-193005-k3f9\n${USAGE}`);
    return 2;
  }
  const client = await PipelineClient.connect({ address: values.address, namespace: values.namespace });
  try {
    if (command === 'show') {
      const status = await client.status(workflowId);
      console.log(values.json ? JSON.stringify(status, null, 2) : formatStatus(status));
      return 0;
    }
    if (!values.by) {
      console.error(`${command} needs --by EMAIL: who decides is part of the audit record`);
      return 2;
    }
    const decision = command as 'approve' | 'reject';
    const before = (await client.status(workflowId)).approval.attempts.length;
    await client[decision](workflowId, { by: values.by, comment: values.comment });
    // The workflow records the attempt; read it back to tell accepted from refused.
    for (let i = 0; i < 50; i++) {
      const status = await client.status(workflowId);
      const attempt = status.approval.attempts[before];
      if (attempt) {
        if (attempt.accepted) {
          console.log(`${decision} by ${attempt.by} accepted for ${workflowId}`);
          return 0;
        }
        console.error(`${decision} refused: ${attempt.reason}`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    console.error(
      `${decision} sent, but the run has not recorded it yet; check with: temporal-mlops show ${workflowId}`,
    );
    return 1;
  } catch (err) {
    if (err instanceof PipelineError) {
      console.error(`${err.code}: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await client.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
