/**
 * Ingest on both stores: the same cases on `file://` and on `gs://` (fake-gcs-server), a single CSV, a sharded
 * Parquet prefix and a CSV glob, each checked against a profile computed independently of DuckDB; then every
 * bad-data case: each fails with `DataValidationFailed` naming file, row and column, and writes no snapshot.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ingestSource, type IngestHooks } from '../../activities/ingest/ingest.js';
import { DuckSession } from '../../activities/ingest/duckdb.js';
import { sourceDigest } from '../../activities/ingest/sources.js';
import { openObjectStore, type ObjectStore } from '../../registry/object-store.js';
import type { DataProblem, DataSnapshot } from '../../sdk/run-types.js';
import type { IngestSpec } from '../../sdk/spec/ingest.js';
import { csvText, csvToParquet, datasetSpec, expectedCategories, expectedNumeric } from '../helpers/datasets.js';
import { createTestBucket } from '../helpers/gcs.js';

let dir: string;
let bucket: string;
let storage: Storage;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ingest-sources-'));
  bucket = await createTestBucket('ingest');
  storage = new Storage({ apiEndpoint: inject('gcsEndpoint'), projectId: 'local' });
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** A place holding sources and a store: a local folder (file://) or a bucket (gs://). */
interface Place {
  name: 'file' | 'gs';
  /** Writes a source file and returns its URI. */
  write(rel: string, data: Buffer | string): Promise<string>;
  uri(rel: string): string;
  remove(rel: string): Promise<void>;
  store(): ObjectStore;
}

let counter = 0;
function place(name: 'file' | 'gs'): Place {
  const scope = `case-${++counter}`;
  if (name === 'file') {
    return {
      name,
      async write(rel, data) {
        const file = path.join(dir, scope, 'src', rel);
        await fs.mkdir(path.dirname(file), { recursive: true });
        await fs.writeFile(file, data);
        return pathToFileURL(file).href;
      },
      uri: (rel) => pathToFileURL(path.join(dir, scope, 'src', rel)).href + (rel.endsWith('/') ? '/' : ''),
      remove: (rel) => fs.rm(path.join(dir, scope, 'src', rel)),
      store: () => openObjectStore(pathToFileURL(path.join(dir, scope, 'store')).href),
    };
  }
  return {
    name,
    async write(rel, data) {
      await storage.bucket(bucket).file(`${scope}/src/${rel}`).save(data, { resumable: false });
      return `gs://${bucket}/${scope}/src/${rel}`;
    },
    uri: (rel) => `gs://${bucket}/${scope}/src/${rel}`,
    remove: async (rel) => {
      await storage.bucket(bucket).file(`${scope}/src/${rel}`).delete();
    },
    store: () => openObjectStore(`gs://${bucket}/${scope}/store`),
  };
}

async function ingest(store: ObjectStore, spec: IngestSpec, hooks: IngestHooks = {}): Promise<DataSnapshot> {
  return ingestSource(store, { pipeline: 'data', runKey: 'r', ingest: spec }, hooks);
}

async function failure(
  promise: Promise<unknown>,
): Promise<{ message: string; problems: DataProblem[]; type?: string | null }> {
  const err = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as (Error & { type?: string | null; details?: unknown[] }) | undefined;
  expect(err, 'ingest should have failed').toBeInstanceOf(Error);
  expect(err!.type).toBe('DataValidationFailed');
  return {
    message: err!.message,
    problems: (err!.details?.[0] as { problems: DataProblem[] }).problems,
    type: err!.type,
  };
}

async function parquetRows(store: ObjectStore, uri: string): Promise<number> {
  const key = uri.slice(store.root.length + 1);
  const local = path.join(dir, `read-${++counter}.parquet`);
  await fs.writeFile(local, (await store.get(key))!.data);
  const duck = await DuckSession.open({ tempDirectory: dir, threads: 1 });
  try {
    const [r] = await duck.rows(`SELECT count(*) AS n FROM read_parquet('${local}')`);
    return Number(r!.n);
  } finally {
    duck.close();
  }
}

function expectProfile(profile: Record<string, Record<string, unknown>>, rows: number): void {
  for (const [name, column] of [
    ['x', 0],
    ['n', 1],
    ['y', 4],
  ] as const) {
    const expected = expectedNumeric(rows, column);
    const got = profile[name]!;
    expect(got).toMatchObject({ count: rows, missing: 0, min: expected.min, max: expected.max });
    expect(got.mean as number).toBeCloseTo(expected.mean, 9);
    expect(got.std as number).toBeCloseTo(expected.std, 9);
  }
  expect(profile.cat!.categories).toEqual(expectedCategories(rows, 2));
  expect(profile.flag!.categories).toEqual(expectedCategories(rows, 3));
}

async function snapshotFiles(store: ObjectStore): Promise<string[]> {
  return (await store.list('snapshots/')).map((k) => k.split('/').slice(3).join('/')).sort();
}

describe.each(['file', 'gs'] as const)('ingest from %s://', (kind) => {
  it('a CSV file: data.csv is the source bytes, with a typed Parquet copy, a reference and a profile', async () => {
    const p = place(kind);
    const text = csvText(0, 5000);
    const source = await p.write('train.csv', text);
    const store = p.store();
    const snap = await ingest(store, datasetSpec(source));
    expect(snap).toMatchObject({ format: 'csv', rows: 5000, shards: 1, sha256: sha256(text), bytes: text.length });
    expect(snap.uri).toBe(store.uri(`snapshots/data/${sha256(text)}/data.csv`));
    expect(snap.columns).toEqual(['x', 'n', 'cat', 'flag', 'y']);
    expect(snap.sampleFeatures).toEqual({ x: 0, n: 0, cat: 'a', flag: true });
    expect((await store.get(`snapshots/data/${snap.sha256}/data.csv`))!.data.toString()).toBe(text);
    expect(await snapshotFiles(store)).toEqual([
      'data.csv',
      'data.parquet',
      'manifest.json',
      'profile.json',
      'reference.parquet',
    ]);
    expect(await parquetRows(store, snap.parquetUri!)).toBe(5000);
    expect(await parquetRows(store, snap.referenceUri!)).toBe(5000);
    const profile = JSON.parse((await store.get(`snapshots/data/${snap.sha256}/profile.json`))!.data.toString());
    expectProfile(profile.columns, 5000);
    expect(profile.reference).toMatchObject({ rows: 5000, sampled: false, of: 5000 });

    // The same bytes again: the same snapshot, nothing rewritten.
    expect(await ingest(store, datasetSpec(source))).toEqual(snap);
  });

  it('a sharded Parquet prefix: jobs get the merged Parquet snapshot; the manifest lists every shard', async () => {
    const p = place(kind);
    const bounds = [0, 1200, 2500, 4000];
    const shards: Buffer[] = [];
    for (let s = 0; s < 3; s++) {
      const csv = path.join(dir, `shard-${kind}-${counter}-${s}.csv`);
      await fs.writeFile(csv, csvText(bounds[s]!, bounds[s + 1]!));
      await csvToParquet(csv, `${csv}.parquet`);
      shards.push(await fs.readFile(`${csv}.parquet`));
      await p.write(`churn/2026-11/part-${s}.parquet`, shards[s]!);
    }
    await p.write('churn/2026-11/_SUCCESS', '');
    const store = p.store();
    const snap = await ingest(store, datasetSpec(p.uri('churn/2026-11/')));
    const digests = shards.map((b) => ({ sha256: sha256(b), bytes: b.length }));
    expect(snap).toMatchObject({ format: 'parquet', rows: 4000, shards: 3, sha256: sourceDigest(digests) });
    expect(snap.uri).toBe(snap.parquetUri);
    expect(await snapshotFiles(store)).toEqual(['data.parquet', 'manifest.json', 'profile.json', 'reference.parquet']);
    expect(await parquetRows(store, snap.uri)).toBe(4000);
    const manifest = JSON.parse((await store.get(`snapshots/data/${snap.sha256}/manifest.json`))!.data.toString());
    expect(manifest.shards.map((s: { uri: string; sha256: string }) => [path.basename(s.uri), s.sha256])).toEqual(
      digests.map((d, i) => [`part-${i}.parquet`, d.sha256]),
    );
    const profile = JSON.parse((await store.get(`snapshots/data/${snap.sha256}/profile.json`))!.data.toString());
    expectProfile(profile.columns, 4000);

    // A glob over the same shards is the same data, so the same snapshot.
    expect((await ingest(store, datasetSpec(p.uri('churn/2026-11/*.parquet')))).sha256).toBe(snap.sha256);
  });

  it('a CSV glob: shards concatenate under one header into data.csv', async () => {
    const p = place(kind);
    await p.write('in/a-1.csv', csvText(0, 700));
    await p.write('in/a-2.csv', csvText(700, 2000));
    await p.write('in/b-1.csv', 'not,matched\n');
    const store = p.store();
    const snap = await ingest(store, datasetSpec(p.uri('in/a-*.csv')));
    expect(snap).toMatchObject({ format: 'csv', rows: 2000, shards: 2 });
    const data = (await store.get(`snapshots/data/${snap.sha256}/data.csv`))!.data.toString();
    expect(data).toBe(csvText(0, 2000));
    const profile = JSON.parse((await store.get(`snapshots/data/${snap.sha256}/profile.json`))!.data.toString());
    expectProfile(profile.columns, 2000);
  });

  it('a shard deleted mid-read fails naming the shard, and nothing is snapshotted', async () => {
    const p = place(kind);
    for (let s = 0; s < 3; s++) await p.write(`parts/part-${s}.csv`, csvText(s * 100, (s + 1) * 100));
    const store = p.store();
    const gone = p.uri('parts/part-1.csv');
    const { message, problems } = await failure(
      ingest(store, datasetSpec(p.uri('parts/')), { afterListing: () => p.remove('parts/part-1.csv') }),
    );
    const named = kind === 'gs' ? gone : new URL(gone).pathname;
    expect(message).toContain(`shard ${named} was deleted`);
    expect(problems).toEqual([expect.objectContaining({ kind: 'source', file: named })]);
    expect(await store.list('snapshots/')).toEqual([]);
  });

  it('an empty prefix is not a dataset', async () => {
    const p = place(kind);
    await p.write('empty/_SUCCESS', '');
    const store = p.store();
    const { message, problems } = await failure(ingest(store, datasetSpec(p.uri('empty/'))));
    expect(message).toMatch(/no CSV or Parquet files match \(1 object\(s\) listed\); an empty prefix is not a dataset/);
    expect(problems[0]).toMatchObject({ kind: 'source' });
    expect(await store.list('snapshots/')).toEqual([]);
  });
});

describe('the reference sample', () => {
  it('over 100,000 rows: exactly 100,000, the same rows from every ingest, and the quantiles come from them', async () => {
    const text = csvText(0, 150_000);
    const a = place('file');
    const b = place('file');
    const snaps = [];
    for (const p of [a, b]) snaps.push(await ingest(p.store(), datasetSpec(await p.write('big.csv', text))));
    const rowsHash = async (p: Place, uri: string) => {
      const local = path.join(dir, `ref-${++counter}.parquet`);
      await fs.writeFile(local, (await p.store().get(uri.slice(p.store().root.length + 1)))!.data);
      const duck = await DuckSession.open({ tempDirectory: dir, threads: 1 });
      try {
        const [r] = await duck.rows(
          `SELECT count(*) AS n, sum(hash(x, n, cat, flag, y)) AS h FROM read_parquet('${local}')`,
        );
        return { n: Number(r!.n), h: String(r!.h) };
      } finally {
        duck.close();
      }
    };
    const [ra, rb] = [await rowsHash(a, snaps[0]!.referenceUri!), await rowsHash(b, snaps[1]!.referenceUri!)];
    expect(ra.n).toBe(100_000);
    expect(rb).toEqual(ra);
    const profile = JSON.parse(
      (await a.store().get(`snapshots/data/${snaps[0]!.sha256}/profile.json`))!.data.toString(),
    );
    expect(profile.reference).toEqual({ rows: 100_000, sampled: true, of: 150_000, seed: 42 });
    // x is uniform over 0..499.5: a uniform sample's quartiles land within 1% of the range of the exact ones.
    const q = profile.columns.x.quantiles;
    expect(Math.abs(q['0.25'] - 124.875)).toBeLessThan(5);
    expect(Math.abs(q['0.5'] - 249.75)).toBeLessThan(5);
    expect(Math.abs(q['0.75'] - 374.625)).toBeLessThan(5);
  });
});

describe('bad data: DataValidationFailed naming file, row and column; no snapshot', () => {
  const local = place('file');
  const store = () => local.store();

  it('a truncated Parquet file', async () => {
    const csv = path.join(dir, 'trunc.csv');
    await fs.writeFile(csv, csvText(0, 3000));
    await csvToParquet(csv, `${csv}.parquet`);
    const bytes = await fs.readFile(`${csv}.parquet`);
    const source = await local.write('trunc/data.parquet', bytes.subarray(0, Math.floor(bytes.length / 2)));
    const { message, problems } = await failure(ingest(store(), datasetSpec(source)));
    const file = new URL(source).pathname;
    expect(message).toContain(`${file} is not a readable Parquet file`);
    expect(problems).toEqual([expect.objectContaining({ kind: 'parse', file })]);
    expect(await store().list('snapshots/')).toEqual([]);
  });

  it('a ragged CSV row deep in a large file', async () => {
    const rows = csvText(0, 300_000).split('\n');
    rows[250_001] += ',surplus'; // data row 250,001 is CSV row 250,002 (the header is row 1)
    const source = await local.write('ragged.csv', rows.join('\n'));
    const { message, problems } = await failure(ingest(store(), datasetSpec(source)));
    const file = new URL(source).pathname;
    expect(message).toContain(`${file}: row 250002 has 6 fields; the header has 5`);
    expect(problems).toEqual([
      expect.objectContaining({ kind: 'parse', file, examples: [{ file, row: 250002, value: '6 fields' }] }),
    ]);
    expect(await store().list('snapshots/')).toEqual([]);
  });

  it('mixed types in a CSV column: the rows and values, every other check still applied', async () => {
    const rows = csvText(0, 100_000).split('\n');
    rows[90_000] = rows[90_000]!.replace(/^[^,]*/, 'n/a?'); // x
    rows[95_000] = rows[95_000]!.replace(/^([^,]*),[^,]*/, '$1,2.5'); // n is an integer
    rows[96_000] = rows[96_000]!.replace(/^([^,]*),[^,]*/, '$1,-3'); // and at least 0
    const source = await local.write('mixed.csv', rows.join('\n'));
    const { problems } = await failure(ingest(store(), datasetSpec(source)));
    const file = new URL(source).pathname;
    expect(problems).toEqual([
      expect.objectContaining({
        column: 'x',
        kind: 'type',
        message: '1 value(s) are not number, e.g. row 90001: "n/a?"',
        examples: [{ file, row: 90001, value: 'n/a?' }],
      }),
      expect.objectContaining({
        column: 'n',
        kind: 'type',
        message: '1 value(s) are not integer, e.g. row 95001: "2.5"',
      }),
      expect.objectContaining({
        column: 'n',
        kind: 'range',
        message: '1 value(s) outside [0, 6], e.g. row 96001: "-3"',
      }),
    ]);
    expect(await store().list('snapshots/')).toEqual([]);
  });

  it('mixed types across Parquet shards: the shard whose column has another type', async () => {
    const csv = path.join(dir, 'mixed-shard.csv');
    await fs.writeFile(csv, csvText(0, 500));
    await csvToParquet(csv, path.join(dir, 'ok.parquet'));
    await csvToParquet(csv, path.join(dir, 'text.parquet'), {
      x: 'VARCHAR',
      n: 'BIGINT',
      cat: 'VARCHAR',
      flag: 'BOOLEAN',
      y: 'INTEGER',
    });
    await local.write('shards/part-0.parquet', await fs.readFile(path.join(dir, 'ok.parquet')));
    const second = await local.write('shards/part-1.parquet', await fs.readFile(path.join(dir, 'text.parquet')));
    const { message, problems } = await failure(ingest(store(), datasetSpec(local.uri('shards/'))));
    const file = new URL(second).pathname;
    expect(problems).toEqual([
      { column: 'x', kind: 'type', file, message: `column is VARCHAR in ${file}; declared number` },
    ]);
    expect(message).toContain('(2 shards) failed 1 data check(s)');
    expect(await store().list('snapshots/')).toEqual([]);
  });

  it('a header-only file has no data rows', async () => {
    const source = await local.write('header-only.csv', 'x,n,cat,flag,y\n');
    const { problems } = await failure(ingest(store(), datasetSpec(source)));
    expect(problems).toEqual([{ kind: 'rows', message: '0 data rows; ingest.minRows is 1' }]);
    expect(await store().list('snapshots/')).toEqual([]);
  });

  it('a missing source', async () => {
    const { problems } = await failure(ingest(store(), datasetSpec(local.uri('nothing-here.csv'))));
    expect(problems[0]).toMatchObject({ kind: 'source', message: expect.stringMatching(/does not exist/) });
  });
});
