import { describe, expect, it } from 'vitest';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { PipelineError } from '../../sdk/errors.js';
import { local } from '../../sdk/factories.js';
import { SweepSpecSchema, type SweepConfig } from '../../sdk/spec/sweep.js';
import type { PipelineConfig } from '../../sdk/spec/pipeline.js';
import { AshaRule, bestTrial, keepReports, rungStep, sweepTrials } from '../../sdk/sweep.js';
import { parseReports } from '../../activities/train/progress.js';
import { contractEnv } from '../../activities/train/contract.js';

const sweep = (config: SweepConfig) => SweepSpecSchema.parse(config);

const base: PipelineConfig = {
  name: 'churn',
  ingest: { source: './data.csv', columns: { tenure: { type: 'number' }, churned: { type: 'integer' } } },
  train: { backend: local({ command: ['python', 'train.py'] }) },
  gate: { metrics: { auc: { min: 0.8 } } },
};

function refused(train: Record<string, unknown>): string {
  try {
    definePipeline({ ...base, train: { ...base.train, ...train } } as PipelineConfig);
  } catch (err) {
    expect(err).toBeInstanceOf(PipelineError);
    return (err as PipelineError).message;
  }
  throw new Error('expected definePipeline to refuse the sweep');
}

describe('sweep trials', () => {
  it('a grid is every combination in order, cut at the trial budget', () => {
    const grid = sweep({
      method: 'grid',
      metric: 'auc',
      space: { depth: { values: [2, 4] }, loss: { values: ['log', 'hinge', 'huber'] } },
    });
    expect(sweepTrials(grid)).toEqual([
      { depth: 2, loss: 'log' },
      { depth: 2, loss: 'hinge' },
      { depth: 2, loss: 'huber' },
      { depth: 4, loss: 'log' },
      { depth: 4, loss: 'hinge' },
      { depth: 4, loss: 'huber' },
    ]);
    expect(sweepTrials({ ...grid, trials: 4 })).toHaveLength(4);
  });

  it('random draws are the same for a seed, different for another, and inside each domain', () => {
    const config: SweepConfig = {
      method: 'random',
      metric: 'auc',
      trials: 50,
      seed: 7,
      space: {
        lr: { min: 1e-4, max: 1e-1, scale: 'log' },
        depth: { min: 2, max: 8, integer: true },
        dropout: { min: 0, max: 0.5 },
        opt: { values: ['adam', 'sgd'] },
      },
    };
    const a = sweepTrials(sweep(config));
    expect(sweepTrials(sweep(config))).toEqual(a);
    expect(sweepTrials(sweep({ ...config, seed: 8 }))).not.toEqual(a);
    for (const t of a) {
      expect(t.lr).toBeGreaterThanOrEqual(1e-4);
      expect(t.lr).toBeLessThanOrEqual(1e-1);
      expect(Number.isInteger(t.depth)).toBe(true);
      expect(t.depth).toBeGreaterThanOrEqual(2);
      expect(t.depth).toBeLessThanOrEqual(8);
      expect(t.dropout).toBeLessThan(0.5);
      expect(['adam', 'sgd']).toContain(t.opt);
    }
    // Log scale: about half of the draws below the geometric middle (1e-2.5), not ~3 % as on a linear scale.
    const low = a.filter((t) => (t.lr as number) < 10 ** -2.5).length;
    expect(low).toBeGreaterThan(12);
    expect(new Set(a.map((t) => t.depth)).size).toBe(7); // every integer of 2..8 drawn
  });
});

describe('ASHA rule', () => {
  const asha = sweep({
    method: 'asha',
    metric: 'auc',
    trials: 9,
    space: { x: { min: 0, max: 1 } },
    asha: { minSteps: 1, reductionFactor: 3, maxSteps: 9 },
  });

  it('rungs at minSteps * reductionFactor^k, below maxSteps', () => {
    expect([0, 1, 2].map((k) => rungStep(asha, k))).toEqual([1, 3, 9]);
    const rule = new AshaRule(asha);
    rule.observe(0, [
      { step: 1, value: 0.5 },
      { step: 3, value: 0.6 },
      { step: 9, value: 0.7 },
    ]);
    expect(rule.decisions.map((d) => d.rungStep)).toEqual([1, 3]); // no rung at maxSteps
  });

  it('keeps the best max(1, floor(n/3)) of the values at a rung, in arrival order', () => {
    const rule = new AshaRule(asha);
    expect(rule.observe(0, [{ step: 1, value: 0.5 }])).toBeUndefined(); // alone: kept
    expect(rule.observe(1, [{ step: 1, value: 0.4 }])?.trial).toBe(1); // 1 better of 2, keep 1: stopped
    expect(rule.observe(2, [{ step: 1.5, value: 0.6 }])).toBeUndefined(); // best of 3
    expect(rule.observe(3, [{ step: 1, value: 0.55 }])).toMatchObject({ better: 1, keep: 1 }); // 0.6 is better
    expect(rule.observe(4, [{ step: 1, value: 0.1 }])).toMatchObject({ better: 4, keep: 1 });
    expect(rule.observe(5, [{ step: 1, value: 0.58 }])).toBeUndefined();
    expect(rule.decisions.at(-1)).toMatchObject({ trial: 5, better: 1, keep: 2, continued: true });
    expect(rule.decisions.map((d) => d.continued)).toEqual([true, false, true, false, false, true]);
  });

  it('a report past several rungs is recorded at each, and reports after a stop are not looked at', () => {
    const rule = new AshaRule(asha);
    rule.observe(0, [{ step: 1, value: 0.9 }]);
    const stop = rule.observe(1, [
      { step: 4, value: 0.8 },
      { step: 5, value: 0.95 },
    ]);
    expect(stop).toMatchObject({ trial: 1, rung: 0, step: 4, competitors: 2, better: 1, keep: 1, continued: false });
    expect(rule.decisions).toHaveLength(2);
  });

  it('minimize: lower is better', () => {
    const rule = new AshaRule({ ...asha, direction: 'minimize' });
    rule.observe(0, [{ step: 1, value: 0.3 }]);
    expect(rule.observe(1, [{ step: 1, value: 0.2 }])).toBeUndefined();
    expect(rule.observe(2, [{ step: 1, value: 0.25 }])?.better).toBe(1);
  });

  it('the winner is the best completed value, the lowest index among equals', () => {
    expect(bestTrial({ direction: 'maximize' }, [])).toBeUndefined();
    const completed = [
      { index: 3, value: 0.8 },
      { index: 1, value: 0.9 },
      { index: 2, value: 0.9 },
    ];
    expect(bestTrial({ direction: 'maximize' }, completed)).toEqual({ index: 1, value: 0.9 });
    expect(bestTrial({ direction: 'minimize' }, completed)).toEqual({ index: 3, value: 0.8 });
  });
});

describe('intermediate metrics (metrics.jsonl)', () => {
  it('a trial record keeps at most 200 reports: past that every other one, always the last', () => {
    const reports = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => ({ step: from + i, value: (from + i) / 1000 }));
    expect(keepReports(reports(0, 150), reports(150, 200))).toHaveLength(200);
    const kept = keepReports(reports(0, 200), reports(200, 1000));
    expect(kept.length).toBeLessThanOrEqual(200);
    expect(kept.length).toBeGreaterThan(100);
    expect(kept[0]!.step).toBe(0);
    expect(kept.at(-1)!.step).toBe(999);
    expect(kept.map((r) => r.step)).toEqual([...kept.map((r) => r.step)].sort((a, b) => a - b));
  });

  it('reads complete lines that carry the metric, from a line on', () => {
    const text = '{"step": 1, "auc": 0.6}\n{"step": 2, "loss": 0.3}\n\n{"step": 3, "auc": 0.7}\n{"step": 4, "au';
    expect(parseReports(text, 'auc')).toEqual({
      reports: [
        { step: 1, value: 0.6 },
        { step: 3, value: 0.7 },
      ],
      lines: 4,
    });
    expect(parseReports(text, 'auc', 2)).toEqual({ reports: [{ step: 3, value: 0.7 }], lines: 4 });
    expect(parseReports('', 'auc')).toEqual({ reports: [], lines: 0 });
  });

  it('names the line and the fix on a malformed one', () => {
    expect(() => parseReports('{"step": 1, "auc": 0.6}\nnope\n', 'auc', 0, 'm.jsonl')).toThrow(
      /m\.jsonl line 2 is not JSON/,
    );
    expect(() => parseReports('{"auc": 0.6}\n', 'auc')).toThrow(/line 1: "step" must be a number ≥ 0/);
    expect(() => parseReports('{"step": 1, "auc": "high"}\n', 'auc')).toThrow(/"auc" must be a finite number/);
    expect(() => parseReports('[1]\n', 'auc')).toThrow(/each line is an object/);
  });

  it('a trial gets MLOPS_TRIAL and every job MLOPS_METRICS_FILE beside metrics.json', () => {
    const env = contractEnv({
      modelDir: 'gs://b/jobs/k/model/',
      checkpointDir: '',
      tensorboardDir: '',
      dataUri: 'gs://b/d.csv',
      runKey: 'r',
      jobKey: 'k',
      pipeline: 'p',
      params: { lr: 0.1 },
      trial: 4,
    });
    expect(env).toMatchObject({ MLOPS_METRICS_FILE: 'gs://b/jobs/k/model/metrics.jsonl', MLOPS_TRIAL: '4' });
  });
});

describe('train.sweep in definePipeline', () => {
  it('accepts a sweep and fills its defaults', () => {
    const def = definePipeline({
      ...base,
      train: {
        ...base.train,
        sweep: { method: 'asha', metric: 'auc', trials: 12, space: { lr: { min: 0.01, max: 1 } } },
      },
    });
    expect(def.spec.train.sweep).toMatchObject({
      parallelism: 1,
      seed: 0,
      direction: 'maximize',
      progressPoll: 30_000,
    });
  });

  it('names the field and the fix', () => {
    expect(refused({ sweep: { method: 'grid', metric: 'auc', space: { lr: { min: 0.1, max: 1 } } } })).toMatch(
      /train\.sweep\.space\.lr: a grid needs a list of values/,
    );
    expect(refused({ sweep: { method: 'random', metric: 'auc', space: { lr: { values: [1] } } } })).toMatch(
      /train\.sweep\.trials: is required with method "random"/,
    );
    expect(
      refused({
        sweep: { method: 'random', metric: 'auc', trials: 3, space: { lr: { min: 0, max: 1, scale: 'log' } } },
      }),
    ).toMatch(/train\.sweep\.space\.lr\.min: must be above 0 on a log scale/);
    expect(
      refused({
        sweep: { method: 'grid', metric: 'auc', space: { lr: { values: [1] } }, asha: { reductionFactor: 2 } },
      }),
    ).toMatch(/train\.sweep\.asha: applies to method "asha" only/);
    expect(
      refused({
        sweep: { method: 'grid', metric: 'auc', space: { lr: { values: [1] } } },
        placement: { taskQueue: 'gpu-pool' },
      }),
    ).toMatch(/train\.placement: a sweep on the local backend reads each trial's progress/);
  });
});
