/**
 * Synthetic datasets for ingest tests: rows from a formula, so the expected profile is computed here, in plain
 * JS, independently of the DuckDB code under test. Parquet copies are written by DuckDB from the same CSV.
 */
import { promises as fs } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { IngestSpecSchema, type IngestSpec } from '../../sdk/spec/ingest.js';

export const COLUMNS = ['x', 'n', 'cat', 'flag', 'y'] as const;
const CATS = ['a', 'b', 'c'];

/** Row `i` of the dataset (global index, so shards of one dataset continue each other). */
export function row(i: number): [number, number, string, boolean, number] {
  return [(i % 1000) * 0.5, i % 7, CATS[i % 3]!, i % 2 === 0, (i * 7) % 3 === 0 ? 1 : 0];
}

/** CSV text of rows [from, to) with a header. */
export function csvText(from: number, to: number): string {
  const lines = [COLUMNS.join(',')];
  for (let i = from; i < to; i++) lines.push(row(i).join(','));
  return lines.join('\n') + '\n';
}

/** The ingest spec of this dataset for a source. */
export function datasetSpec(source: string, extra: Record<string, unknown> = {}): IngestSpec {
  return IngestSpecSchema.parse({
    source,
    columns: {
      x: { type: 'number', min: 0 },
      n: { type: 'integer', min: 0, max: 6 },
      cat: { type: 'string', allowed: CATS },
      flag: { type: 'boolean' },
      y: { type: 'integer' },
    },
    target: 'y',
    ...extra,
  });
}

/** Count, min, max, mean and population std of a numeric column over rows [0, n), by Welford. */
export function expectedNumeric(n: number, column: 0 | 1 | 4) {
  let mean = 0;
  let m2 = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = row(i)[column] as number;
    const d = v - mean;
    mean += d / (i + 1);
    m2 += d * (v - mean);
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { count: n, missing: 0, min, max, mean, std: Math.sqrt(m2 / n) };
}

/** Category counts of `cat` and `flag` over rows [0, n). */
export function expectedCategories(n: number, column: 2 | 3): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const k = String(row(i)[column]);
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
}

/** Writes a Parquet file from a CSV file with the dataset's types (DuckDB does the writing). */
export async function csvToParquet(
  csvFile: string,
  parquetFile: string,
  types?: Record<string, string>,
): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  const cols = types ?? { x: 'DOUBLE', n: 'BIGINT', cat: 'VARCHAR', flag: 'BOOLEAN', y: 'INTEGER' };
  const struct = Object.entries(cols)
    .map(([k, v]) => `'${k}': '${v}'`)
    .join(', ');
  try {
    await connection.run(
      `COPY (SELECT * FROM read_csv('${csvFile}', header=true, auto_detect=false, columns={${struct}})) TO '${parquetFile}' (FORMAT parquet)`,
    );
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
  await fs.stat(parquetFile);
}
