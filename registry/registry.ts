/**
 * The model registry in an object store (DESIGN.md §3):
 * `models/<name>/versions/<n>/{claim.json, artifacts/..., manifest.json}`, `models/<name>/deployments/*.json`.
 * Artifacts are written first and `manifest.json` last, so a manifest never points at missing files.
 * Version numbers are claimed with create-only writes, so concurrent registrations never collide.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { activityContext } from './activity-context.js';
import { fnv1a64 } from '../sdk/ids.js';
import type {
  ApprovalRecord,
  CandidateSelection,
  DataSnapshot,
  Deployment,
  GateReport,
  RegisteredVersion,
  SkewReport,
  TrainingResult,
  Trigger,
} from '../sdk/run-types.js';
import { z } from 'zod';
import { getAlias, moveAlias } from './aliases.js';
import { gcsObject } from './gcs-object-store.js';
import {
  getJson,
  localPathOf,
  PreconditionFailedError,
  sha256Hex,
  updateJson,
  type ObjectStore,
} from './object-store.js';

/** Everything that produced a model version. */
export interface Lineage {
  pipeline: string;
  runKey: string;
  workflowId: string;
  runId: string;
  requestedBy: string;
  trigger: Trigger;
  params: Record<string, string | number | boolean>;
  snapshot: DataSnapshot;
  training: TrainingResult;
  gate: GateReport;
  /** When the run trained several candidates: all of them and why this one won. */
  selection?: CandidateSelection;
}

/**
 * A part of the manifest this module wrote as `T` and readers trust as stored: accepted as it is, typed as `T`.
 * With `checks`, the fields readers rely on are checked first (a manifest missing one is rejected by name).
 */
function stored<T>(checks?: z.ZodType): z.ZodType<T> {
  return checks ? checks.transform((value) => value as T) : z.custom<T>();
}

const ArtifactEntrySchema = z.object({ path: z.string(), uri: z.string(), sha256: z.string(), bytes: z.number() });

/** One file of a version's artifacts, with its checksum. */
export type ArtifactEntry = z.infer<typeof ArtifactEntrySchema>;

/**
 * `manifest.json` of a model version. Loose objects: fields added by a later version of this package are
 * kept as they are when the manifest is updated.
 */
export const ManifestSchema = z.looseObject({
  schema: z.literal('temporal-mlops/manifest@1'),
  model: z.string(),
  version: z.number().int().positive(),
  description: stored<string>(),
  createdAt: z.string(),
  status: z.enum(['pending-approval', 'approved', 'rejected', 'timed-out']),
  lineage: stored<Lineage>(
    z.looseObject({
      workflowId: z.string(),
      snapshot: z.looseObject({ uri: z.string(), sha256: z.string() }),
      training: z.looseObject({ jobKey: z.string() }),
    }),
  ),
  metrics: z.record(z.string(), z.number()),
  artifacts: z.array(ArtifactEntrySchema),
  approval: stored<ApprovalRecord>().optional(),
  /** The latest skew gate's report: served against offline predictions, before the version got any traffic. */
  skew: stored<SkewReport>().optional(),
  deployments: z.array(stored<Deployment>()),
});

/** `manifest.json` of a model version (see `ManifestSchema`). */
export type Manifest = z.infer<typeof ManifestSchema>;

/** The `registerModel` activity's input: the model's name, its description and everything that produced it. */
export interface RegisterInput {
  model: string;
  store?: string;
  description: string;
  lineage: Lineage;
}

const versionsPrefix = (model: string) => `models/${model}/versions/`;
const versionKey = (model: string, version: number, file: string) => `models/${model}/versions/${version}/${file}`;

/** Where a version's artifacts live in the store (a key prefix ending in `/`). */
export const artifactsPrefix = (model: string, version: number) => versionKey(model, version, 'artifacts/');

/** Version numbers present under a model, ascending. */
export async function listVersions(store: ObjectStore, model: string): Promise<number[]> {
  const keys = await store.list(versionsPrefix(model));
  const numbers = new Set<number>();
  for (const key of keys) {
    const n = Number(key.slice(versionsPrefix(model).length).split('/')[0]);
    if (Number.isInteger(n) && n > 0) numbers.add(n);
  }
  return [...numbers].sort((a, b) => a - b);
}

const runIndexKey = (model: string, lineage: Lineage) =>
  `models/${model}/runs/${fnv1a64(`${lineage.workflowId}\u0000${lineage.runId}`)}.json`;

/** The version this run claimed on an earlier attempt, from the run index or (after a crash) the claims. */
async function findClaim(store: ObjectStore, model: string, lineage: Lineage): Promise<number | undefined> {
  const indexed = await getJson<{ version: number }>(store, runIndexKey(model, lineage));
  if (indexed) return indexed.value.version;
  for (const n of (await listVersions(store, model)).reverse()) {
    const claim = await getJson<{ workflowId: string; runId: string }>(store, versionKey(model, n, 'claim.json'));
    if (claim?.value.workflowId === lineage.workflowId && claim.value.runId === lineage.runId) return n;
  }
  return undefined;
}

/** Claims the next version for this run with a create-only write, or returns the one it claimed before. */
async function claimVersion(store: ObjectStore, model: string, lineage: Lineage): Promise<number> {
  const earlier = await findClaim(store, model, lineage);
  if (earlier !== undefined) return earlier;
  let next = ((await listVersions(store, model)).at(-1) ?? 0) + 1;
  const claim = JSON.stringify({
    workflowId: lineage.workflowId,
    runId: lineage.runId,
    claimedAt: new Date().toISOString(),
  });
  for (;;) {
    try {
      await store.put(versionKey(model, next, 'claim.json'), claim, { ifGeneration: 'absent' });
      break;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      next++;
    }
  }
  await store
    .put(runIndexKey(model, lineage), JSON.stringify({ version: next }), { ifGeneration: 'absent' })
    .catch((err) => {
      if (!(err instanceof PreconditionFailedError)) throw err;
    });
  return next;
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** The register activity: artifacts, then the lineage manifest. Idempotent per workflow run. */
export async function registerModel(store: ObjectStore, input: RegisterInput): Promise<RegisteredVersion> {
  const { model, lineage } = input;
  const version = await claimVersion(store, model, lineage);
  const manifestKey = versionKey(model, version, 'manifest.json');
  const result = {
    model,
    version,
    uri: `${store.uri(`models/${model}/versions/${version}`)}/`,
    manifestUri: store.uri(manifestKey),
  };
  if (await store.get(manifestKey)) return result;

  const artifacts: ArtifactEntry[] = [];
  const modelUri = lineage.training.modelUri;
  if (modelUri.startsWith('gs://')) {
    // A cloud job's model directory: copy object by object into the registry.
    const { store: source, key: prefix } = gcsObject(modelUri.endsWith('/') ? modelUri : `${modelUri}/`);
    for (const objectKey of await source.list(prefix)) {
      const obj = await source.get(objectKey);
      if (!obj) continue;
      const rel = objectKey.slice(prefix.length);
      const key = versionKey(model, version, `artifacts/${rel}`);
      await store.put(key, obj.data);
      artifacts.push({ path: rel, uri: store.uri(key), sha256: sha256Hex(obj.data), bytes: obj.data.length });
      activityContext()?.heartbeat({ uploaded: artifacts.length });
    }
  } else {
    const modelDir = localPathOf(modelUri);
    for (const rel of await listFiles(modelDir)) {
      const key = versionKey(model, version, `artifacts/${rel.split(path.sep).join('/')}`);
      const { sha256, bytes } = await store.putFile(key, path.join(modelDir, rel));
      artifacts.push({ path: rel, uri: store.uri(key), sha256, bytes });
      activityContext()?.heartbeat({ uploaded: artifacts.length });
    }
  }
  const manifest: Manifest = {
    schema: 'temporal-mlops/manifest@1',
    model,
    version,
    description: input.description,
    createdAt: new Date().toISOString(),
    status: 'pending-approval',
    lineage,
    metrics: lineage.training.metrics,
    artifacts,
    deployments: [],
  };
  await store.put(manifestKey, JSON.stringify(manifest, null, 2), { ifGeneration: 'absent' }).catch((err) => {
    if (!(err instanceof PreconditionFailedError)) throw err;
  });
  activityContext()?.log.info(`register: ${model} v${version} at ${result.uri} (${artifacts.length} artifacts)`);
  return result;
}

/** Reads a version's manifest; a missing, corrupt or foreign one is an error naming the object. */
export async function readManifest(store: ObjectStore, model: string, version: number): Promise<Manifest> {
  const key = versionKey(model, version, 'manifest.json');
  const found = await getJson<unknown>(store, key);
  if (!found) throw new Error(`No manifest at ${store.uri(key)}: ${model} v${version} is not registered`);
  const parsed = ManifestSchema.safeParse(found.value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `${store.uri(key)} is not a valid temporal-mlops manifest (${issue?.path.join('.') || 'root'}: ${issue?.message}); was it written by another tool, or corrupted?`,
    );
  }
  return parsed.data;
}

function updateManifest(
  store: ObjectStore,
  version: RegisteredVersion,
  change: (m: Manifest) => void,
): Promise<Manifest> {
  return updateJson<Manifest>(store, versionKey(version.model, version.version, 'manifest.json'), (current) => {
    if (!current) throw new Error(`No manifest for ${version.model} v${version.version} at ${version.manifestUri}`);
    change(current);
    return current;
  });
}

/** Writes the approval decision record into the version's manifest. */
export async function recordApproval(
  store: ObjectStore,
  version: RegisteredVersion,
  record: ApprovalRecord,
): Promise<void> {
  const status: Manifest['status'] = record.decision === 'not-required' ? 'approved' : record.decision;
  await updateManifest(store, version, (m) => {
    m.approval = record;
    m.status = status;
  });
}

/** Writes the skew gate's report into the version's manifest (its decision record), passed or not. */
export async function recordSkew(store: ObjectStore, version: RegisteredVersion, report: SkewReport): Promise<void> {
  await updateManifest(store, version, (m) => {
    m.skew = report;
  });
}

/**
 * Writes a rolled-back rollout into the `champion` deployment log with its analysis: an entry that keeps the
 * alias on its version (there is nothing to log against before a model's first deployment).
 */
export async function recordRollback(
  store: ObjectStore,
  version: RegisteredVersion,
  details: { reason: string; report: unknown; workflowId: string; by: string },
): Promise<void> {
  if (!(await getAlias(store, version.model, 'champion'))) return;
  await moveAlias(store, version.model, 'champion', {
    action: 'canary-rollback',
    to: 'unchanged',
    by: details.by,
    reason: `v${version.version} rolled back: ${details.reason}`,
    workflowId: details.workflowId,
    report: { candidate: version.version, analysis: details.report },
  });
}

/**
 * Records a deployment in the version's manifest and moves the `champion` alias to it (one deployment log
 * entry). Idempotent for a retried activity of the same run.
 */
export async function recordDeployment(
  store: ObjectStore,
  version: RegisteredVersion,
  deployment: Deployment,
  workflowId: string,
  by: string,
): Promise<void> {
  await updateManifest(store, version, (m) => {
    if (!m.deployments.some((d) => d.deployedAt === deployment.deployedAt)) m.deployments.push(deployment);
  });
  const champion = await getAlias(store, version.model, 'champion');
  if (champion?.version === version.version) return;
  await moveAlias(store, version.model, 'champion', {
    action: 'deploy',
    to: version.version,
    by,
    reason: `deployed by ${workflowId}`,
    endpoint: deployment.predictUrl,
    workflowId,
  });
}
