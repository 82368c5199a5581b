/**
 * The vertex-endpoint deploy target against the Vertex stand-in (test/vertex-standin: models, endpoints and
 * their operations, each body checked against the official aiplatform v1 schema) and the GCS emulator, with
 * the rollout analysed by a real Prometheus scraping the stand-in's prediction counters: the traffic changes of
 * a full rollout and of a rollback, in order.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { vertexEndpoint } from '../../sdk/factories.js';
import type { PipelineError } from '../../sdk/errors.js';
import { createTestBucket } from '../helpers/gcs.js';
import { fixturePipeline, startHarness, type Harness } from '../helpers/harness.js';
import { startPrometheus } from '../helpers/prometheus.js';
import { startTraffic } from '../helpers/traffic.js';
import { startVertexStandIn, useVertexStandIn, type VertexStandIn } from '../vertex-standin/server.js';

let h: Harness;
let standIn: VertexStandIn;
let prometheus: Awaited<ReturnType<typeof startPrometheus>>;
let bucket: string;

beforeAll(async () => {
  standIn = await startVertexStandIn(inject('gcsEndpoint'));
  useVertexStandIn(standIn);
  bucket = await createTestBucket('mlops-vx-endpoint');
  prometheus = await startPrometheus([standIn.endpoint]);
  h = await startHarness('vertex-endpoint');
});
afterAll(async () => {
  await h?.stop();
  await prometheus?.stop();
  await standIn?.close();
});

const METRIC = 'aiplatform_googleapis_com:prediction_online_response_count';

function pipeline(params: Record<string, number | boolean> = {}, healthTimeout = '20s') {
  const base = fixturePipeline({}, params);
  return definePipeline({
    ...base.spec,
    name: 'iris-vx',
    model: undefined,
    approval: { required: false },
    register: { store: `gs://${bucket}/registry`, description: '' },
    deploy: {
      target: vertexEndpoint({
        project: 'acme-ml',
        region: 'us-central1',
        endpoint: 'iris-prod',
        servingImage: 'us-docker.pkg.dev/acme/serve:1',
        machineType: 'n1-standard-2',
        healthTimeout,
      }),
      rollout: {
        steps: [{ traffic: 25 }, { traffic: 100 }],
        bake: '4s',
        analysis: {
          source: { prometheus: prometheus.url },
          interval: '2s',
          minRequests: 4,
          maxErrorRate: 0.05,
          metrics: {
            requests: `sum(increase(${METRIC}{deployed_model_id="$target"}[$window]))`,
            errors: `sum(increase(${METRIC}{deployed_model_id="$target",response_code=~"5.."}[$window])) or vector(0)`,
          },
        },
      },
    },
  });
}

const splits = () => standIn.trafficLog.filter((t) => t.endpoint === 'iris-prod').map((t) => t.split);

describe('vertex-endpoint deploy target', () => {
  it('a full rollout and a rollback move the endpoint traffic in order', async () => {
    const first = await h.client.result(await h.client.start(pipeline(), { requestedBy: 'ci@acme.com' }));
    expect(first.deployment).toMatchObject({ target: 'vertex-endpoint', version: 1 });
    expect(splits()).toEqual([{ 'iris-vx-v1': 100 }]);
    const endpointName = first.deployment!.endpoint;
    expect(endpointName).toMatch(/^projects\/acme-ml\/locations\/us-central1\/endpoints\/\d+$/);

    const traffic = startTraffic(`${standIn.endpoint}/v1/${endpointName}:predict`, 2, 10, {
      authorization: 'Bearer test-token',
    });
    try {
      const good = await h.client.result(await h.client.start(pipeline(), { requestedBy: 'ci@acme.com' }));
      expect(good.deployment).toMatchObject({ version: 2, rollout: { state: 'promoted' } });
      expect(good.deployment!.rollout!.analyses.map((a) => [a.source, a.traffic, a.passed])).toEqual([
        ['prometheus', 25, true],
        ['prometheus', 100, true],
      ]);
      expect(splits()).toEqual([
        { 'iris-vx-v1': 100 },
        { 'iris-vx-v1': 100, 'iris-vx-v2': 0 }, // deployed with no traffic
        { 'iris-vx-v1': 75, 'iris-vx-v2': 25 },
        { 'iris-vx-v1': 0, 'iris-vx-v2': 100 },
        { 'iris-vx-v2': 100 }, // v1 undeployed
      ]);

      const run = await h.client.start(pipeline({ error_share: 0.5 }), { requestedBy: 'ci@acme.com' });
      const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
      expect(err.code).toBe('DeployRolledBack');
      expect(err.message).toMatch(/iris-vx v3 was rolled back; v2 keeps serving/);
      expect(splits().slice(5)).toEqual([
        { 'iris-vx-v2': 100, 'iris-vx-v3': 0 },
        { 'iris-vx-v2': 75, 'iris-vx-v3': 25 },
        { 'iris-vx-v2': 100, 'iris-vx-v3': 0 }, // rolled back
        { 'iris-vx-v2': 100 }, // v3 undeployed
      ]);
      const report = (await h.client.status(run)).rollout!.latestAnalysis!;
      expect(report.candidate.errorRate).toBeGreaterThan(0.2);
      expect(standIn.rejected).toEqual([]);
      expect(traffic.failures().every((f) => f.status === 500)).toBe(true);
    } finally {
      await traffic.stop();
    }
  });

  it('a candidate that never becomes ready fails before any traffic moves', async () => {
    const before = splits().length;
    const run = await h.client.start(pipeline({ never_healthy: true }), { requestedBy: 'ci@acme.com' });
    const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('DeployFailed');
    expect(err.message).toMatch(/never became ready/);
    expect(splits().length).toBe(before);
  });

  it('the skew gate cannot call a deployed model at 0 % alone: it says so, and when required stops the candidate', async () => {
    const skewed = (skew: { required?: boolean }) => {
      const spec = pipeline().spec;
      const target = { ...spec.deploy!.target, endpoint: 'iris-skew' } as NonNullable<typeof spec.deploy>['target'];
      return definePipeline({
        ...spec,
        name: 'iris-vx-skew',
        model: 'iris-vx-skew',
        deploy: { ...spec.deploy!, target, skew },
      });
    };
    const log = () => standIn.trafficLog.filter((t) => t.endpoint === 'iris-skew').map((t) => t.split);
    const first = await h.client.result(await h.client.start(skewed({}), { requestedBy: 'ci@acme.com' }));
    expect(first.deployment!.skew).toMatchObject({ status: 'skipped', rows: 0 });
    expect(first.deployment!.skew!.summary).toMatch(
      /^skipped: a Vertex AI endpoint routes predictions by its trafficSplit only, so the candidate's deployed model at 0 % cannot be called alone/,
    );
    const before = log();
    const run = await h.client.start(skewed({ required: true }), { requestedBy: 'ci@acme.com' });
    const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('SkewDetected');
    expect(err.message).toMatch(/iris-vx-skew v2 was stopped before any traffic \(v1 keeps serving\)/);
    expect(err.message).toMatch(/cannot be called alone, and deploy\.skew\.required is set/);
    // The candidate was deployed at 0 % and undeployed; every split the endpoint had gave it nothing.
    expect(
      log()
        .slice(before.length)
        .every((split) => !split['iris-vx-skew-v2']),
    ).toBe(true);
    expect(log().at(-1)).toEqual({ 'iris-vx-skew-v1': 100 });
  });
});
