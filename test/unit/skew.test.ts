/** The skew gate's pure parts: the offline predictions contract, sampling, comparison and diagnosis. */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { parseOfflinePredictions, readPredictions } from '../../activities/train/contract.js';

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
