/**
 * The pure parts of monitoring in production: the serving-log format's request/response readers (Vertex/KServe
 * v1 and v2), KServe logger event parsing, quality metrics against scikit-learn's documented values, prediction
 * shapes, and the spec's checks of `monitor.labels` and `kserve({ logger })`.
 */
import { describe, expect, it } from 'vitest';
import { parseKServeEvent } from '../../activities/monitor/collect.js';
import { predictionShape } from '../../activities/monitor/prediction-drift.js';
import { classificationMetrics, regressionMetrics, rocAuc } from '../../activities/monitor/quality-metrics.js';
import { instancesOf, predictionsOf, servedPredictions, versionInUri } from '../../activities/monitor/serving-log.js';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { kserve } from '../../sdk/factories.js';
import type { PipelineConfig } from '../../sdk/spec/pipeline.js';
import { fixturePipeline } from '../helpers/harness.js';

describe('serving log format', () => {
  it('reads v1 instances (objects, or lists keyed by columns) and v2 tensors', () => {
    expect(instancesOf({ instances: [{ a: 1 }] })).toEqual([{ a: 1 }]);
    expect(instancesOf({ instances: [[1, 2]] }, ['a', 'b'])).toEqual([{ a: 1, b: 2 }]);
    expect(instancesOf({ instances: [[1, 2]] })).toEqual([[1, 2]]);
    const v2 = { inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3, 4] }] };
    expect(instancesOf(v2, ['a', 'b'])).toEqual([
      { a: 1, b: 2 },
      { a: 3, b: 4 },
    ]);
    const perFeature = {
      inputs: [
        { name: 'a', shape: [2], data: [1, 3] },
        { name: 'b', shape: [2], data: [2, 4] },
      ],
    };
    expect(instancesOf(perFeature)).toEqual([
      { a: 1, b: 2 },
      { a: 3, b: 4 },
    ]);
    expect(() => instancesOf({ rows: [] })).toThrow(/neither "instances" \(v1\) nor "inputs" \(v2\)/);
    expect(predictionsOf({ outputs: [{ name: 'p', shape: [2, 1], data: [0, 1] }] })).toEqual([0, 1]);
    expect(predictionsOf({ outputs: [{ name: 'p', shape: [2, 2], data: [0.1, 0.9, 0.8, 0.2] }] })).toEqual([
      [0.1, 0.9],
      [0.8, 0.2],
    ]);
  });

  it('one line per instance, ids suffixed only for batches; a count mismatch is an error', () => {
    const meta = { id: 'r1', ts: new Date('2026-01-01T00:00:00Z'), model: 'm', version: 2 };
    expect(servedPredictions(meta, { instances: [{ a: 1 }] }, { predictions: [0] })).toEqual([
      { id: 'r1', ts: '2026-01-01T00:00:00.000Z', model: 'm', version: 2, features: { a: 1 }, prediction: 0 },
    ]);
    expect(
      servedPredictions(meta, { instances: [{ a: 1 }, { a: 2 }] }, { predictions: [0, 1] }).map((l) => l.id),
    ).toEqual(['r1/0', 'r1/1']);
    expect(() => servedPredictions(meta, { instances: [{ a: 1 }] }, { predictions: [] })).toThrow(
      /1 instances but 0 predictions/,
    );
    expect(versionInUri('gs://b/registry/models/churn/versions/12/artifacts/')).toBe(12);
    expect(versionInUri('gs://b/somewhere')).toBeNull();
  });
});

describe('KServe logger events', () => {
  const headers = {
    'ce-specversion': '1.0',
    'ce-id': 'abc',
    'ce-type': 'org.kubeflow.serving.inference.request',
    'ce-source': 'http://localhost:9081/',
    'ce-time': '2026-01-01T00:00:00Z',
    'ce-inferenceservicename': 'churn',
    'ce-annotations': '{"mlops.temporal.io/model-version":"4"}',
    'content-type': 'application/json',
  };
  it('reads the binary mode attributes, the model and the version annotation', () => {
    const e = parseKServeEvent(headers, Buffer.from('{"instances":[[1]]}'), {});
    expect(e).toMatchObject({ id: 'abc', model: 'churn', version: 4, data: { instances: [[1]] } });
    expect(parseKServeEvent(headers, Buffer.from('{}'), { model: 'other' }).model).toBe('other');
  });
  it('names what is wrong', () => {
    const bad =
      (h: Record<string, string | undefined>, body = '{}') =>
      () =>
        parseKServeEvent({ ...headers, ...h }, Buffer.from(body), {});
    expect(bad({ 'ce-source': '' })).toThrow(/event abc: no source/);
    expect(bad({ 'ce-inferenceservicename': undefined })).toThrow(/without --model/);
    expect(bad({ 'ce-time': 'yesterday' })).toThrow(/time "yesterday" is not a time/);
  });
});

describe('quality metrics', () => {
  it('AUC and log loss equal scikit-learn on its documented examples', () => {
    // roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [false, false, true, true])).toBeCloseTo(0.75, 12);
    expect(rocAuc([0.5, 0.5], [false, true])).toBe(0.5); // a tie counts half
    expect(rocAuc([0.1, 0.2], [true, true])).toBeUndefined();
    // log_loss(["spam", "ham", "ham", "spam"], [[.1, .9], [.9, .1], [.8, .2], [.35, .65]]) == 0.21616...
    const rows = [
      { predicted: 'spam', actual: 'spam', score: 0.9 },
      { predicted: 'ham', actual: 'ham', score: 0.1 },
      { predicted: 'ham', actual: 'ham', score: 0.2 },
      { predicted: 'spam', actual: 'spam', score: 0.65 },
    ];
    const m = classificationMetrics(rows, 'spam');
    expect(m.logLoss).toBeCloseTo(0.21616187468057912, 12);
    expect(m).toMatchObject({ accuracy: 1, precision: 1, recall: 1, auc: 1 });
  });
  it('precision, recall and regression errors', () => {
    const m = classificationMetrics(
      [
        { predicted: '1', actual: '1' },
        { predicted: '1', actual: '0' },
        { predicted: '0', actual: '1' },
        { predicted: '0', actual: '0' },
      ],
      '1',
    );
    expect(m).toEqual({ accuracy: 0.5, precision: 0.5, recall: 0.5 }); // no scores: no AUC or log loss
    expect(
      regressionMetrics([
        { predicted: 3, actual: 1 },
        { predicted: 1, actual: 1 },
      ]),
    ).toEqual({
      rmse: Math.sqrt(2),
      mae: 1,
    });
  });
});

describe('prediction shapes', () => {
  it('a label and the scores every prediction has', () => {
    expect(predictionShape([1, 0, 1])).toEqual({ label: true, scores: [] });
    expect(
      predictionShape([
        { label: 1, score: 0.7 },
        { label: 0, score: 0.2 },
      ]),
    ).toEqual({
      label: true,
      scores: ['score'],
    });
    expect(predictionShape([1.5, 2.25])).toEqual({ label: false, scores: [''] });
    expect(
      predictionShape([
        [0.2, 0.8],
        [0.6, 0.4],
      ]),
    ).toEqual({ label: true, scores: ['[0]', '[1]'] });
  });
});

describe('spec', () => {
  const base = fixturePipeline().spec as PipelineConfig;
  it('monitor.labels: a prefix, metrics of the task', () => {
    const labels = { prefix: 'gs://acme-labels/churn/', task: 'classification', metrics: { accuracy: { min: 0.8 } } };
    const spec = definePipeline({ ...base, monitor: { enabled: true, labels } } as PipelineConfig).spec;
    expect(spec.monitor.labels).toMatchObject({ idColumn: 'request_id', labelColumn: 'label', minLabels: 10 });
    expect(() =>
      definePipeline({ ...base, monitor: { labels: { ...labels, metrics: { rmse: { max: 1 } } } } } as PipelineConfig),
    ).toThrow(/monitor\.labels\.metrics\.rmse.*not a classification metric: use accuracy, precision/);
    expect(() =>
      definePipeline({ ...base, monitor: { labels: { ...labels, prefix: 's3://x/' } } } as PipelineConfig),
    ).toThrow(/monitor\.labels\.prefix.*gs:\/\/ or file:\/\/ prefix/);
  });
  it('kserve({ logger }) needs a URL', () => {
    expect(kserve({ modelFormat: 'sklearn', logger: { url: 'http://collect.monitoring' } }).logger).toEqual({
      url: 'http://collect.monitoring',
    });
    expect(() => kserve({ modelFormat: 'sklearn', logger: { url: 'collect' } })).toThrow(
      /logger\.url.*temporal-mlops collect/,
    );
  });
});
