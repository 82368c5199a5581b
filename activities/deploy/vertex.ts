/**
 * The `vertex-endpoint` deploy target: the version's registry artifacts (gs://) are uploaded as a Vertex Model
 * (labelled with the model version, so a retry finds it), deployed to the endpoint with 0 % of traffic (a
 * failed or timed-out deploy operation fails before any traffic moves), then the rollout moves the endpoint's
 * `trafficSplit` step by step. Promotion undeploys the old version; a rollback gives the champion 100 % and
 * undeploys the candidate in the same call.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Deployment } from '../../sdk/run-types.js';
import { targetOf, type VertexEndpointTarget } from '../../sdk/spec/deploy.js';
import type { DeployInput } from './local/deploy.js';
import type { ObjectStore } from '../../registry/object-store.js';
import type { CandidateServers, PromoteInput, RolloutParticipant } from './types.js';
import { httpPredictor, type CandidatePredictor, type SkewInput } from './skew/gate.js';
import {
  VertexApiError,
  VertexEndpointsApi,
  googleAuthHeaders,
  type DeployedModel,
  type VertexEndpoint,
  type VertexOperation,
} from '../platform/vertex-api.js';
import { artifactsPrefix } from '../../registry/registry.js';
import { vertexPollMs } from '../platform/poll-intervals.js';
import { pollUntil } from '../platform/poll.js';

const MODEL_VERSION_LABEL = 'mlops-model-version';

const parentOf = (t: VertexEndpointTarget) => `projects/${t.project}/locations/${t.region}`;
const deployedName = (model: string, version: number) => `${model}-v${version}`;
const labelValue = (model: string, version: number) =>
  deployedName(model, version)
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '-')
    .slice(0, 63);

function failed(err: unknown, what: string): never {
  if (err instanceof VertexApiError && err.kind === 'permanent')
    throw ApplicationFailure.nonRetryable(`${what}: ${err.message}`, 'DeployFailed');
  throw err;
}

/** Waits for a long-running operation; its error, or a deadline passed, is `DeployFailed`. */
async function waitFor(
  api: VertexEndpointsApi,
  op: VertexOperation,
  what: string,
  timeoutMs: number,
  cancellable = true,
) {
  const ctx = Context.current();
  const done = await pollUntil(
    async () => {
      const current = op.done ? op : await api.getOperation(op.name);
      if (current.done) return current;
      ctx.heartbeat({ operation: op.name, waitingFor: what });
      return undefined;
    },
    { intervalMs: vertexPollMs(), timeoutMs, signal: cancellable ? ctx.cancellationSignal : undefined, what },
  );
  if (!done)
    throw ApplicationFailure.nonRetryable(`${what} did not finish within ${timeoutMs} ms`, 'DeployFailed', {
      operation: op.name,
    });
  if (done.error)
    throw ApplicationFailure.nonRetryable(
      `${what} failed: ${done.error.message ?? `code ${done.error.code}`}`,
      'DeployFailed',
      { operation: op.name, error: done.error },
    );
  return done.response ?? {};
}

async function findOrCreateEndpoint(api: VertexEndpointsApi, t: VertexEndpointTarget): Promise<VertexEndpoint> {
  const [found] = await api.endpointsNamed(parentOf(t), t.endpoint);
  if (found) return found;
  const op = await api.createEndpoint(parentOf(t), {
    displayName: t.endpoint,
    labels: { 'managed-by': 'temporal-mlops' },
  });
  const created = (await waitFor(api, op, `creating endpoint ${t.endpoint}`, t.healthTimeout)) as { name?: string };
  return api.getEndpoint(created.name ?? '');
}

/** The champion: the deployed model (other than the candidate) with the most traffic. */
function championOf(endpoint: VertexEndpoint, model: string, candidateId: string): RolloutParticipant | undefined {
  const split = endpoint.trafficSplit ?? {};
  const best = (endpoint.deployedModels ?? [])
    .filter((d) => d.id !== candidateId && (split[d.id ?? ''] ?? 0) > 0)
    .sort((a, b) => (split[b.id!] ?? 0) - (split[a.id!] ?? 0))[0];
  const version = Number(new RegExp(`^${model}-v(\\d+)$`).exec(best?.displayName ?? '')?.[1]);
  return best && version ? { version, endpoint: best.id! } : undefined;
}

/** Uploads (or finds) the version's Model and deploys it to the endpoint with no traffic. */
export async function startVertexCandidate(input: DeployInput, store: ObjectStore): Promise<CandidateServers> {
  const t = targetOf(input.deploy, 'vertex-endpoint');
  const { model, version } = input.version;
  const artifactUri = store.uri(artifactsPrefix(model, version));
  if (!artifactUri.startsWith('gs://'))
    throw ApplicationFailure.nonRetryable(
      `The vertex-endpoint target serves artifacts from GCS: set register.store to a gs:// URI (got ${store.root})`,
      'InvalidSpec',
    );
  const api = new VertexEndpointsApi(t.region);
  try {
    const endpoint = await findOrCreateEndpoint(api, t);
    const name = deployedName(model, version);
    let deployed = endpoint.deployedModels?.find((d) => d.displayName === name);
    if (!deployed) {
      let [uploaded] = await api.modelsByLabel(parentOf(t), MODEL_VERSION_LABEL, labelValue(model, version));
      if (!uploaded) {
        const op = await api.uploadModel(parentOf(t), {
          displayName: name,
          artifactUri,
          labels: { [MODEL_VERSION_LABEL]: labelValue(model, version), 'managed-by': 'temporal-mlops' },
          containerSpec: {
            imageUri: t.servingImage,
            predictRoute: t.predictRoute,
            healthRoute: t.healthRoute,
            env: Object.entries(t.env).map(([k, value]) => ({ name: k, value })),
          },
        });
        const response = (await waitFor(api, op, `uploading ${name}`, t.healthTimeout)) as { model?: string };
        uploaded = { name: response.model ?? '' };
      }
      const hasTraffic = Object.values(endpoint.trafficSplit ?? {}).some((w) => w > 0);
      const split = hasTraffic ? { ...endpoint.trafficSplit, '0': 0 } : { '0': 100 };
      const op = await api.deployModel(
        endpoint.name!,
        {
          model: uploaded.name,
          displayName: name,
          dedicatedResources: {
            machineSpec: { machineType: t.machineType },
            minReplicaCount: t.minReplicas,
            maxReplicaCount: t.maxReplicas,
          },
          ...(t.serviceAccount ? { serviceAccount: t.serviceAccount } : {}),
        },
        split,
      );
      const response = (await waitFor(api, op, `deploying ${name} to ${t.endpoint}`, t.healthTimeout)) as {
        deployedModel?: { id?: string };
      };
      deployed = { id: response.deployedModel?.id, model: uploaded.name, displayName: name };
    }
    const fresh = await api.getEndpoint(endpoint.name!);
    Context.current().log.info(`deploy: ${name} deployed to ${fresh.name} as ${deployed.id}, no traffic yet`);
    return { candidate: { version, endpoint: deployed.id! }, champion: championOf(fresh, model, deployed.id!) };
  } catch (err) {
    return failed(err, `deploying ${model} v${version} to Vertex endpoint ${t.endpoint}`);
  }
}

/** The scratch endpoint's display name: one per candidate, so a retried gate finds (and reuses or removes) its own. */
const scratchEndpointName = (model: string, version: number) =>
  `mlops-skew-${labelValue(model, version)}`.slice(0, 128);
const SCRATCH_LABEL = 'mlops-skew-gate';

/** Undeploys whatever is on the scratch endpoint and deletes it; runs to its end even when the activity is cancelled. */
async function removeScratch(api: VertexEndpointsApi, t: VertexEndpointTarget, name: string): Promise<void> {
  const endpoint = await api.getEndpoint(name).catch((err: unknown) => {
    if (err instanceof VertexApiError && err.httpStatus === 404) return undefined;
    throw err;
  });
  if (!endpoint) return;
  for (const d of endpoint.deployedModels ?? []) {
    const op = await api.undeployModel(name, d.id!, {});
    await waitFor(
      api,
      op,
      `undeploying ${d.id} from the scratch endpoint ${endpoint.displayName}`,
      t.healthTimeout,
      false,
    );
  }
  const op = await api.deleteEndpoint(name);
  await waitFor(api, op, `deleting the scratch endpoint ${endpoint.displayName}`, t.healthTimeout, false);
  Context.current().log.info(`skew gate: scratch endpoint ${endpoint.displayName} (${name}) deleted`);
}

/**
 * The skew gate on Vertex: an endpoint routes by its trafficSplit only, so the candidate at 0 % on the real
 * endpoint cannot be called alone. Its Model is deployed (same machine type) to a scratch endpoint of
 * its own with all of that endpoint's traffic; the gate's requests go to that endpoint's `:predict`, and
 * `close()` undeploys it and deletes the endpoint. A retried activity finds its scratch endpoint by display
 * name and reuses it; a failure while setting it up removes it.
 */
export async function vertexScratchPredictor(t: VertexEndpointTarget, input: SkewInput): Promise<CandidatePredictor> {
  const { model, version } = input.version;
  const api = new VertexEndpointsApi(t.region);
  const displayName = scratchEndpointName(model, version);
  const log = Context.current().log;
  let scratch: string | undefined;
  try {
    let [endpoint] = await api.endpointsNamed(parentOf(t), displayName);
    if (!endpoint) {
      const op = await api.createEndpoint(parentOf(t), {
        displayName,
        labels: { 'managed-by': 'temporal-mlops', [SCRATCH_LABEL]: labelValue(model, version) },
      });
      const created = (await waitFor(api, op, `creating the scratch endpoint ${displayName}`, t.healthTimeout)) as {
        name?: string;
      };
      endpoint = await api.getEndpoint(created.name ?? '');
    }
    scratch = endpoint.name!;
    const name = deployedName(model, version);
    const serving = (endpoint.deployedModels ?? []).find(
      (d) => d.displayName === name && (endpoint.trafficSplit?.[d.id ?? ''] ?? 0) === 100,
    );
    if (!serving) {
      const [uploaded] = await api.modelsByLabel(parentOf(t), MODEL_VERSION_LABEL, labelValue(model, version));
      if (!uploaded) throw ApplicationFailure.nonRetryable(`the Vertex Model of ${name} is gone`, 'DeployFailed');
      // A half-done earlier attempt: what is there is removed first (undeploying it needs no traffic kept).
      for (const d of endpoint.deployedModels ?? []) {
        const op = await api.undeployModel(scratch, d.id!, {});
        await waitFor(api, op, `undeploying ${d.id} from ${displayName}`, t.healthTimeout);
      }
      const deployed: DeployedModel = {
        model: uploaded.name,
        displayName: name,
        dedicatedResources: {
          machineSpec: { machineType: t.machineType },
          minReplicaCount: 1,
          maxReplicaCount: 1,
        },
        ...(t.serviceAccount ? { serviceAccount: t.serviceAccount } : {}),
      };
      const op = await api.deployModel(scratch, deployed, { '0': 100 });
      await waitFor(api, op, `deploying ${name} to the scratch endpoint ${displayName}`, t.healthTimeout);
    }
    log.info(`skew gate: ${name} serves alone on the scratch endpoint ${displayName} (${scratch})`);
    const base = process.env.MLOPS_VERTEX_API_ENDPOINT ?? `https://${t.region}-aiplatform.googleapis.com`;
    const http = httpPredictor(`${base}/v1/${scratch}:predict`, await googleAuthHeaders());
    if ('unavailable' in http) return http;
    const at = scratch;
    return {
      via: `Vertex scratch endpoint ${displayName} (${at}:predict)`,
      predict: (instances) => http.predict(instances),
      close: () =>
        removeScratch(api, t, at).catch((err: unknown) => failed(err, `removing the scratch endpoint ${at}`)),
    };
  } catch (err) {
    if (scratch) await removeScratch(api, t, scratch).catch((e: unknown) => log.warn(`skew gate: ${String(e)}`));
    return failed(err, `deploying ${model} v${version} to a scratch endpoint for the skew gate`);
  }
}

/** The target endpoint as listed (name, deployed models, split): one read per call. */
async function existingEndpoint(api: VertexEndpointsApi, t: VertexEndpointTarget) {
  const [found] = await api
    .endpointsNamed(parentOf(t), t.endpoint)
    .catch((err: unknown) => failed(err, 'reading the endpoint'));
  if (!found?.name) throw ApplicationFailure.nonRetryable(`Vertex endpoint ${t.endpoint} is gone`, 'DeployFailed');
  return { ...found, name: found.name };
}

/** Sets the endpoint's traffic split: deployed model id → percent. */
export async function routeVertexTraffic(t: VertexEndpointTarget, split: Record<string, number>) {
  const api = new VertexEndpointsApi(t.region);
  const endpoint = await existingEndpoint(api, t);
  const current = endpoint.trafficSplit ?? {};
  const wanted = Object.fromEntries(Object.entries(split).filter(([, w]) => w > 0));
  const same =
    Object.keys(wanted).length === Object.keys(current).filter((k) => current[k]! > 0).length &&
    Object.entries(wanted).every(([k, w]) => current[k] === w);
  // Already so (a retry, or a first deploy that took all traffic when it was deployed): no call.
  if (!same)
    await api
      .setTraffic(endpoint.name, split)
      .catch((err: unknown) => failed(err, `setting traffic on ${endpoint.name}`));
  return { routerEndpoint: endpoint.name };
}

/** Undeploys `loser` while `winner` takes all traffic (one call, as Vertex requires); no winner: none is left. */
export async function undeployVertex(t: VertexEndpointTarget, loser: string, winner?: string): Promise<void> {
  const api = new VertexEndpointsApi(t.region);
  const endpoint = await existingEndpoint(api, t);
  if (!endpoint.deployedModels?.some((d) => d.id === loser)) return; // a retry after it was done
  const op = await api.undeployModel(endpoint.name, loser, winner ? { [winner]: 100 } : {});
  await waitFor(api, op, `undeploying ${loser} from ${t.endpoint}`, t.healthTimeout);
}

/** The candidate keeps all traffic: the champion is undeployed. */
export async function promoteVertex(t: VertexEndpointTarget, input: PromoteInput): Promise<Deployment> {
  const { candidate, champion } = input.servers;
  if (champion) await undeployVertex(t, champion.endpoint, candidate.endpoint);
  return vertexDeployment(t, input.version.model, input.version.version, input.routerEndpoint, input.rollout);
}

/** All traffic back to the champion and the candidate undeployed. */
export async function rollBackVertex(t: VertexEndpointTarget, servers: CandidateServers): Promise<void> {
  if (!servers.champion) return;
  await routeVertexTraffic(t, { [servers.champion.endpoint]: 100 });
  await undeployVertex(t, servers.candidate.endpoint, servers.champion.endpoint);
}

/**
 * The candidate failed a check before any traffic moved (the skew gate): it is undeployed, the champion keeps its
 * traffic. A first deployment took the endpoint's traffic when it was deployed (nothing else served there); it is
 * undeployed all the same, leaving the endpoint empty.
 */
export async function stopVertexCandidate(t: VertexEndpointTarget, servers: CandidateServers): Promise<void> {
  await undeployVertex(t, servers.candidate.endpoint, servers.champion?.endpoint);
}

function vertexDeployment(
  t: VertexEndpointTarget,
  model: string,
  version: number,
  endpoint: string,
  rollout: Deployment['rollout'],
): Deployment {
  const base = process.env.MLOPS_VERTEX_API_ENDPOINT ?? `https://${t.region}-aiplatform.googleapis.com`;
  return {
    target: 'vertex-endpoint',
    model,
    version,
    endpoint,
    predictUrl: `${base}/v1/${endpoint}:predict`,
    deployedAt: new Date().toISOString(),
    rollout,
  };
}
