/**
 * `temporal-mlops` CLI: find what waits for a decision, inspect runs, decide, read decision records, serve the
 * codec for the Web UI. Connects like the Temporal CLI (sdk/connection.ts): a temporal.toml profile (--profile or
 * $TEMPORAL_PROFILE), the TEMPORAL_* variables (address, namespace, API key, TLS) over it, --address and
 * --namespace over both. Payloads are decrypted with $MLOPS_ENCRYPTION_KEYS / $MLOPS_ENCRYPTION_KEYS_FILE.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { openObjectStore } from '../registry/object-store.js';
import { readManifest } from '../registry/registry.js';
import { DATA_USAGE, dataCommand } from './data.js';
import { formatEntry, formatIdentity, MODELS_USAGE, modelsCommand } from './models.js';
import { codecApprovalIdentity, resolveIdToken } from './approval-identity.js';
import { SERVING_USAGE, collectCommand, serveCommand } from './serving.js';
import { PipelineClient } from '../sdk/client.js';
import { startCodecServer } from '../sdk/codec-server.js';
import { encryptionFromEnv } from '../sdk/encryption.js';
import { formatDuration } from '../sdk/duration.js';
import { PipelineError } from '../sdk/errors.js';
import type { ApprovalRecord, PipelineStatus } from '../sdk/run-types.js';

const USAGE = `Usage:
  temporal-mlops pending [--pipeline NAME]                          runs awaiting approval: model, version, metrics, age
  temporal-mlops show <workflowId>                                  stage, metrics, gate, approval trail
  temporal-mlops approve <workflowId> --by EMAIL [--comment TEXT]   approve a waiting candidate (exit 1 if refused)
  temporal-mlops reject <workflowId> --by EMAIL [--comment TEXT]    reject a waiting candidate (exit 1 if refused)
      proof of who decides (approval identity 'verified'): --id-token JWT | --id-token-file FILE |
      --id-token-command 'gcloud auth print-identity-token' (or $MLOPS_ID_TOKEN, $MLOPS_ID_TOKEN_COMMAND)
  temporal-mlops decision <model>@<version> [--store URI]           the decision record kept in the registry
  temporal-mlops setup-search-attributes                            register Mlops* search attributes (once per cluster)
  temporal-mlops codec-server [--port 8081] [--host 127.0.0.1] [--ui-origin URL]...
                                  decrypt payloads for the Web UI (keys from $MLOPS_ENCRYPTION_KEYS[_FILE];
                                  bearer token check with $MLOPS_CODEC_SERVER_TOKEN)
      vouch for Web UI approvers: --ui-issuer URL --ui-audience CLIENT_ID --assertion-key-file PEM
      [--assertion-kid KID] [--assertion-issuer NAME] (see README, Verified approvers)
${MODELS_USAGE}
${DATA_USAGE}
${SERVING_USAGE}
Options: --profile NAME (or $TEMPORAL_PROFILE; from temporal.toml, see \`temporal config\`), --address HOST:PORT
         (or $TEMPORAL_ADDRESS), --namespace NS (or $TEMPORAL_NAMESPACE), --json
         TLS and API keys: $TEMPORAL_API_KEY, $TEMPORAL_TLS_SERVER_CA_CERT_PATH, $TEMPORAL_TLS_CLIENT_CERT_PATH,
         $TEMPORAL_TLS_CLIENT_KEY_PATH, $TEMPORAL_TLS_SERVER_NAME, or the same keys in the profile
         --store URI (or $MLOPS_STORE; default file://$MLOPS_HOME/store, MLOPS_HOME defaulting to ./.mlops)`;

const fmtMetrics = (m: Record<string, number>) =>
  Object.entries(m)
    .map(([k, v]) => `${k}=${Number(v.toFixed(4))}`)
    .join(' ');

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
  if (s.training) lines.push(`metrics: ${fmtMetrics(s.training.metrics)}`);
  if (s.gate)
    lines.push(`gate: ${s.gate.passed ? 'passed' : 'FAILED'}  ${s.gate.checks.map((c) => c.reason).join('; ')}`);
  if (s.version) lines.push(`candidate: ${s.version.model} v${s.version.version}  ${s.version.uri}`);
  const who = s.approval.approvers.length ? ` of ${s.approval.approvers.join(', ')}` : ' (anyone)';
  lines.push(
    `approval: quorum ${s.approval.quorum}${who}${s.approval.deadline ? `, deadline ${s.approval.deadline}` : ''}${s.approval.escalated ? `, ESCALATED at ${s.approval.escalated.at}` : ''}`,
  );
  lines.push(...formatAttempts(s.approval.attempts));
  if (s.approval.record) lines.push(`decision: ${s.approval.record.decision} at ${s.approval.record.decidedAt}`);
  if (s.deployment) lines.push(`deployed: ${s.deployment.predictUrl} (v${s.deployment.version})`);
  if (s.error) lines.push(`error: ${s.error.code}: ${s.error.message}`);
  return lines.join('\n');
}

function formatAttempts(attempts: PipelineStatus['approval']['attempts']): string[] {
  return attempts.map(
    (a) =>
      `  ${a.at} ${a.decision} by ${a.by ?? '?'} via ${a.via}${a.identity ? ` (${formatIdentity(a.identity)})` : ''}: ${a.accepted ? 'accepted' : `REFUSED (${a.reason})`}${a.comment ? ` "${a.comment}"` : ''}`,
  );
}

/** Renders a decision record from the registry. */
export function formatDecision(model: string, version: number, status: string, record: ApprovalRecord): string {
  return [
    `${model} v${version}: ${status}`,
    `decision: ${record.decision} at ${record.decidedAt} (requested by ${record.requestedBy})`,
    `policy: quorum ${record.policy.quorum} of ${record.policy.approvers.join(', ') || 'anyone'}; separation of duties ${record.policy.separationOfDuties ? 'on' : 'off'}; timeout ${formatDuration(record.policy.timeoutMs)} then ${record.policy.onTimeout}`,
    ...(record.escalated ? [`escalated at ${record.escalated.at} to ${record.escalated.approvers.join(', ')}`] : []),
    ...(record.policy.identity ? [`identity: ${record.policy.identity}`] : []),
    ...record.approvals.map((a) => `approved ${formatEntry(a)}`),
    ...(record.rejection ? [`rejected ${formatEntry(record.rejection)}`] : []),
    'attempts:',
    ...formatAttempts(record.attempts),
  ].join('\n');
}

function storeUri(flag?: string): string {
  if (flag) return flag;
  if (process.env.MLOPS_STORE) return process.env.MLOPS_STORE;
  return pathToFileURL(path.resolve(process.env.MLOPS_HOME ?? '.mlops', 'store')).href;
}

async function decisionCommand(ref: string, values: { store?: string; json: boolean }): Promise<number> {
  const m = /^([a-z][a-z0-9-]*)@(\d+)$/.exec(ref);
  if (!m) {
    console.error(`decision needs <model>@<version>, e.g. breast-cancer-classifier@3 (got "${ref}")`);
    return 2;
  }
  const manifest = await readManifest(openObjectStore(storeUri(values.store)), m[1]!, Number(m[2]));
  if (!manifest.approval) {
    console.error(`${ref} has no decision yet (status ${manifest.status})`);
    return 1;
  }
  console.log(
    values.json
      ? JSON.stringify(manifest.approval, null, 2)
      : formatDecision(manifest.model, manifest.version, manifest.status, manifest.approval),
  );
  return 0;
}

/** `codec-server`: serves until SIGINT/SIGTERM. */
async function codecServerCommand(
  values: { port?: string; host?: string; 'ui-origin'?: string[] } & Parameters<typeof codecApprovalIdentity>[0],
): Promise<number> {
  const codec = encryptionFromEnv();
  if (!codec) {
    console.error(
      'codec-server needs the keys: set MLOPS_ENCRYPTION_KEYS (id=base64key,...) or MLOPS_ENCRYPTION_KEYS_FILE',
    );
    return 2;
  }
  const port = Number(values.port ?? 8081);
  const origins = values['ui-origin']?.length
    ? values['ui-origin']
    : ['http://localhost:8233', 'http://127.0.0.1:8233'];
  let approvalIdentity;
  try {
    approvalIdentity = codecApprovalIdentity(values);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const server = await startCodecServer({
    codec,
    port,
    host: values.host,
    allowedOrigins: origins,
    token: process.env.MLOPS_CODEC_SERVER_TOKEN || undefined,
    log: (line) => console.error(line),
    approvalIdentity,
  });
  console.log(
    `codec server listening on ${server.url} (keys ${codec.keyIds.join(', ')}; UI origins ${origins.join(', ')}${process.env.MLOPS_CODEC_SERVER_TOKEN ? '; bearer token required' : ''}${approvalIdentity ? `; vouching for Web UI approvers of ${approvalIdentity.issuers[0]!.issuer}, assertions at ${server.url}/.well-known/jwks.json` : ''})`,
  );
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  await server.close();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  // serve and collect take their own options (and, for serve, a server command after "--").
  if (argv[0] === 'serve' || argv[0] === 'collect') {
    try {
      return await (argv[0] === 'serve' ? serveCommand : collectCommand)(argv.slice(1), storeUri);
    } catch (err) {
      console.error(`${argv[0]}: ${(err as Error).message}`);
      return 2;
    }
  }
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      by: { type: 'string' },
      comment: { type: 'string', default: '' },
      pipeline: { type: 'string' },
      store: { type: 'string' },
      at: { type: 'string' },
      alias: { type: 'string' },
      address: { type: 'string' },
      namespace: { type: 'string' },
      profile: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'ui-origin': { type: 'string', multiple: true },
      'id-token': { type: 'string' },
      'id-token-file': { type: 'string' },
      'id-token-command': { type: 'string' },
      'ui-issuer': { type: 'string' },
      'ui-audience': { type: 'string', multiple: true },
      'assertion-key-file': { type: 'string' },
      'assertion-kid': { type: 'string' },
      'assertion-issuer': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, target] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (command === 'data') return dataCommand(positionals.slice(1), values);
  if (command === 'models') {
    try {
      return await modelsCommand(openObjectStore(storeUri(values.store)), positionals.slice(1), values);
    } catch (err) {
      console.error((err as Error).message);
      return 1;
    }
  }
  if (command === 'codec-server') return codecServerCommand(values);
  const needsTarget = ['show', 'approve', 'reject', 'decision'];
  if (![...needsTarget, 'pending', 'setup-search-attributes'].includes(command)) {
    console.error(`Unknown command "${command}".\n${USAGE}`);
    return 2;
  }
  if (needsTarget.includes(command) && !target) {
    console.error(
      `${command} needs ${command === 'decision' ? '<model>@<version>' : 'a workflow id, e.g. pipeline/churn/20261122-193005-k3f9'}\n${USAGE}`,
    );
    return 2;
  }
  if (command === 'decision') return decisionCommand(target!, values);
  if ((command === 'approve' || command === 'reject') && !values.by) {
    console.error(`${command} needs --by EMAIL: who decides is part of the audit record`);
    return 2;
  }

  let client: PipelineClient;
  try {
    client = await PipelineClient.connect({
      address: values.address,
      namespace: values.namespace,
      profile: values.profile,
    });
  } catch (err) {
    if (!(err instanceof PipelineError)) throw err;
    console.error(`${err.code}: ${err.message}`);
    return 1;
  }
  try {
    switch (command) {
      case 'pending': {
        const started = performance.now();
        const runs = await client.pending({ pipeline: values.pipeline });
        if (values.json) {
          console.log(JSON.stringify(runs, null, 2));
          return 0;
        }
        for (const r of runs) {
          console.log(
            `${r.workflowId}  ${r.model} v${r.version ?? '?'}  ${fmtMetrics(r.metrics)}  waiting ${formatDuration(r.ageMs)}`,
          );
        }
        console.log(`${runs.length} run(s) awaiting approval (${Math.round(performance.now() - started)} ms)`);
        return 0;
      }
      case 'setup-search-attributes':
        await client.setupSearchAttributes();
        console.log('Registered MlopsPipeline, MlopsModel, MlopsStage (Keyword) and MlopsModelVersion (Int).');
        return 0;
      case 'show': {
        const status = await client.status(target!);
        console.log(values.json ? JSON.stringify(status, null, 2) : formatStatus(status));
        return 0;
      }
      default: {
        const decision = command as 'approve' | 'reject';
        const idToken = await resolveIdToken(values);
        const attempt = await client[decision](
          target!,
          { by: values.by!, comment: values.comment },
          { idToken, store: values.store ?? process.env.MLOPS_STORE },
        );
        console.log(`${decision} by ${attempt.by} accepted for ${target} (${formatIdentity(attempt.identity)})`);
        return 0;
      }
    }
  } catch (err) {
    if (err instanceof PipelineError) {
      console.error(err.code === 'ApprovalRefused' ? `refused: ${err.message}` : `${err.code}: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await client.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
