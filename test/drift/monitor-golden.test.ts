/**
 * The monitor end to end on the golden cases: each case's reference goes through ingest (CSV → snapshot with
 * its Parquet reference), its current sample becomes a serving window of two segments, and computeDriftReport's
 * scores must equal scipy's golden values, and the in-memory `columnDrift` (what the monitor computed before
 * it read Parquet) for the default test, to the same 1e-9 as the statistics' own golden tests.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestSource } from '../../activities/ingest/ingest.js';
import { computeDriftReport } from '../../activities/monitor/monitoring.js';
import { columnDrift } from '../../sdk/drift/statistics.js';
import { openObjectStore, type ObjectStore } from '../../registry/object-store.js';
import type { ColumnReport } from '../../sdk/run-types.js';
import type { StatTestName } from '../../sdk/drift/statistics.js';
import { fixturePipeline } from '../helpers/harness.js';

import { golden } from './golden-cases.js';

let dir: string;
let store: ObjectStore;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'monitor-golden-'));
  store = openObjectStore(pathToFileURL(path.join(dir, 'store')).href);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function close(actual: number | undefined, expected: number, rel = 1e-9, abs = 1e-15): void {
  expect(actual, 'score').toBeTypeOf('number');
  expect(Math.abs(actual! - expected), `actual ${actual}, expected ${expected}`).toBeLessThanOrEqual(
    Math.max(rel * Math.abs(expected), abs),
  );
}

let cases = 0;
/**
 * Snapshots `reference` as the column `v` through ingest, writes `current` as a two-segment window, and checks
 * the window with one copy of `v` per test (`v_ks`, `v_psi`, ...) plus `v` under the default test.
 */
async function driftOf(
  kind: 'number' | 'string',
  reference: (number | string)[],
  current: (number | string)[],
  tests: StatTestName[],
): Promise<Record<string, ColumnReport>> {
  const name = `case-${++cases}`;
  const columns = ['v', ...tests.map((t) => `v_${t}`)];
  const csv = path.join(dir, `${name}.csv`);
  const cell = (x: number | string) => (typeof x === 'number' ? String(x) : JSON.stringify(x));
  await fs.writeFile(
    csv,
    [columns.join(','), ...reference.map((x) => columns.map(() => cell(x)).join(','))].join('\n'),
  );
  const spec = fixturePipeline({
    name,
    ingest: { source: csv, columns: Object.fromEntries(columns.map((c) => [c, { type: kind }])) },
    monitor: { tests: Object.fromEntries(tests.map((t) => [`v_${t}`, { test: t }])) },
  }).spec;
  const snapshot = await ingestSource(store, { pipeline: name, runKey: 'r', ingest: spec.ingest });
  const lines = current.map((x) => JSON.stringify({ features: Object.fromEntries(columns.map((c) => [c, x])) }));
  const half = Math.ceil(lines.length / 2);
  const window = '2026-01-01T00:00:00.000Z';
  await store.put(`monitoring/${name}/windows/${window}/a.jsonl`, lines.slice(0, half).join('\n') + '\n');
  await store.put(`monitoring/${name}/windows/${window}/b.jsonl`, lines.slice(half).join('\n') + '\n');
  const report = await computeDriftReport(store, { model: name, version: 1, snapshot, spec }, window);
  expect(report.rows).toBe(current.length);
  return Object.fromEntries(report.columns.map((c) => [c.column, c]));
}

describe('monitor on the golden KS cases', () => {
  for (const c of golden.cases.ks) {
    it(c.name, async () => {
      const r = await driftOf('number', c.a, c.b, ['ks']);
      close(r.v_ks!.score, c.pvalue, 1e-9, 1e-300);
      const before = columnDrift('v', 'numerical', c.a, c.b);
      expect(r.v).toMatchObject({ test: before.test, referenceRows: before.referenceRows });
      close(r.v!.score, before.score, 1e-12, 1e-300);
    });
  }
});

describe('monitor on the golden numerical cases', () => {
  for (const c of golden.cases.numeric) {
    it(c.name, async () => {
      const tests: StatTestName[] = ['wasserstein', 'psi', 'kl', 'jensenshannon'];
      if (c.chisquare !== null) tests.push('chisquare');
      const r = await driftOf('number', c.a, c.b, tests);
      close(r.v_wasserstein!.score, c.wasserstein);
      close(r.v_psi!.score, c.psi);
      close(r.v_kl!.score, c.kl);
      close(r.v_jensenshannon!.score, c.jensenshannon);
      if (c.chisquare !== null) close(r.v_chisquare!.score, c.chisquare, 1e-9, 1e-300);
      const before = columnDrift('v', 'numerical', c.a, c.b);
      expect(r.v).toMatchObject({ test: before.test, drifted: before.drifted });
      close(r.v!.score, before.score, 1e-12, 1e-300);
    });
  }
});

describe('monitor on the golden categorical cases', () => {
  for (const c of golden.cases.categorical) {
    it(c.name, async () => {
      const tests: StatTestName[] = ['chisquare', 'psi', 'kl', 'jensenshannon'];
      if (c.z !== null) tests.push('z');
      const r = await driftOf('string', c.a, c.b, tests);
      if (c.chisquare === null) expect(r.v_chisquare!.score).toBe(1);
      else close(r.v_chisquare!.score, c.chisquare, 1e-9, 1e-300);
      if (c.z !== null) close(r.v_z!.score, c.z, 1e-9, 1e-15);
      close(r.v_psi!.score, c.psi);
      close(r.v_kl!.score, c.kl);
      close(r.v_jensenshannon!.score, c.jensenshannon);
      const before = columnDrift('v', 'categorical', c.a, c.b);
      expect(r.v).toMatchObject({ test: before.test, drifted: before.drifted });
      close(r.v!.score, before.score, 1e-12, 1e-300);
    });
  }
});
