/** Ingest checks and profile on small files (DuckDB does the parsing; these pin our reading of its results). */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../../activities/ingest/ingest.js';
import { globToRegExp, sourceDigest } from '../../activities/ingest/sources.js';
import { IngestSpecSchema } from '../../sdk/spec/ingest.js';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingest-unit-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function csv(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, text);
  return file;
}

const columns = {
  age: { type: 'integer', min: 0, maxMissing: 0.5 },
  city: { type: 'string' },
  ok: { type: 'boolean' },
} as const;

describe('checkSource on CSV', () => {
  it('profiles numeric and categorical columns for monitoring', async () => {
    const source = await csv('good.csv', 'age,city,ok\n30,Oslo,true\n40,Oslo,false\n,Rome,1\n');
    const report = await checkSource(IngestSpecSchema.parse({ source, columns }));
    expect(report.problems).toEqual([]);
    expect(report.rows).toBe(3);
    expect(report.profile.age).toMatchObject({ count: 3, missing: 1, min: 30, max: 40, mean: 35, std: 5 });
    expect(report.profile.age?.quantiles?.['0.5']).toBeCloseTo(35, 6);
    expect(report.profile.city?.categories).toEqual({ Oslo: 2, Rome: 1 });
    expect(report.profile.ok?.categories).toEqual({ true: 2, false: 1 });
  });

  it('reads quoted fields, escaped quotes, embedded newlines, CRLF and a BOM', async () => {
    const source = await csv(
      'quoted.csv',
      '\ufeff"city",age,ok\r\n"Oslo, Norway",1,yes\r\n"say ""hi""",2,no\r\n"multi\nline",3,true\r\n',
    );
    const report = await checkSource(IngestSpecSchema.parse({ source, columns }));
    expect(report.problems).toEqual([]);
    expect(report.columns).toEqual(['city', 'age', 'ok']);
    expect(report.profile.city?.categories).toEqual({ 'Oslo, Norway': 1, 'say "hi"': 1, 'multi\nline': 1 });
  });

  it('reports missing and extra columns by name', async () => {
    const source = await csv('cols.csv', 'age,zip\n3,1\n');
    const report = await checkSource(IngestSpecSchema.parse({ source, columns }));
    expect(report.problems.map((p) => `${p.kind}:${p.column}`).sort()).toEqual([
      'extra-column:zip',
      'missing-column:city',
      'missing-column:ok',
    ]);
    expect(report.problems.find((p) => p.kind === 'extra-column')?.message).toBe(
      'column "zip" is not declared; declare it or set ingest.allowExtraColumns: true',
    );
  });

  it('names column, rule, rows and values for wrong types and fractions in integers', async () => {
    const source = await csv('bad.csv', 'age,city,ok\n3.5,Oslo,true\n,Rome,maybe\n,Oslo,false\nx,Rome,true\n');
    const report = await checkSource(IngestSpecSchema.parse({ source, columns }));
    const byKey = Object.fromEntries(report.problems.map((p) => [`${p.kind}:${p.column}`, p]));
    expect(Object.keys(byKey).sort()).toEqual(['type:age', 'type:ok']);
    expect(byKey['type:age']!.message).toBe('2 value(s) are not integer, e.g. row 2: "3.5", row 5: "x"');
    expect(byKey['type:age']!.examples).toEqual([
      { file: source, row: 2, value: '3.5' },
      { file: source, row: 5, value: 'x' },
    ]);
    expect(byKey['type:ok']!.message).toBe('1 value(s) are not boolean, e.g. row 3: "maybe"');
    // Bad values are neither values nor missing: 2 of 4 missing is within the 50% limit.
    expect(report.profile.age).toMatchObject({ count: 4, missing: 2 });
  });

  it('range and allowed-value problems give the first rows', async () => {
    const source = await csv('range.csv', 'age,city,ok\n-1,Oslo,true\n5,Paris,true\n-7,Lima,false\n');
    const spec = IngestSpecSchema.parse({
      source,
      columns: { ...columns, city: { type: 'string', allowed: ['Oslo', 'Rome'] } },
    });
    const report = await checkSource(spec);
    expect(report.problems.map((p) => p.message)).toEqual([
      '2 value(s) outside [0, inf], e.g. row 2: "-1", row 4: "-7"',
      '2 value(s) not in ["Oslo","Rome"], e.g. row 3: "Paris", row 4: "Lima"',
    ]);
  });
});

describe('source helpers', () => {
  it('globs match within a path segment, ** across segments', () => {
    expect(globToRegExp('*.parquet').test('part-1.parquet')).toBe(true);
    expect(globToRegExp('*.parquet').test('sub/part-1.parquet')).toBe(false);
    expect(globToRegExp('**/*.parquet').test('a/b/part-1.parquet')).toBe(true);
    expect(globToRegExp('part-?.csv').test('part-7.csv')).toBe(true);
    expect(globToRegExp('part-[0-4].csv').test('part-5.csv')).toBe(false);
  });

  it('one shard keeps its own sha256; several hash their digests in order', () => {
    const a = { sha256: 'a'.repeat(64), bytes: 1 };
    const b = { sha256: 'b'.repeat(64), bytes: 2 };
    expect(sourceDigest([a])).toBe(a.sha256);
    expect(sourceDigest([a, b])).toMatch(/^[0-9a-f]{64}$/);
    expect(sourceDigest([a, b])).not.toBe(sourceDigest([b, a]));
  });
});
