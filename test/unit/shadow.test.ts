/** The shadow stage's pure parts: which requests are mirrored, the comparison and its checks, the spec's rules. */
import { describe, expect, it } from 'vitest';
import { SharePicker, type MirroredPair, type ShadowState } from '../../activities/deploy/local/mirror.js';
import { compareShadow, distributionDistance } from '../../activities/deploy/shadow-analysis.js';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { vertexEndpoint } from '../../sdk/factories.js';
import { ShadowSchema } from '../../sdk/spec/rollout.js';
import { jensenShannon } from '../../sdk/drift/statistics.js';
import { fixturePipeline } from '../helpers/harness.js';

const spec = ShadowSchema.parse({ minRequests: 10 });

/** `n` mirrored requests; `candidate(i)` is the candidate's prediction for request i (champion: score i/n). */
function state(n: number, candidate: (i: number) => unknown, status = 200, ms = (_i: number) => 5): ShadowState {
  const pairs: MirroredPair[] = Array.from({ length: n }, (_, i) => {
    const score = i / n;
    return {
      request: JSON.stringify({ instances: [{ x: i }] }),
      champion: { status: 200, ms: 5, body: JSON.stringify({ predictions: [{ label: score > 0.5 ? 1 : 0, score }] }) },
      candidate: { status, ms: ms(i), body: JSON.stringify({ predictions: [candidate(i)] }) },
    };
  });
  return {
    step: 's',
    mirror: { version: 2, url: 'http://c', share: 0.5 },
    live: 2 * n,
    mirrored: n,
    skipped: 0,
    pairs,
  };
}
const same = (n: number) => (i: number) => ({ label: i / n > 0.5 ? 1 : 0, score: i / n });

describe('shadow stage', () => {
  it('mirrors exactly the share, spread from the first request', () => {
    for (const share of [0.1, 0.25, 0.5, 1]) {
      const picker = new SharePicker();
      const picks = Array.from({ length: 200 }, () => picker.pick(share));
      expect(picks.filter(Boolean)).toHaveLength(200 * share);
      expect(picks.slice(0, 1 / share).filter(Boolean)).toHaveLength(1);
    }
  });

  it('a candidate answering like the champion passes with agreement 1 and distance 0', () => {
    const r = compareShadow(state(100, same(100)), spec);
    expect(r).toMatchObject({ conclusive: true, passed: true, agreement: 1, maxAbsDiff: 0, predictions: 100 });
    expect(r.distribution).toEqual({ test: 'jensenshannon', on: 'score', value: 0 });
    expect(r.checks.map((c) => [c.name, c.passed])).toEqual([
      ['candidate error rate', true],
      ['prediction agreement', true],
      ['jensenshannon distance of score', true],
    ]);
    expect(r.summary).toMatch(/^the candidate answers like the champion: 100 mirrored requests/);
  });

  it('a constant candidate fails agreement and distance, with the disagreeing requests shown', () => {
    const r = compareShadow(
      state(100, () => ({ label: 0, score: 0.5 })),
      spec,
    );
    expect(r.passed).toBe(false);
    expect(r.agreement).toBe(0.01); // only request 50 (score 0.5, label 0) matches
    const champion = Float64Array.from({ length: 100 }, (_, i) => i / 100);
    expect(r.distribution!.value).toBeCloseTo(
      jensenShannon(champion, new Float64Array(100).fill(0.5), 'numerical'),
      12,
    );
    expect(r.distribution!.value).toBeGreaterThan(0.1);
    expect(r.disagreements[0]).toEqual({
      instance: { x: 0 },
      champion: { label: 0, score: 0 },
      candidate: { label: 0, score: 0.5 },
    });
    expect(r.summary).toMatch(/failed: prediction agreement 0\.01 \(min 0\.99\), jensenshannon distance of score/);
  });

  it('judges error rate and latency ratio; too few requests is inconclusive, not a failure', () => {
    const failing = compareShadow(state(50, same(50), 500), spec);
    expect(failing.checks[0]).toMatchObject({ name: 'candidate error rate', value: 1, passed: false });
    const slow = compareShadow(
      state(50, same(50), 200, () => 40),
      ShadowSchema.parse({ minRequests: 10, latency: { maxRatio: 2 } }),
    );
    expect(slow.checks.at(-1)).toMatchObject({ name: 'p95 latency ratio candidate/champion', value: 8, passed: false });
    const early = compareShadow(
      state(5, () => 0),
      spec,
    );
    expect(early).toMatchObject({ conclusive: false, passed: true });
    expect(early.summary).toMatch(/^not enough mirrored traffic yet/);
  });

  it('compares class labels when predictions have no scores', () => {
    const d = distributionDistance(['a', 'a', 'b', 'b'], ['a', 'a', 'a', 'a'], 'wasserstein');
    expect(d).toMatchObject({ test: 'jensenshannon', on: 'class label' });
    expect(d!.value).toBeCloseTo(
      jensenShannon(['"a"', '"a"', '"b"', '"b"'], ['"a"', '"a"', '"a"', '"a"'], 'categorical'),
      12,
    );
  });

  it('has safe defaults and names the field of a bad threshold', () => {
    expect(ShadowSchema.parse({})).toMatchObject({
      share: 0.1,
      duration: 300_000,
      interval: 10_000,
      minRequests: 50,
      maxErrorRate: 0.01,
      minAgreement: 0.99,
      distribution: { test: 'jensenshannon' },
    });
    const base = fixturePipeline();
    const withShadow = (shadow: unknown, target = base.spec.deploy!.target) =>
      definePipeline({ ...base.spec, deploy: { target, rollout: { shadow } } } as Parameters<typeof definePipeline>[0]);
    expect(() => withShadow({ share: 0 })).toThrow(/deploy\.rollout\.shadow\.share: must be above 0/);
    expect(() => withShadow({ minAgreement: 2 })).toThrow(/deploy\.rollout\.shadow\.minAgreement/);
    expect(() => withShadow({ distribution: { test: 'ks' } })).toThrow(/deploy\.rollout\.shadow\.distribution\.test/);
    const target = vertexEndpoint({ project: 'p', region: 'us-central1', endpoint: 'e', servingImage: 'img' });
    expect(() =>
      definePipeline({
        ...base.spec,
        name: 'vx',
        deploy: { target, rollout: { shadow: {}, analysis: { source: { prometheus: 'http://p:9090' } } } },
      }),
    ).toThrow(/deploy\.rollout\.shadow: needs the local target's router/);
  });
});
