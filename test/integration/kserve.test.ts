/**
 * The kserve deploy target against a real kube-apiserver (scripts/kube.ts) with KServe's own InferenceService
 * CRD installed (from the kserve Go module), KServe's controller and model servers played by
 * test/kube/simulated-kserve.ts, and the rollout analysed by a real Prometheus scraping the simulated
 * revisions' request counters. The API server's watch shows the spec changes of a full rollout, of a rollback
 * and of a candidate that never becomes ready, in order.
 */
import { promises as fs } from 'node:fs';
import {
  ApiextensionsV1Api,
  KubeConfig,
  Watch,
  loadYaml,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { kserve } from '../../sdk/factories.js';
import type { PipelineError } from '../../sdk/errors.js';
import { ensureKServeCrd, startKubeCluster, type KubeCluster } from '../../scripts/kube.js';
import type { InferenceService } from '../../activities/deploy/kserve.js';
import { createTestBucket } from '../helpers/gcs.js';
import { eventually, fixturePipeline, startHarness, type Harness } from '../helpers/harness.js';
import { startPrometheus } from '../helpers/prometheus.js';
import { simulateKServe, type SimulatedKServe } from '../kube/simulated-kserve.js';

let h: Harness;
let cluster: KubeCluster;
let kserveSim: SimulatedKServe;
let prometheus: Awaited<ReturnType<typeof startPrometheus>>;
let watch: AbortController;
let bucket: string;
/** Spec generations of the InferenceService as the API server's watch reported them. */
const seen: { generation: number; version: number; canary: number | null }[] = [];
/** The InferenceService as the API server last reported it. */
let latest: InferenceService | undefined;
let crd: V1CustomResourceDefinition;
const COLLECTOR = 'http://mlops-collect.monitoring.svc.cluster.local';

beforeAll(async () => {
  cluster = await startKubeCluster({ name: `mlops-kserve-${process.pid}` });
  process.env.KUBECONFIG = cluster.kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  crd = loadYaml<V1CustomResourceDefinition>(await fs.readFile(await ensureKServeCrd(), 'utf8'));
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  await ext.createCustomResourceDefinition({ body: crd });
  await eventually(
    async () => {
      const got = await ext.readCustomResourceDefinition({ name: crd.metadata!.name! });
      return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
    },
    30_000,
    'CRD established',
  );
  bucket = await createTestBucket('mlops-kserve');
  kserveSim = await simulateKServe(cluster.kubeconfig, inject('gcsEndpoint'));
  prometheus = await startPrometheus([kserveSim.metricsUrl]);
  watch = await new Watch(kc).watch(
    '/apis/serving.kserve.io/v1beta1/namespaces/default/inferenceservices',
    {},
    (_phase, obj: InferenceService) => {
      latest = obj;
      const generation = obj.metadata.generation ?? 0;
      if (seen.some((s) => s.generation === generation)) return;
      const version = Number(/versions\/(\d+)\/artifacts/.exec(obj.spec.predictor.model?.storageUri ?? '')?.[1]);
      seen.push({ generation, version, canary: obj.spec.predictor.canaryTrafficPercent ?? null });
    },
    () => undefined,
  );
  h = await startHarness('kserve');
}, 300_000);
afterAll(async () => {
  watch?.abort();
  await h?.stop();
  await prometheus?.stop();
  await kserveSim?.stop();
  await cluster?.stop();
});

function pipeline(params: Record<string, number | boolean> = {}) {
  const base = fixturePipeline({}, params);
  return definePipeline({
    ...base.spec,
    name: 'iris-ks',
    model: undefined,
    approval: { required: false },
    register: { store: `gs://${bucket}/registry`, description: '' },
    deploy: {
      target: kserve({ modelFormat: 'sklearn', healthTimeout: '15s', logger: { url: COLLECTOR } }),
      rollout: {
        steps: [{ traffic: 25 }, { traffic: 100 }],
        bake: '4s',
        analysis: {
          source: { prometheus: prometheus.url },
          interval: '2s',
          minRequests: 3,
          maxErrorRate: 0.05,
          metrics: {
            requests: 'sum(increase(revision_app_request_count{revision_name="$target"}[$window]))',
            errors:
              'sum(increase(revision_app_request_count{revision_name="$target",response_code_class="5xx"}[$window])) or vector(0)',
          },
        },
      },
    },
  });
}

const since = (n: number) => seen.slice(n).map((s) => [s.version, s.canary]);

describe('kserve deploy target', () => {
  it('a full rollout, a rollback and an unready candidate, as the API server saw them', async () => {
    const first = await h.client.result(await h.client.start(pipeline(), { requestedBy: 'ci@acme.com' }));
    expect(first.deployment).toMatchObject({ target: 'kserve', version: 1, endpoint: expect.stringMatching(/^http/) });
    await eventually(async () => (seen.length >= 1 ? true : undefined), 5000, 'watch event');
    expect(since(0)).toEqual([[1, null]]);
    // The payload logger, as stored by the API server (a field unknown to KServe's CRD would have been pruned),
    // and every field of it declared by the CRD's schema, the mode one of its values.
    const logger = latest!.spec.predictor.logger as Record<string, unknown>;
    expect(logger).toEqual({ url: COLLECTOR, mode: 'all', metadataAnnotations: ['mlops.temporal.io/model-version'] });
    const schema = crd.spec.versions.find((v) => v.name === 'v1beta1')!.schema!.openAPIV3Schema!;
    const declared = schema.properties!.spec!.properties!.predictor!.properties!.logger!;
    for (const field of Object.keys(logger)) expect(declared.properties, field).toHaveProperty(field);
    expect(declared.properties!.mode!._enum).toContain('all');

    const good = await h.client.result(await h.client.start(pipeline(), { requestedBy: 'ci@acme.com' }));
    expect(good.deployment).toMatchObject({ version: 2, rollout: { state: 'promoted' } });
    expect(good.deployment!.rollout!.analyses.map((a) => [a.traffic, a.passed, a.candidate.errors])).toEqual([
      [25, true, 0],
      [100, true, 0],
    ]);
    expect(since(1)).toEqual([
      [2, 0], // the candidate's revision, no traffic
      [2, 25],
      [2, null], // rolled out
    ]);

    const bad = await h.client.start(pipeline({ error_share: 0.5 }), { requestedBy: 'ci@acme.com' });
    const err = (await h.client.result(bad).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('DeployRolledBack');
    expect(err.message).toMatch(/iris-ks v3 was rolled back; v2 keeps serving/);
    await eventually(async () => (seen.length >= 8 ? true : undefined), 5000, 'rollback watch events');
    expect(since(4)).toEqual([
      [3, 0],
      [3, 25],
      [3, 0], // all traffic back to v2's revision at once
      [2, null], // and the spec back to the champion's model
    ]);

    const sick = await h.client.start(pipeline({ never_healthy: true }), { requestedBy: 'ci@acme.com' });
    const sickErr = (await h.client.result(sick).catch((e: unknown) => e)) as PipelineError;
    expect(sickErr.code).toBe('DeployFailed');
    expect(sickErr.message).toMatch(/RevisionFailed/);
    await eventually(async () => (seen.length >= 10 ? true : undefined), 5000, 'revert watch events');
    expect(since(8)).toEqual([
      [4, 0], // never got traffic
      [2, null], // put back as it was
    ]);
  });

  it('the skew gate reaches the candidate revision alone by its tag URL; a wrong one is stopped at 0 %', async () => {
    const skewed = (params: Record<string, string>) => {
      const spec = pipeline().spec;
      return definePipeline({
        ...fixturePipeline({}, { output: 'scores', ...params }).spec,
        name: 'ks-skew',
        model: undefined,
        approval: { required: false },
        register: spec.register,
        deploy: { ...spec.deploy!, skew: {} },
      });
    };
    const first = await h.client.result(await h.client.start(skewed({}), { requestedBy: 'ci@acme.com' }));
    expect(first.deployment!.skew).toMatchObject({ status: 'passed', agreement: 1, maxAbsDiff: 0, errors: 0 });
    expect(first.deployment!.skew!.via).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/models\/ks-skew:predict$/);

    const run = await h.client.start(skewed({ serve_fault: 'swap-features' }), { requestedBy: 'ci@acme.com' });
    const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('SkewDetected');
    expect(err.message).toMatch(/ks-skew v2 was stopped before any traffic \(v1 keeps serving\)/);
    expect(err.message).toMatch(/exchanged reproduces the offline predictions/);
    const skew = (await h.client.status(run)).skew!;
    expect(skew.via).toMatch(/\/v1\/models\/ks-skew:predict$/);
    expect(skew.via).not.toBe(first.deployment!.skew!.via); // the candidate's revision, not the champion's
    // The candidate's revision never had traffic, and the spec went back to the champion's model (the simulated
    // controller sees that change through its watch, a moment after the run has ended).
    const changes = () => kserveSim.history.filter((c) => c.name === 'ks-skew');
    await eventually(
      async () => (changes().at(-1)!.storageUri === changes()[0]!.storageUri ? true : undefined),
      10_000,
      "the spec back on v1's model",
    ).catch(() => undefined);
    expect(changes().every((c) => !c.canaryTrafficPercent)).toBe(true);
    expect(changes().at(-1)!.storageUri).toBe(changes()[0]!.storageUri);
  });
});
