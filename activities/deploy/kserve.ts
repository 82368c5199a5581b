/**
 * The `kserve` deploy target: one InferenceService (serving.kserve.io/v1beta1) per model. A candidate is a
 * patch of `spec.predictor.model.storageUri` with `canaryTrafficPercent: 0`: KServe creates its revision and
 * keeps the previously rolled-out one serving everything; the candidate counts as healthy once its revision
 * is the latest ready one (a failed or late revision fails before any traffic moves, and the patch is undone).
 * Rollout steps set `canaryTrafficPercent`; promotion removes it (KServe rolls the candidate out to 100 %);
 * a rollback sets it to 0, which gives all traffic back to the previous revision.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ApiException, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Deployment } from '../../sdk/run-types.js';
import { targetOf, type KServeTarget } from '../../sdk/spec/deploy.js';
import type { DeployInput } from './local/deploy.js';
import type { ObjectStore } from '../../registry/object-store.js';
import type { CandidateServers } from './types.js';
import { artifactsPrefix } from '../../registry/registry.js';
import { kubePollMs } from '../platform/poll-intervals.js';
import { pollUntil } from '../platform/poll.js';

const GROUP = 'serving.kserve.io';
const VERSION = 'v1beta1';
const PLURAL = 'inferenceservices';
export const VERSION_ANNOTATION = 'mlops.temporal.io/model-version';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
export interface InferenceService {
  metadata: { name: string; namespace?: string; generation?: number; annotations?: Record<string, string> };
  spec: { predictor: { canaryTrafficPercent?: number; model?: { storageUri?: string } } & Record<string, unknown> };
  status?: {
    observedGeneration?: number;
    url?: string;
    conditions?: Condition[];
    components?: {
      predictor?: {
        latestCreatedRevision?: string;
        latestReadyRevision?: string;
        latestRolledoutRevision?: string;
        previousRolledoutRevision?: string;
      };
    };
  };
}

const clients = new Map<string, CustomObjectsApi>();

/** One client per kubeconfig context for the worker's life (the kubeconfig is read once, not per call). */
function api(t: KServeTarget): CustomObjectsApi {
  const key = t.context ?? '';
  let client = clients.get(key);
  if (!client) {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    if (t.context) kc.setCurrentContext(t.context);
    clients.set(key, (client = kc.makeApiClient(CustomObjectsApi)));
  }
  return client;
}

const nameOf = (t: KServeTarget, model: string) => t.name ?? model.toLowerCase().replace(/[^a-z0-9-]/g, '-');

async function read(t: KServeTarget, name: string): Promise<InferenceService | undefined> {
  try {
    return (await api(t).getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: t.namespace,
      plural: PLURAL,
      name,
    })) as InferenceService;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw kubeFailure(err, `reading InferenceService ${t.namespace}/${name}`);
  }
}

function kubeFailure(err: unknown, what: string): Error {
  if (err instanceof ApiException && err.code !== 429 && err.code < 500) {
    const hint = err.code === 404 ? ' (is KServe installed? the InferenceService CRD is missing)' : '';
    return ApplicationFailure.nonRetryable(
      `${what}: HTTP ${err.code} ${String(err.body).slice(0, 300)}${hint}`,
      'DeployFailed',
    );
  }
  return new Error(`${what}: ${(err as Error).message}`);
}

/** A JSON merge patch of the InferenceService (null removes a field). */
async function patch(t: KServeTarget, name: string, body: unknown): Promise<InferenceService> {
  try {
    return (await api(t).patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace: t.namespace, plural: PLURAL, name, body },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as InferenceService;
  } catch (err) {
    throw kubeFailure(err, `patching InferenceService ${t.namespace}/${name}`);
  }
}

function condition(isvc: InferenceService, type: string): Condition | undefined {
  return isvc.status?.conditions?.find((c) => c.type === type);
}

/** Waits until the generation `gen` is observed and its latest revision is ready; fails on a failed revision. */
async function waitReady(t: KServeTarget, name: string, gen: number): Promise<InferenceService> {
  const ctx = Context.current();
  const ready = await pollUntil(
    async () => {
      const isvc = await read(t, name);
      const p = isvc?.status?.components?.predictor;
      if (isvc && (isvc.status?.observedGeneration ?? 0) >= gen) {
        if (p?.latestCreatedRevision && p.latestReadyRevision === p.latestCreatedRevision) return isvc;
        const predictorReady = condition(isvc, 'PredictorReady');
        if (predictorReady?.status === 'False')
          throw ApplicationFailure.nonRetryable(
            `The candidate revision ${p?.latestCreatedRevision ?? ''} of ${t.namespace}/${name} failed: ${predictorReady.reason ?? ''} ${predictorReady.message ?? ''}`,
            'DeployFailed',
          );
      }
      ctx.heartbeat({ waitingFor: `${t.namespace}/${name} revision ready`, revision: p?.latestCreatedRevision });
      return undefined;
    },
    {
      intervalMs: kubePollMs(),
      timeoutMs: t.healthTimeout,
      signal: ctx.cancellationSignal,
      what: `the candidate revision of ${t.namespace}/${name}`,
    },
  );
  if (!ready)
    throw ApplicationFailure.nonRetryable(
      `The candidate revision of ${t.namespace}/${name} was not ready within ${t.healthTimeout} ms`,
      'DeployFailed',
    );
  return ready;
}

function predictorModel(t: KServeTarget, store: ObjectStore, model: string, version: number) {
  return {
    modelFormat: { name: t.modelFormat },
    storageUri: store.uri(artifactsPrefix(model, version)),
    ...(t.runtime ? { runtime: t.runtime } : {}),
  };
}

/** Points the InferenceService at the candidate with no traffic, and waits for its revision to be ready. */
export async function startKServeCandidate(input: DeployInput, store: ObjectStore): Promise<CandidateServers> {
  const t = targetOf(input.deploy, 'kserve');
  const { model, version } = input.version;
  const name = nameOf(t, model);
  const candidateModel = predictorModel(t, store, model, version);
  const existing = await read(t, name);
  if (!existing) {
    const body = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'InferenceService',
      metadata: { name, namespace: t.namespace, annotations: { [VERSION_ANNOTATION]: String(version) } },
      spec: {
        predictor: { model: candidateModel, ...(t.serviceAccount ? { serviceAccountName: t.serviceAccount } : {}) },
      },
    };
    const created = (await api(t)
      .createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: t.namespace, plural: PLURAL, body })
      .catch((err: unknown) => {
        throw kubeFailure(err, `creating InferenceService ${t.namespace}/${name}`);
      })) as InferenceService;
    const ready = await waitReady(t, name, created.metadata.generation ?? 1);
    return { candidate: { version, endpoint: ready.status!.components!.predictor!.latestReadyRevision! } };
  }
  const championVersion = Number(existing.metadata.annotations?.[VERSION_ANNOTATION]);
  const championRevision = existing.status?.components?.predictor?.latestRolledoutRevision;
  const champion =
    championVersion && championRevision && championVersion !== version
      ? { version: championVersion, endpoint: championRevision }
      : undefined;
  const alreadyOurs = existing.spec.predictor.model?.storageUri === candidateModel.storageUri;
  const patched = alreadyOurs
    ? existing
    : await patch(t, name, { spec: { predictor: { model: candidateModel, canaryTrafficPercent: 0 } } });
  try {
    const ready = await waitReady(t, name, patched.metadata.generation ?? 1);
    const revision = ready.status!.components!.predictor!.latestReadyRevision!;
    Context.current().log.info(`deploy: ${t.namespace}/${name} revision ${revision} ready with no traffic`);
    return { candidate: { version, endpoint: revision }, champion };
  } catch (err) {
    // Leave the InferenceService as it was: the champion's model, no canary.
    if (existing.spec.predictor.model)
      await patch(t, name, {
        spec: { predictor: { model: existing.spec.predictor.model, canaryTrafficPercent: null } },
      }).catch(() => undefined);
    throw err;
  }
}

/** Sends `percent` of the traffic to the candidate's revision (100: no canary, the candidate rolled out). */
export async function routeKServeTraffic(t: KServeTarget, model: string, percent: number) {
  const name = nameOf(t, model);
  const isvc = await patch(t, name, { spec: { predictor: { canaryTrafficPercent: percent >= 100 ? null : percent } } });
  return { routerEndpoint: isvc.status?.url ?? `${t.namespace}/${name}` };
}

/** Marks the rolled-out version on the object (the next rollout's champion). */
export async function promoteKServe(t: KServeTarget, model: string, version: number, rollout: Deployment['rollout']) {
  const name = nameOf(t, model);
  const isvc = await patch(t, name, {
    metadata: { annotations: { [VERSION_ANNOTATION]: String(version) } },
    spec: { predictor: { canaryTrafficPercent: null } },
  });
  const url = isvc.status?.url ?? `http://${name}.${t.namespace}`;
  return {
    target: 'kserve',
    model,
    version,
    endpoint: url,
    predictUrl: `${url}/v1/models/${name}:predict`,
    deployedAt: new Date().toISOString(),
    rollout,
  } satisfies Deployment;
}

/**
 * All traffic back to the previously rolled-out revision at once (`canaryTrafficPercent: 0`), then the spec
 * back to the champion's model, so the object describes what serves and the next rollout starts clean.
 */
export async function rollBackKServe(
  t: KServeTarget,
  model: string,
  store: ObjectStore,
  championVersion: number | undefined,
): Promise<void> {
  const name = nameOf(t, model);
  await patch(t, name, { spec: { predictor: { canaryTrafficPercent: 0 } } });
  if (championVersion === undefined) return;
  await patch(t, name, {
    spec: { predictor: { model: predictorModel(t, store, model, championVersion), canaryTrafficPercent: null } },
  });
}
