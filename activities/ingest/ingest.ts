/**
 * Ingest: copy the source CSV into an immutable, content-addressed snapshot, check it against the declared
 * schema, and store a reference profile for monitoring. Bad data fails before any training, with a report.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ColumnSpec, IngestSpec } from '../../sdk/spec/ingest.js';
import type { ColumnProfile, DataProblem, DataSnapshot } from '../../sdk/run-types.js';
import { parseCsv } from './csv.js';
import { gcsObject } from '../../registry/gcs-object-store.js';
import { sha256Hex, type ObjectStore } from '../../registry/object-store.js';

export interface IngestInput {
  pipeline: string;
  runKey: string;
  ingest: IngestSpec;
  store?: string;
}

const MISSING = new Set(['', 'na', 'nan', 'null', 'none', 'n/a']);

function isMissing(cell: string): boolean {
  return MISSING.has(cell.trim().toLowerCase());
}

type Cell = string | number | boolean | null;

function convert(cell: string, type: ColumnSpec['type']): Cell | undefined {
  if (isMissing(cell)) return null;
  const text = cell.trim();
  if (type === 'string') return cell;
  if (type === 'boolean') {
    const lower = text.toLowerCase();
    if (['true', '1', 'yes'].includes(lower)) return true;
    if (['false', '0', 'no'].includes(lower)) return false;
    return undefined;
  }
  const n = Number(text);
  if (!Number.isFinite(n)) return undefined;
  if (type === 'integer' && !Number.isInteger(n)) return undefined;
  return n;
}

/** Validates parsed rows against the declared columns; returns problems and per-column profiles. */
export function checkAndProfile(
  header: string[],
  rows: string[][],
  spec: IngestSpec,
): { problems: DataProblem[]; profile: Record<string, ColumnProfile> } {
  const problems: DataProblem[] = [];
  const declared = Object.keys(spec.columns);
  for (const name of declared) {
    if (!header.includes(name))
      problems.push({
        column: name,
        kind: 'missing-column',
        message: `declared column "${name}" is not in the file's header`,
      });
  }
  if (!spec.allowExtraColumns) {
    for (const name of header.filter((h) => !(h in spec.columns))) {
      problems.push({
        column: name,
        kind: 'extra-column',
        message: `column "${name}" is not declared; declare it or set ingest.allowExtraColumns: true`,
      });
    }
  }
  if (rows.length < spec.minRows)
    problems.push({ kind: 'rows', message: `${rows.length} data rows; ingest.minRows is ${spec.minRows}` });
  rows.forEach((row, i) => {
    if (row.length !== header.length) {
      problems.push({
        kind: 'parse',
        message: `row ${i + 2} has ${row.length} fields; the header has ${header.length}`,
      });
    }
  });

  const profile: Record<string, ColumnProfile> = {};
  for (const [name, col] of Object.entries(spec.columns)) {
    const index = header.indexOf(name);
    if (index < 0) continue;
    const p: ColumnProfile = { type: col.type, count: rows.length, missing: 0 };
    const numbers: number[] = [];
    const categories = new Map<string, number>();
    const badExamples: string[] = [];
    let bad = 0;
    let outOfRange = 0;
    let notAllowed = 0;
    for (const row of rows) {
      const raw = row[index] ?? '';
      const value = convert(raw, col.type);
      if (value === null) {
        p.missing++;
        continue;
      }
      if (value === undefined) {
        bad++;
        if (badExamples.length < 3) badExamples.push(JSON.stringify(raw));
        continue;
      }
      if (typeof value === 'number') {
        numbers.push(value);
        if ((col.min !== undefined && value < col.min) || (col.max !== undefined && value > col.max)) outOfRange++;
      } else {
        const key = String(value);
        categories.set(key, (categories.get(key) ?? 0) + 1);
        if (col.allowed && typeof value === 'string' && !col.allowed.includes(value)) notAllowed++;
      }
    }
    if (bad > 0)
      problems.push({
        column: name,
        kind: 'type',
        message: `${bad} value(s) are not ${col.type}, e.g. ${badExamples.join(', ')}`,
      });
    const missingShare = rows.length ? p.missing / rows.length : 0;
    if (missingShare > col.maxMissing) {
      problems.push({
        column: name,
        kind: 'missing-values',
        message: `${(missingShare * 100).toFixed(2)}% missing (${p.missing} of ${rows.length}); the limit is ${(col.maxMissing * 100).toFixed(2)}%`,
      });
    }
    if (outOfRange > 0)
      problems.push({
        column: name,
        kind: 'range',
        message: `${outOfRange} value(s) outside [${col.min ?? '-inf'}, ${col.max ?? 'inf'}]`,
      });
    if (notAllowed > 0)
      problems.push({
        column: name,
        kind: 'allowed-values',
        message: `${notAllowed} value(s) not in ${JSON.stringify(col.allowed)}`,
      });
    if (numbers.length > 0) Object.assign(p, numericSummary(numbers));
    if (categories.size > 0)
      p.categories = Object.fromEntries([...categories.entries()].sort((a, b) => b[1] - a[1]).slice(0, 100));
    profile[name] = p;
  }
  return { problems, profile };
}

function numericSummary(values: number[]): Pick<ColumnProfile, 'min' | 'max' | 'mean' | 'std'> {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  return { min, max, mean, std: Math.sqrt(sq / values.length) };
}

/** Reads the source bytes: a `gs://bucket/object`, a `file://` URI or a local path. */
export async function readSource(source: string): Promise<{ data: Buffer; label: string }> {
  if (source.startsWith('gs://')) {
    const { store, key } = gcsObject(source);
    if (!key || key.endsWith('/')) {
      throw ApplicationFailure.nonRetryable(
        `ingest.source ${source} must name an object: gs://bucket/path/data.csv`,
        'InvalidSpec',
      );
    }
    const found = await store.get(key);
    if (!found) throw notFound(source);
    return { data: found.data, label: source };
  }
  const file = source.startsWith('file://') ? fileURLToPath(source) : path.resolve(source);
  try {
    return { data: await fs.readFile(file), label: file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(file);
    throw err;
  }
}

function notFound(what: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`ingest.source ${what} does not exist`, 'DataValidationFailed', {
    problems: [{ kind: 'parse', message: `not found: ${what}` }],
  });
}

/** The ingest activity. */
export async function ingestData(store: ObjectStore, input: IngestInput): Promise<DataSnapshot> {
  const log = Context.current().log;
  const { data, label: file } = await readSource(input.ingest.source);
  const sha256 = sha256Hex(data);
  log.info(`ingest: read ${data.length} bytes from ${file} (sha256 ${sha256.slice(0, 12)})`);

  let rows: string[][];
  try {
    rows = parseCsv(data.toString('utf8'));
  } catch (err) {
    throw ApplicationFailure.nonRetryable(
      `ingest: ${file} is not valid CSV: ${(err as Error).message}`,
      'DataValidationFailed',
      {
        source: file,
        problems: [{ kind: 'parse', message: (err as Error).message }],
      },
    );
  }
  const [header = [], ...body] = rows;
  const trimmedHeader = header.map((h) => h.trim());
  const { problems, profile } = checkAndProfile(trimmedHeader, body, input.ingest);
  if (problems.length > 0) {
    const summary = problems
      .slice(0, 10)
      .map((p) => `${p.column ? `${p.column}: ` : ''}${p.message}`)
      .join('; ');
    throw ApplicationFailure.nonRetryable(
      `ingest: ${file} failed ${problems.length} data check(s): ${summary}`,
      'DataValidationFailed',
      { source: file, sha256, rows: body.length, problems },
    );
  }

  const prefix = `snapshots/${input.pipeline}/${sha256}`;
  // Content-addressed: the same bytes always land at the same key, so an existing snapshot is the same data.
  await store.put(`${prefix}/data.csv`, data, { ifGeneration: 'absent' }).catch(ignoreExists);
  await store
    .put(`${prefix}/profile.json`, JSON.stringify({ sha256, rows: body.length, columns: profile }, null, 2), {
      ifGeneration: 'absent',
    })
    .catch(ignoreExists);
  const first = body[0] ?? [];
  const sampleFeatures = Object.fromEntries(
    Object.entries(input.ingest.columns)
      .filter(([name]) => name !== input.ingest.target)
      .map(([name, col]) => [name, convert(first[trimmedHeader.indexOf(name)] ?? '', col.type) ?? null]),
  );
  log.info(
    `ingest: snapshot ${store.uri(`${prefix}/data.csv`)} with ${body.length} rows, ${trimmedHeader.length} columns`,
  );
  return {
    uri: store.uri(`${prefix}/data.csv`),
    sha256,
    bytes: data.length,
    rows: body.length,
    columns: trimmedHeader,
    profileUri: store.uri(`${prefix}/profile.json`),
    sampleFeatures,
  };
}

function ignoreExists(err: Error): void {
  if (err.name !== 'PreconditionFailedError') throw err;
}
