/** `temporal-mlops models ...`: the registry from the terminal (list, show, lineage, live). */
import { deploymentLog, getAlias, liveAt } from '../registry/aliases.js';
import type { ObjectStore } from '../registry/object-store.js';
import type { ApprovalEntry, VerifiedIdentity } from '../sdk/run-types.js';
import { listVersions, readManifest, type Manifest } from '../registry/registry.js';

export const MODELS_USAGE = `  temporal-mlops models list                                    models with their latest version and aliases
  temporal-mlops models show <name>[@<version>|@<alias>]         a version (default: the latest) and its status
  temporal-mlops models lineage <name>@<version>|@<alias>        data, code, params, job, metrics, gate, approvals, deployments
  temporal-mlops models live <name> [--at <ISO time>] [--alias champion]   which version was live at a time`;

async function listModels(store: ObjectStore): Promise<string[]> {
  const keys = await store.list('models/');
  return [...new Set(keys.map((k) => k.split('/')[1]!).filter(Boolean))].sort();
}

/** Resolves `name@3`, `name@champion` or `name` (latest) to a version number. */
async function resolve(store: ObjectStore, ref: string): Promise<{ model: string; version: number }> {
  const [model, at] = ref.split('@') as [string, string | undefined];
  if (!at) {
    const latest = (await listVersions(store, model)).at(-1);
    if (!latest) throw new Error(`No versions of model "${model}" in ${store.root}`);
    return { model, version: latest };
  }
  if (/^\d+$/.test(at)) return { model, version: Number(at) };
  const alias = await getAlias(store, model, at);
  if (!alias) throw new Error(`Model "${model}" has no alias "${at}" in ${store.root}`);
  return { model, version: alias.version };
}

/** The trigger and what it points at: the drift report, the schedule, the new object. */
function describeTrigger(t: Manifest['lineage']['trigger']): string {
  switch (t.kind) {
    case 'drift':
      return `drift (report ${t.reportUri})`;
    case 'schedule':
      return `schedule (${t.scheduleId})`;
    case 'new-data':
      return `new data (${t.objectUri})`;
    default:
      return t.kind;
  }
}

const fmt = (m: Record<string, number>) =>
  Object.entries(m)
    .map(([k, v]) => `${k}=${Number(v.toFixed(4))}`)
    .join(' ');

/** When the run trained several candidates: one line each, the winner marked, and why it won. */
function selectionLines(selection: Manifest['lineage']['selection']): string[] {
  if (!selection) return [];
  return [
    `candidates: ${selection.candidates.length}, winner ${selection.winner} by ${selection.metric}: ${selection.reason}`,
    ...selection.candidates.map(
      (c, i) =>
        `  ${i === selection.winner ? '*' : ' '} ${i}  job ${c.jobKey}  ${JSON.stringify(c.params)}  ${fmt(c.metrics)}`,
    ),
  ];
}

function lineageText(m: Manifest): string {
  const l = m.lineage;
  const code = l.training.code;
  const lines = [
    `${m.model} v${m.version}  (${m.status}, registered ${m.createdAt})`,
    `run:        ${l.workflowId} (run ${l.runId}), trigger ${describeTrigger(l.trigger)}, requested by ${l.requestedBy}`,
    `data:       ${l.snapshot.uri}`,
    `            sha256 ${l.snapshot.sha256}, ${l.snapshot.rows} rows`,
    `code:       ${code ? `${code.command.join(' ')}${code.gitCommit ? ` @ ${code.gitCommit}${code.gitDirty ? ' (uncommitted changes)' : ''}` : ''}${code.image ? ` image ${code.image}` : ''}` : 'unknown'}`,
    `params:     ${JSON.stringify(l.params)}`,
    `training:   job ${l.training.jobKey} on ${l.training.backend}, ${l.training.startedAt} → ${l.training.finishedAt}`,
    `metrics:    ${fmt(m.metrics)}`,
    ...selectionLines(l.selection),
    `gate:       ${l.gate.passed ? 'passed' : 'failed'}; ${l.gate.checks.map((c) => c.reason).join('; ')}${l.gate.champion ? `; ${l.gate.champion.reason}` : ''}`,
  ];
  const a = m.approval;
  lines.push(
    a ? `approval:   ${a.decision} at ${a.decidedAt}; ${a.attempts.length} attempt(s) recorded` : 'approval:   pending',
  );
  for (const x of a?.approvals ?? []) lines.push(`  approved ${formatEntry(x)}`);
  if (a?.rejection) lines.push(`  rejected ${formatEntry(a.rejection)}`);
  lines.push(
    `artifacts:  ${m.artifacts.map((x) => `${x.path} (${x.bytes} B, sha256 ${x.sha256.slice(0, 12)})`).join(', ')}`,
  );
  for (const d of m.deployments) lines.push(`deployed:   ${d.deployedAt} at ${d.predictUrl}`);
  return lines.join('\n');
}

/** Runs a `models` subcommand; returns the exit code. */
export async function modelsCommand(
  store: ObjectStore,
  args: string[],
  options: { at?: string; alias?: string; json: boolean },
): Promise<number> {
  const [sub, ref] = args;
  const out = (text: string, json: unknown) => console.log(options.json ? JSON.stringify(json, null, 2) : text);
  switch (sub) {
    case 'list': {
      const rows = [];
      for (const model of await listModels(store)) {
        const versions = await listVersions(store, model);
        const champion = await getAlias(store, model, 'champion');
        rows.push({
          model,
          versions: versions.length,
          latest: versions.at(-1) ?? null,
          champion: champion?.version ?? null,
        });
      }
      out(
        rows
          .map(
            (r) =>
              `${r.model}  ${r.versions} version(s), latest v${r.latest}${r.champion ? `, champion v${r.champion}` : ''}`,
          )
          .join('\n') || `no models in ${store.root}`,
        rows,
      );
      return 0;
    }
    case 'show':
    case 'lineage': {
      if (!ref) {
        console.error(`models ${sub} needs <name>[@<version>|@<alias>]`);
        return 2;
      }
      const { model, version } = await resolve(store, ref);
      const m = await readManifest(store, model, version);
      if (sub === 'lineage') return (out(lineageText(m), m.lineage), 0);
      out(
        `${m.model} v${m.version}  ${m.status}  ${fmt(m.metrics)}  registered ${m.createdAt} by ${m.lineage.workflowId}\n${m.description}`,
        m,
      );
      return 0;
    }
    case 'live': {
      if (!ref) {
        console.error('models live needs <name>');
        return 2;
      }
      const at = options.at ? new Date(options.at) : new Date();
      if (Number.isNaN(at.getTime())) {
        console.error(`--at "${options.at}" is not a time: use ISO 8601, e.g. 2026-11-17T09:00:00Z`);
        return 2;
      }
      const entry = await liveAt(store, ref, at, options.alias);
      if (!entry) {
        out(`nothing of ${ref} was live (${options.alias ?? 'champion'}) at ${at.toISOString()}`, null);
        return 1;
      }
      const log = await deploymentLog(store, ref, options.alias ?? 'champion');
      const next = log.find((e) => e.seq === entry.seq + 1);
      out(
        `${ref} v${entry.to} was live at ${at.toISOString()}: ${entry.action} at ${entry.at} by ${entry.by} (${entry.reason})${next ? `, until ${next.at}` : ', still live'}`,
        entry,
      );
      return 0;
    }
    default:
      console.error(`Unknown models subcommand "${sub ?? ''}".\n${MODELS_USAGE}`);
      return 2;
  }
}

/** How a person's identity was established: `verified (oidc, issuer …)` or `declared`. */
export function formatIdentity(identity: VerifiedIdentity | undefined): string {
  return identity ? `verified (${identity.via}, issuer ${identity.issuer}, subject ${identity.subject})` : 'declared';
}

/** One approval or rejection: by, verified or declared, issuer, time, comment. */
export function formatEntry(e: ApprovalEntry): string {
  return `by ${e.by} (${formatIdentity(e.identity)}) at ${e.at}: "${e.comment}"`;
}
