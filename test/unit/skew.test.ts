/** The skew gate's pure parts: the offline predictions contract, sampling, comparison and diagnosis. */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { parseOfflinePredictions, readPredictions } from '../../activities/train/contract.js';
import { comparePredictions, compareRow, labelOf, sampleRows, scoresOf } from '../../activities/deploy/skew/compare.js';
import { seededRandom } from '../../sdk/seeded-random.js';
import {
  associatedFeatures,
  float32Spacing,
  interpretProbes,
  observedExplanations,
  planProbes,
} from '../../activities/deploy/skew/diagnose.js';

describe('predictions.jsonl contract', () => {
  it('reads one row per line and counts them; a job without the file is fine', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'predictions-'));
    expect(await readPredictions(dir)).toBeUndefined();
    await fs.writeFile(
      path.join(dir, 'predictions.jsonl'),
      '{"key": 0, "instance": {"a": 1.5}, "prediction": 1}\n\n{"key": "r-1", "instance": [2, 3], "prediction": {"label": "x", "score": 0.25}}\n',
    );
    expect(await readPredictions(dir)).toEqual({ file: 'predictions.jsonl', rows: 2 });
    expect(parseOfflinePredictions('{"key": 7, "instance": {}, "prediction": [0.1, 0.9]}')).toEqual([
      { key: 7, instance: {}, prediction: [0.1, 0.9] },
    ]);
  });

  it.each([
    ['{"key": 0, "instance": {"a": 1}}', /line 1: prediction is required/],
    ['{"key": 0, "prediction": 1}', /line 1: instance/],
    ['{"instance": {}, "prediction": 1}', /line 1: key/],
    ['{"key": 0, "instance": {}, "prediction": 1, "label": 1}', /line 1: .*Unrecognized key/],
    ['{"key": 0, "instance": {"a": NaN}, "prediction": 1}', /line 1: NaN and Infinity are not allowed/],
    ['{"key": 0, "instance": {}, "prediction": {"score": Infinity}}', /NaN and Infinity/],
    [
      '{"key": 0, "instance": {}, "prediction": 1}\n{"key": 0, "instance": {}, "prediction": 0}',
      /line 2: key 0 appears twice/,
    ],
    ['{"key": 0, "instance": {}, "prediction": 1}\nnot json', /line 2 is not JSON/],
    ['\n\n', /is empty/],
  ])('rejects %j by line and reason', (text, message) => {
    expect(() => parseOfflinePredictions(text)).toThrow(message);
  });

  it('a malformed file fails the training stage with InvalidPredictions, not retried', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'predictions-'));
    await fs.writeFile(path.join(dir, 'predictions.jsonl'), '{"key": 0}\n');
    const err = (await readPredictions(dir).catch((e: unknown) => e)) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe('InvalidPredictions');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(/predictions.jsonl line 1/);
  });
});

describe('skew comparison', () => {
  const spec = { minAgreement: 1, maxAbsDiff: 1e-6 };
  const rows = [0, 1, 2, 3].map((i) => ({
    key: i,
    instance: { a: i, b: 10 * i },
    prediction: { label: i % 2, score: 0.25 * i },
  }));

  it('labels and scores are read alike on both sides', () => {
    expect([labelOf(1), labelOf('cat'), labelOf(true), labelOf(0.5), labelOf([0.1, 0.7, 0.2])]).toEqual([
      '1',
      '"cat"',
      'true',
      undefined,
      '#1',
    ]);
    expect(labelOf({ class: 'b', p: 0.9 })).toBe('"b"');
    expect([...scoresOf({ label: 1, score: 0.5, probs: [0.5, 0.5] })]).toEqual([
      ['score', 0.5],
      ['probs[0]', 0.5],
      ['probs[1]', 0.5],
    ]);
    expect(compareRow({ label: 1, score: 0.5 }, { label: 1 })).toMatchObject({ missing: ['score'], absDiff: Infinity });
  });

  it('identical answers pass with agreement 1 and no difference', () => {
    const s = comparePredictions(
      rows,
      rows.map((r) => r.prediction),
      spec,
    );
    expect(s).toMatchObject({ passed: true, agreement: 1, maxAbsDiff: 0, errors: 0 });
  });

  it('a flipped label, a drifted score and a missing answer each fail, worst rows first', () => {
    const served: unknown[] = [
      { label: 0, score: 0 },
      { label: 0, score: 0.25 }, // label flipped
      { label: 0, score: 0.5 + 1e-3 }, // score off
      undefined, // no answer
    ];
    const s = comparePredictions(rows, served, spec);
    expect(s.passed).toBe(false);
    expect(s.agreement).toBeCloseTo(2 / 3);
    expect(s.maxAbsDiff).toBeCloseTo(1e-3);
    expect(s.errors).toBe(1);
    expect(s.ranked.map((r) => r.row.key)).toEqual([3, 1, 2, 0]);
    expect(s.checks.filter((c) => !c.passed).map((c) => c.name)).toEqual([
      'rows without an answer',
      'class agreement',
      'largest absolute difference',
    ]);
  });

  it('a seeded sample is the same for the same seed, in file order, and all rows when there are fewer', () => {
    const many = Array.from({ length: 1000 }, (_, i) => i);
    const a = sampleRows(many, 50, 7);
    expect(a).toEqual(sampleRows(many, 50, 7));
    expect(a).not.toEqual(sampleRows(many, 50, 8));
    expect(new Set(a).size).toBe(50);
    expect(a).toEqual([...a].sort((x, y) => x - y));
    expect(sampleRows(many.slice(0, 10), 50, 7)).toHaveLength(10);
  });
});

describe('skew diagnosis', () => {
  const spec = { minAgreement: 1, maxAbsDiff: 1e-6 };
  // A model like the fixture's: a logistic score of features standardised over the evaluation rows.
  const random = seededRandom(3);
  const instances = Array.from({ length: 40 }, () => ({
    a: 5 + 4 * (random() - 0.5),
    b: 100 + 60 * (random() - 0.5),
    t: 1.7e9 + 40_000 * random(),
  }));
  const stats = Object.fromEntries(
    (['a', 'b', 't'] as const).map((f) => {
      const xs = instances.map((i) => i[f]);
      const mean = xs.reduce((x, y) => x + y, 0) / xs.length;
      return [f, { mean, std: Math.sqrt(xs.reduce((x, y) => x + (y - mean) ** 2, 0) / xs.length) }];
    }),
  ) as Record<'a' | 'b' | 't', { mean: number; std: number }>;
  const model = (x: Record<string, number>, fault?: string) => {
    const read = (f: 'a' | 'b' | 't') => {
      const name = fault === 'swap' ? ({ a: 'b', b: 'a', t: 't' } as const)[f] : f;
      const v = fault === 'float32' ? Math.fround(x[name]!) : x[name]!;
      return fault === 'unscaled' ? v : (v - stats[f].mean) / stats[f].std;
    };
    const p = 1 / (1 + Math.exp(-(0.5 * read('a') - 1 * read('b') + 1.5 * read('t'))));
    return fault === 'constant' ? { label: 1, score: 0.5 } : { label: p >= 0.5 ? 1 : 0, score: p };
  };
  const rows = instances.map((instance, i) => ({ key: i, instance, prediction: model(instance) }));

  async function diagnose(fault: string) {
    const served = rows.map((r) => model(r.instance, fault));
    const summary = comparePredictions(rows, served, spec);
    expect(summary.passed).toBe(false);
    const plan = planProbes(summary, spec, rows);
    const answers = plan.instances.map((i) => model(i as Record<string, number>, fault));
    return [...interpretProbes(plan, answers, spec, rows), ...observedExplanations(summary)];
  }

  it('names a swapped pair of features', async () => {
    const found = await diagnose('swap');
    expect(found.map((e) => [e.kind, e.features])).toEqual([['feature-swap', ['a', 'b']]]);
    expect(found[0]!.message).toMatch(/"a" and "b" exchanged reproduces the offline predictions/);
  });

  it('names a missing scaling step', async () => {
    const found = await diagnose('unscaled');
    // Unscaled, the large feature saturates every score: the answer is constant too.
    expect(found.map((e) => e.kind)).toEqual(['unscaled-inputs', 'constant-output']);
    expect(found[0]!.message).toMatch(/skips the scaling step/);
  });

  it('names the feature read as float32', async () => {
    const found = await diagnose('float32');
    expect(found.map((e) => [e.kind, e.features])).toEqual([['float32-inputs', ['t']]]);
    expect(found[0]!.message).toMatch(/reads "t" as float32, which loses up to/);
  });

  it('sees a constant answer without probes, and no probe claims it', async () => {
    const found = await diagnose('constant');
    expect(found.map((e) => e.kind)).toEqual(['constant-output']);
    expect(found[0]!.message).toMatch(/answers \{"label":1,"score":0.5\} for every one of the 40 rows/);
  });

  it('names the features differences move with when no hypothesis holds', () => {
    const served = rows.map((r) => ({ ...r.prediction, score: r.prediction.score + 1e-3 * r.instance.a }));
    const summary = comparePredictions(rows, served, spec);
    expect(associatedFeatures(summary)).toMatchObject({ kind: 'association', features: ['a'] });
    expect(float32Spacing(1.7e9)).toBe(128);
  });
});
