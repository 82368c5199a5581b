/**
 * The `kserve` deploy target: one InferenceService (serving.kserve.io/v1beta1) per model. A candidate is a
 * patch of `spec.predictor.model.storageUri` with `canaryTrafficPercent: 0`: KServe creates its revision and
 * keeps the previously rolled-out one serving everything; the candidate counts as healthy once its revision
 * is the latest ready one (a failed or late revision fails before any traffic moves, and the patch is undone).
 * Rollout steps set `canaryTrafficPercent`; promotion removes it (KServe rolls the candidate out to 100 %);
 * a rollback sets it to 0, which gives all traffic back to the previous revision.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Deployment } from '../../sdk/run-types.js';
import { targetOf, type KServeTarget } from '../../sdk/spec/deploy.js';
import type { DeployInput } from './local/deploy.js';
import type { ObjectStore } from '../../registry/object-store.js';
import type { CandidateServers } from './types.js';
import { httpPredictor, type CandidatePredictor, type SkewInput } from './skew/gate.js';
import { artifactsPrefix } from '../../registry/registry.js';
import { KubeApi, KubeApiError, type CustomResource } from '../platform/kubernetes-api.js';
import { kubePollMs } from '../platform/poll-intervals.js';
import { VERSION_ANNOTATION } from '../monitor/serving-log.js';
import { pollUntil } from '../platform/poll.js';

const ISVC: CustomResource = { group: 'serving.kserve.io', version: 'v1beta1', plural: 'inferenceservices' };
/** The model version an InferenceService serves once rolled out (the next rollout's champion). */
export { VERSION_ANNOTATION };
/**
 * KServe's tag routing: each revision of the split gets its own URL (`latest-…` for the candidate, `prev-…`
 * for the champion) in `status.components.predictor.traffic`, so the skew gate can reach the candidate alone.
 */
export const TAG_ROUTING_ANNOTATION = 'serving.kserve.io/enable-tag-routing';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
/** The fields of a serving.kserve.io/v1beta1 InferenceService this target reads and writes. */
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
        /** Knative's traffic targets; with tag routing each has a `tag` and its own `url`. */
        traffic?: { tag?: string; revisionName?: string; percent?: number; latestRevision?: boolean; url?: string }[];
      };
    };
  };
}

const nameOf = (t: KServeTarget, model: string) => t.name ?? model.toLowerCase().replace(/[^a-z0-9-]/g, '-');

/**
 * Runs one call of the shared Kubernetes client: a permanent failure is `DeployFailed` (not retried), a transient
 * one stays a retryable `KubeApiError`.
 */
async function kube<T>(t: KServeTarget, run: (api: KubeApi) => Promise<T>): Promise<T> {
  try {
    return await run(KubeApi.forContext(t.context));
  } catch (err) {
    if (err instanceof KubeApiError && err.kind === 'permanent') {
      const hint = err.status === 404 ? ' (is KServe installed? the InferenceService CRD is missing)' : '';
      throw ApplicationFailure.nonRetryable(`${err.message}${hint}`, 'DeployFailed', { httpStatus: err.status });
    }
    throw err;
  }
}

const read = (t: KServeTarget, name: string) =>
  kube(t, (api) => api.getObject<InferenceService>(ISVC, t.namespace, name));

/** A JSON merge patch of the InferenceService (null removes a field). */
const patch = (t: KServeTarget, name: string, body: unknown) =>
  kube(t, (api) => api.mergePatchObject<InferenceService>(ISVC, t.namespace, name, body));

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

/** `spec.predictor.logger` for the target's logger option (both halves of every inference, with the version). */
function predictorLogger(t: KServeTarget) {
  if (!t.logger) return {};
  return {
    logger: {
      url: t.logger.url,
      mode: 'all',
      metadataAnnotations: [VERSION_ANNOTATION],
      ...(t.logger.metadataHeaders ? { metadataHeaders: t.logger.metadataHeaders } : {}),
    },
  };
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
  // The skew gate addresses the candidate's revision by its tag URL.
  const tagRouting = input.deploy.skew ? { [TAG_ROUTING_ANNOTATION]: 'true' } : {};
  const existing = await read(t, name);
  if (!existing) {
    const body = {
      apiVersion: `${ISVC.group}/${ISVC.version}`,
      kind: 'InferenceService',
      metadata: {
        name,
        namespace: t.namespace,
        annotations: { [VERSION_ANNOTATION]: String(version), ...tagRouting },
      },
      spec: {
        predictor: {
          model: candidateModel,
          ...(t.serviceAccount ? { serviceAccountName: t.serviceAccount } : {}),
          ...predictorLogger(t),
        },
      },
    };
    const created = await kube(t, (api) => api.createObject<InferenceService>(ISVC, t.namespace, body));
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
    : await patch(t, name, {
        ...(input.deploy.skew && { metadata: { annotations: tagRouting } }),
        spec: {
          predictor: {
            model: candidateModel,
            canaryTrafficPercent: 0,
            ...predictorLogger(t),
          },
        },
      });
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

/**
 * How the skew gate reaches the candidate's revision alone: the URL KServe's tag routing gives it (the traffic
 * target of that revision), with the v1 protocol's predict path.
 */
export async function kserveCandidatePredictor(t: KServeTarget, input: SkewInput): Promise<CandidatePredictor> {
  const name = nameOf(t, input.version.model);
  const revision = input.servers.candidate.endpoint;
  const isvc = await read(t, name);
  const target = isvc?.status?.components?.predictor?.traffic?.find((x) => x.revisionName === revision && x.url);
  if (!target?.url)
    return {
      unavailable: `KServe gives the candidate revision ${revision} of ${t.namespace}/${name} no URL of its own (tag routing, annotation ${TAG_ROUTING_ANNOTATION}: "true", is set by the deploy; is the KServe controller older than 0.9?)`,
    };
  return httpPredictor(`${target.url}/v1/models/${name}:predict`);
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
 * The candidate failed a check before any traffic moved (the skew gate): the spec goes back to the champion's
 * model. A first deployment's InferenceService (created for the candidate, nothing served before) is deleted.
 */
export async function stopKServeCandidate(
  t: KServeTarget,
  model: string,
  store: ObjectStore,
  championVersion: number | undefined,
): Promise<void> {
  if (championVersion !== undefined) return rollBackKServe(t, model, store, championVersion);
  await kube(t, (api) => api.deleteObject(ISVC, t.namespace, nameOf(t, model)));
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
