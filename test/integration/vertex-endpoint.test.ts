/**
 * The vertex-endpoint deploy target against the Vertex stand-in (test/vertex-standin: models, endpoints and
 * their operations, each body checked against the official aiplatform v1 schema) and the GCS emulator, with
 * the rollout analysed by a real Prometheus scraping the stand-in's prediction counters: the traffic changes of
 * a full rollout and of a rollback, in order; and the skew gate on a scratch endpoint of the candidate's own.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { vertexEndpoint } from '../../sdk/factories.js';
import type { PipelineError } from '../../sdk/errors.js';
import type { SkewReport } from '../../sdk/run-types.js';
import { createTestBucket } from '../helpers/gcs.js';
import { fixturePipeline, startHarness, type Harness } from '../helpers/harness.js';
import { startPrometheus } from '../helpers/prometheus.js';
import { skewPipeline } from '../helpers/skew.js';
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

  it('the skew gate serves the candidate alone on a scratch endpoint: a good one passes, a faulty container is stopped', async () => {
    const skewed = (fault?: string) => {
      const spec = skewPipeline('iris-vx-skew').spec;
      return definePipeline({
        ...spec,
        register: { store: `gs://${bucket}/registry`, description: '' },
        deploy: {
          target: vertexEndpoint({
            project: 'acme-ml',
            region: 'us-central1',
            endpoint: 'iris-skew',
            servingImage: 'us-docker.pkg.dev/acme/serve:1',
            machineType: 'n1-standard-2',
            healthTimeout: '20s',
            env: fault ? { FIXTURE_SERVE_FAULT: fault } : {},
          }),
          rollout: pipeline().spec.deploy!.rollout,
          skew: {},
        },
      });
    };
    const log = () => standIn.trafficLog.filter((t) => t.endpoint === 'iris-skew').map((t) => t.split);
    const scratch = (version: number) => `mlops-skew-iris-vx-skew-v${version}`;
    const scratchSplits = (version: number) =>
      standIn.trafficLog.filter((t) => t.endpoint === scratch(version)).map((t) => t.split);

    // An earlier attempt's scratch endpoint (the activity retried): found by its name, reused, then deleted.
    const left = await fetch(`${standIn.endpoint}/v1/projects/acme-ml/locations/us-central1/endpoints`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-token', 'content-type': 'application/json' },
      body: JSON.stringify({ displayName: scratch(1) }),
    });
    const leftName = ((await left.json()) as { name: string }).name.replace(/\/operations\/\d+$/, '');
    const first = await h.client.result(await h.client.start(skewed(), { requestedBy: 'ci@acme.com' }));
    expect(first.deployment!.skew).toMatchObject({ status: 'passed', agreement: 1, errors: 0 });
    expect(first.deployment!.skew!.via).toMatch(
      /^Vertex scratch endpoint mlops-skew-iris-vx-skew-v1 \(projects\/acme-ml\/locations\/us-central1\/endpoints\/\d+:predict\)$/,
    );
    expect(scratchSplits(1)).toEqual([{ 'iris-vx-skew-v1': 100 }, {}]); // deployed alone, then undeployed
    expect(standIn.endpoints.map((e) => e.displayName)).not.toContain(scratch(1));
    expect(first.deployment!.skew!.via).toContain(`(${leftName}:predict)`);

    const before = log();
    const run = await h.client.start(skewed('swap-features'), { requestedBy: 'ci@acme.com' });
    const err = (await h.client.result(run).catch((e: unknown) => e)) as PipelineError;
    expect(err.code).toBe('SkewDetected');
    expect(err.message).toMatch(/iris-vx-skew v2 was stopped before any traffic \(v1 keeps serving\)/);
    expect(err.message).toMatch(/sending "amount" and "tenure_days" exchanged reproduces the offline predictions/);
    expect((err.details as SkewReport).via).toMatch(/^Vertex scratch endpoint mlops-skew-iris-vx-skew-v2 /);
    // On the real endpoint the candidate was deployed at 0 % and undeployed; no split gave it traffic.
    expect(log().slice(before.length)).toEqual([
      { 'iris-vx-skew-v1': 100, 'iris-vx-skew-v2': 0 },
      { 'iris-vx-skew-v1': 100 },
    ]);
    expect(scratchSplits(2)).toEqual([{ 'iris-vx-skew-v2': 100 }, {}]);
    expect(standIn.endpoints.map((e) => e.displayName).filter((n) => n.startsWith('mlops-skew-'))).toEqual([]);
    expect(standIn.rejected).toEqual([]);
  });
});
