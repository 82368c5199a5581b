/**
 * The quality check on every label format, on a gs:// prefix (the suite's fake-gcs-server): JSONL, CSV and a
 * Parquet file written by DuckDB, joined on a key feature (`keyColumn`) for a regression model. RMSE and MAE per
 * window equal the hand-computed values; another version's predictions, an unknown key, a label that is not a
 * number and a window without usable predictions are counted and reported, and two breached windows make the
 * model `quality-degraded`.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckSession, sqlString } from '../../activities/ingest/duckdb.js';
import { computeQualityReport } from '../../activities/monitor/quality.js';
import { openObjectStore, type ObjectStore } from '../../registry/object-store.js';
import { createTestBucket } from '../helpers/gcs.js';
import { fixturePipeline } from '../helpers/harness.js';

let dir: string;
let store: ObjectStore;
let labelsPrefix: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quality-files-'));
  store = openObjectStore(pathToFileURL(path.join(dir, 'store')).href);
  labelsPrefix = `gs://${await createTestBucket('mlops-labels')}/churn/`;
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const W1 = '2026-01-01T00:00:00.000Z';
const W2 = '2026-01-01T01:00:00.000Z';
const W3 = '2026-01-01T02:00:00.000Z';

const line = (customer: string, prediction: number, version = 1) =>
  JSON.stringify({
    id: `r-${customer}`,
    ts: W1,
    model: 'spend',
    version,
    features: { customer_id: customer, tenure: 3 },
    prediction,
  });

describe('quality check on JSONL, CSV and Parquet labels', () => {
  it('joins on a key feature, computes RMSE/MAE per window, counts bad labels, finds the sustained breach', async () => {
    await store.put(
      `monitoring/spend/windows/${W1}/a.jsonl`,
      [line('c1', 3), line('c2', 5), line('c9', 7, 2)].join('\n'),
    );
    await store.put(`monitoring/spend/windows/${W2}/a.jsonl`, [line('c3', 10), line('c4', 0)].join('\n'));
    await store.put(`monitoring/spend/windows/${W3}/a.jsonl`, 'not json\n');

    const labels = openObjectStore(labelsPrefix);
    await labels.put(
      '2026-01-01/a.jsonl',
      ['{"customer_id":"c1","y":3}', '{"customer_id":"c2","y":4}', '{"customer_id":"c9","y":7}'].join('\n'),
    );
    await labels.put('2026-01-02/b.csv', 'customer_id,y\nc3,10.5\nc1,abc\n');
    const parquet = path.join(dir, 'c.parquet');
    const duck = await DuckSession.open({ tempDirectory: dir, threads: 1 });
    await duck.run(
      `COPY (SELECT * FROM (VALUES ('c4', 2.0), ('zz', 1.0)) t(customer_id, y)) TO ${sqlString(parquet)} (FORMAT parquet)`,
    );
    duck.close();
    await labels.put('2026-01-03/c.parquet', await fs.readFile(parquet));
    await labels.put('README.txt', 'not a label file');

    const spec = fixturePipeline({
      name: 'spend',
      monitor: {
        enabled: true,
        window: '1h',
        labels: {
          prefix: labelsPrefix,
          task: 'regression',
          keyColumn: 'customer_id',
          idColumn: 'customer_id',
          labelColumn: 'y',
          metrics: { rmse: { max: 0.5 } },
          minLabels: 2,
          sustainedWindows: 2,
        },
      },
    }).spec;
    const report = await computeQualityReport(store, { model: 'spend', version: 1, spec });

    expect(report.windows.map((w) => [w.window, w.predictions, w.labelled, w.judged])).toEqual([
      [W1, 2, 2, true],
      [W2, 2, 2, true],
      [W3, 0, 0, false],
    ]);
    expect(report.windows[0]!.metrics).toEqual({ rmse: Math.sqrt(1 / 2), mae: 0.5 });
    expect(report.windows[1]!.metrics).toEqual({ rmse: Math.sqrt((0.25 + 4) / 2), mae: 1.25 });
    expect(report.windows[1]!.breaches).toEqual(['rmse 1.458 > max 0.5']);
    expect(report).toMatchObject({ degraded: true, window: W2 });
    expect(report.labels).toEqual({ files: 3, rows: 7, joined: 4, unknownIds: 2, duplicates: 0, wrongType: 1 });
    const problems = report.problems.join('\n');
    expect(problems).toMatch(/window 2026-01-01T02:00:00.000Z has no predictions with customer_id/);
    expect(problems).toMatch(/2026-01-02\/b\.csv row 2: label "abc" is not a number/);
    expect(problems).toMatch(/2026-01-03\/c\.parquet row 2: customer_id zz matches no served prediction/);
    expect(problems).toMatch(/2026-01-01\/a\.jsonl row 3: customer_id c9 matches no served prediction/); // version 2's
    const html = (await store.get(report.htmlUri.slice(store.root.length + 1)))!.data.toString();
    expect(html).toContain('rmse per window');
  });
});
