import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileObjectStore, PreconditionFailedError, updateJson } from '../../registry/object-store.js';
import { readMetrics } from '../../activities/train/contract.js';
import { formatDuration, parseDuration } from '../../sdk/duration.js';
import { evaluateGate } from '../../sdk/gate.js';
import { fnv1a64, newRunKey, trainingJobKey } from '../../sdk/ids.js';

describe('durations', () => {
  it('parse and format', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('7 days')).toBeUndefined();
    expect(formatDuration(90_000)).toBe('1m30s');
  });
});

describe('ids', () => {
  it('job keys are deterministic, label-safe and ignore the attempt', () => {
    const a = trainingJobKey('default', 'pipeline/churn/k1', '2', 'churn');
    expect(a).toBe(trainingJobKey('default', 'pipeline/churn/k1', '2', 'churn'));
    expect(a).not.toBe(trainingJobKey('default', 'pipeline/churn/k2', '2', 'churn'));
    expect(a).toMatch(/^[a-z0-9-]{1,63}$/);
    expect(fnv1a64('')).toBe('cbf29ce484222325');
    expect(fnv1a64('a')).toBe('af63dc4c8601ec8c');
  });
  it('run keys sort by time', () => {
    expect(newRunKey(new Date('2026-11-22T19:30:05Z'), () => 0)).toBe('20261122-193005-aaaa');
  });
});

describe('gate', () => {
  it('checks bounds and fails closed on missing metrics', () => {
    const report = evaluateGate(
      { metrics: { auc: { min: 0.8 }, latency: { max: 10 }, f1: { min: 0.5 } } },
      { auc: 0.85, latency: 12 },
    );
    expect(report.passed).toBe(false);
    expect(report.checks.map((c) => c.passed)).toEqual([true, false, false]);
    expect(report.checks[2]!.reason).toMatch(/f1 is missing from metrics.json/);
  });
});

describe('metrics.json contract', () => {
  it('accepts finite numbers and rejects NaN, strings and empty files', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'metrics-'));
    const write = (text: string) => fs.writeFile(path.join(dir, 'metrics.json'), text);
    await write('{"auc": 0.9}');
    expect(await readMetrics(dir)).toEqual({ auc: 0.9 });
    await write('{"auc": NaN, "f1": "0.5"}');
    await expect(readMetrics(dir)).rejects.toThrow(/auc="NaN", f1="0.5"/);
    await write('{}');
    await expect(readMetrics(dir)).rejects.toThrow(/empty/);
    await fs.rm(path.join(dir, 'metrics.json'));
    await expect(readMetrics(dir)).rejects.toThrow(/wrote no .*metrics.json/);
  });
});

describe('FileObjectStore', () => {
  it('create-only writes and generation preconditions never lose an update', async () => {
    const store = new FileObjectStore(await fs.mkdtemp(path.join(os.tmpdir(), 'store-')));
    await store.put('a/b.json', '1', { ifGeneration: 'absent' });
    await expect(store.put('a/b.json', '2', { ifGeneration: 'absent' })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    await Promise.all(
      Array.from({ length: 20 }, () =>
        updateJson<number[]>(store, 'counter.json', (cur) => [...(cur ?? []), cur?.length ?? 0]),
      ),
    );
    const final = JSON.parse((await store.get('counter.json'))!.data.toString()) as number[];
    expect(final).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(await store.list('a/')).toEqual(['a/b.json']);
    expect(() => store.localPath('../etc/passwd')).toThrow(/Invalid object key/);
  });
});
