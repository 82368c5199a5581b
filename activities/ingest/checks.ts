/**
 * Data checks and profile in DuckDB. A CSV shard is parsed once, typed by the declared schema, into a Parquet
 * part (rows that do not parse or cast are kept out and recorded with their line numbers by DuckDB's reject
 * tables); the whole profile is then one aggregate query over the columnar data, so memory does not grow with
 * the file, and it settles every check unless a column's extremes or categories say rows may break a rule: only
 * then are those rows counted, and only when a check fails do small follow-up queries fetch the first offending
 * rows for the report. Parquet shards are checked against the schema from their footers and aggregated where
 * they are.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ColumnSpec, IngestSpec } from '../../sdk/spec/ingest.js';
import type { ColumnProfile, DataProblem } from '../../sdk/run-types.js';
import { sqlIdent, sqlList, sqlString, toNumber, type DuckSession } from './duckdb.js';
import type { DataFormat, LocalShard } from './sources.js';

/** Cells read as missing, as before: empty, NA, NaN, null, none, n/a (in their usual spellings). */
export const MISSING_MARKERS = [
  '',
  'na',
  'NA',
  'Na',
  'nan',
  'NaN',
  'NAN',
  'null',
  'NULL',
  'Null',
  'none',
  'None',
  'NONE',
  'n/a',
  'N/A',
  'N/a',
];

/** The monitor's reference holds every row up to this many, else a seeded uniform sample of this many. */
export const REFERENCE_ROWS = 100_000;
/** Seed of that sample: the same data always gives the same reference. */
export const REFERENCE_SEED = 42;
/** Quantiles kept in the profile. */
export const QUANTILES = [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99];

/**
 * How the typed data is written, for speed: a CSV ingest writes every value once and reads the file back twice.
 * Measurements (floats, mostly distinct) never fit a small dictionary, and trying to build one per column chunk,
 * a bloom filter nobody reads and Snappy (which saves about a third on such data) were as much work as parsing
 * the CSV; categoricals (few distinct values) still get their dictionary.
 */
const PARQUET_WRITE = 'FORMAT parquet, DICTIONARY_SIZE_LIMIT 1024, WRITE_BLOOM_FILTER false, COMPRESSION uncompressed';
/** Rejected CSV rows recorded per shard; beyond it counts are reported as "at least". */
const REJECTS_LIMIT = 10_000;
const EXAMPLES = 3;
const NOT_INTEGER = 'mlops: value is not an integer';

/** What the checks found. */
export interface CheckOutcome {
  problems: DataProblem[];
  rows: number;
  /** The columns of the data (the first shard's header or schema), in file order. */
  columns: string[];
  profile: Record<string, ColumnProfile>;
  /** Typed Parquet files holding the data in shard order: CSV parts written here, or the Parquet shards. */
  parquet: string[];
  /** Storage family of each declared column in those files. */
  families: Record<string, Family>;
}

/** How a column is stored in the typed data: what its checks and its canonical cast depend on. */
export type Family = 'int' | 'float' | 'string' | 'bool' | 'other';

function familyOf(duckType: string): Family {
  const t = duckType.toUpperCase();
  if (/^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|UINTEGER)$/.test(t)) return 'int';
  if (t === 'DOUBLE' || t === 'FLOAT' || t === 'REAL' || t.startsWith('DECIMAL')) return 'float';
  if (t === 'VARCHAR') return 'string';
  if (t === 'BOOLEAN') return 'bool';
  return 'other';
}

function accepts(type: ColumnSpec['type'], family: Family): boolean {
  if (type === 'number' || type === 'integer') return family === 'int' || family === 'float';
  return type === 'string' ? family === 'string' : family === 'bool';
}

/** How one declared column is read out of the typed Parquet data. */
interface ColumnPlan {
  name: string;
  spec: ColumnSpec;
  family: Family;
  /** The value, with NaN read as missing for float columns. */
  value: string;
  /** The canonical snapshot type's expression: DOUBLE, BIGINT, VARCHAR or BOOLEAN. */
  canonical: string;
  /** Diagnosing a CSV: the column holding the raw text, whose cast failed where the value is NULL. */
  raw?: string;
}

function plan(name: string, spec: ColumnSpec, family: Family): ColumnPlan {
  const id = sqlIdent(name);
  const value = family === 'float' ? `nullif(CAST(${id} AS DOUBLE), 'NaN'::DOUBLE)` : id;
  const canonical =
    spec.type === 'number'
      ? `CAST(${value} AS DOUBLE)`
      : spec.type === 'integer'
        ? `CAST(${value} AS BIGINT)`
        : spec.type === 'string'
          ? `CAST(${id} AS VARCHAR)`
          : `CAST(${id} AS BOOLEAN)`;
  return { name, spec, family, value, canonical };
}

const relation = (files: readonly string[], extra = '') =>
  `read_parquet(${sqlList(files)}, union_by_name=true${extra})`;

/** The header of a CSV file: DuckDB parses the first record (quotes, BOM, CRLF) as plain fields. */
export async function csvHeader(duck: DuckSession, file: string): Promise<string[] | undefined> {
  const handle = await fs.open(file, 'r');
  let first: string;
  try {
    const buf = Buffer.alloc(1 << 20);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    first = buf.subarray(0, bytesRead).toString('utf8').split('\n')[0] ?? '';
  } finally {
    await handle.close();
  }
  if (first.trim() === '') return undefined;
  // Fields ≤ separators + 1 (quoted commas only lower it); NULL padding marks where the record ends.
  const width = (first.match(/,/g) ?? []).length + 1;
  const columns = Array.from({ length: width }, (_, k) => `'c${k}': 'VARCHAR'`).join(', ');
  const [row] = await duck.rows(
    `SELECT * FROM read_csv(${sqlString(file)}, header=false, auto_detect=false, delim=',', quote='"', escape='"', columns={${columns}}, null_padding=true, nullstr='\u0001', strict_mode=false) LIMIT 1`,
  );
  if (!row) return undefined;
  const fields: string[] = [];
  for (let k = 0; k < width && row[`c${k}`] !== null; k++) fields.push(String(row[`c${k}`]));
  return fields.map((f, k) => f.trim() || `column_${k + 1}`);
}

function columnProblems(columns: string[], spec: IngestSpec, file: string): DataProblem[] {
  const problems: DataProblem[] = [];
  for (const name of Object.keys(spec.columns)) {
    if (!columns.includes(name))
      problems.push({
        column: name,
        kind: 'missing-column',
        file,
        message: `declared column "${name}" is not in the file's header`,
      });
  }
  if (!spec.allowExtraColumns) {
    for (const name of columns.filter((h) => !(h in spec.columns))) {
      problems.push({
        column: name,
        kind: 'extra-column',
        file,
        message: `column "${name}" is not declared; declare it or set ingest.allowExtraColumns: true`,
      });
    }
  }
  const seen = new Set<string>();
  for (const name of columns) {
    if (seen.has(name))
      problems.push({ column: name, kind: 'parse', file, message: `column "${name}" appears twice in the header` });
    seen.add(name);
  }
  return problems;
}

interface Reject {
  file: string;
  line: number;
  column: string | null;
  type: string;
  message: string;
}

/** Runs the checks and the profile over local shards. `workDir` receives the CSV parts. */
export async function checkShards(
  duck: DuckSession,
  format: DataFormat,
  shards: readonly LocalShard[],
  spec: IngestSpec,
  workDir: string,
): Promise<CheckOutcome> {
  return format === 'csv' ? checkCsv(duck, shards, spec, workDir) : checkParquet(duck, shards, spec);
}

async function checkCsv(
  duck: DuckSession,
  shards: readonly LocalShard[],
  spec: IngestSpec,
  workDir: string,
): Promise<CheckOutcome> {
  const problems: DataProblem[] = [];
  const headers: string[][] = [];
  for (const shard of shards) {
    const header = await csvHeader(duck, shard.path);
    if (!header) {
      problems.push({ kind: 'parse', file: shard.uri, message: `${shard.uri} is empty: no header row` });
      continue;
    }
    headers.push(header);
    const first = headers[0]!;
    if (headers.length > 1 && header.join('\u0000') !== first.join('\u0000')) {
      problems.push({
        kind: 'parse',
        file: shard.uri,
        message: `${shard.uri}: header (${header.join(', ')}) differs from the first shard's (${first.join(', ')})`,
      });
    }
  }
  const columns = headers[0] ?? [];
  if (headers.length > 0) problems.push(...columnProblems(columns, spec, shards[0]!.uri));
  if (problems.length > 0) return { problems, rows: 0, columns, profile: {}, parquet: [], families: {} };

  const declared = (name: string) => spec.columns[name];
  const typed = (name: string) => declared(name) !== undefined && declared(name)!.type !== 'string';
  const rawOf = (k: number) => sqlIdent(`__mlops_raw_${k}`);
  /**
   * `fast` parses values with their declared types (integers as doubles: DuckDB's own integer parse rounds
   * "3.5", so a fraction raises instead). `diagnose` reads typed columns as text and keeps each raw value next
   * to its cast, so a row with a bad value stays in and every check still sees it; only failing data takes it.
   */
  const convert = async (mode: 'fast' | 'diagnose') => {
    await duck.run('DROP TABLE IF EXISTS csv_rejects; DROP TABLE IF EXISTS csv_reject_scans');
    const parts: string[] = [];
    const types = columns.map((name) => {
      const type = declared(name)?.type;
      const duckType = mode === 'diagnose' || !typed(name) ? 'VARCHAR' : type === 'boolean' ? 'BOOLEAN' : 'DOUBLE';
      return `${sqlString(name)}: '${duckType}'`;
    });
    const select = columns
      .map((name, k) => {
        const id = sqlIdent(name);
        if (!typed(name)) return id;
        const type = declared(name)!.type;
        if (mode === 'diagnose')
          return `TRY_CAST(${id} AS ${type === 'boolean' ? 'BOOLEAN' : 'DOUBLE'}) AS ${id}, ${id} AS ${rawOf(k)}`;
        if (type !== 'integer') return id;
        return `CASE WHEN ${id} IS NULL OR ${id} = trunc(${id}) THEN CAST(${id} AS BIGINT) ELSE error(${sqlString(NOT_INTEGER)}) END AS ${id}`;
      })
      .join(', ');
    for (const [i, shard] of shards.entries()) {
      const part = path.join(workDir, `${mode}-${String(i).padStart(6, '0')}.parquet`);
      await duck.run(
        `COPY (SELECT ${select} FROM read_csv(${sqlString(shard.path)}, header=true, auto_detect=false, delim=',', quote='"', escape='"', columns={${types.join(', ')}}, nullstr=${sqlList(MISSING_MARKERS)}, store_rejects=true, rejects_table='csv_rejects', rejects_scan='csv_reject_scans', rejects_limit=${REJECTS_LIMIT})) TO ${sqlString(part)} (${PARQUET_WRITE})`,
      );
      parts.push(part);
    }
    const rejects = (
      await duck.rows(
        `SELECT s.file_path AS file, e.line AS line, e.column_name AS column, e.error_type AS type, e.error_message AS message FROM csv_rejects e JOIN csv_reject_scans s USING (scan_id, file_id) ORDER BY s.file_path, e.line`,
      )
    ).map((r): Reject => ({
      file: shards.find((s) => s.path === r.file)?.uri ?? String(r.file),
      line: toNumber(r.line),
      column: r.column === null ? null : String(r.column),
      type: String(r.type),
      message: String(r.message),
    }));
    return { parts, rejects };
  };
  const unreadable = (err: unknown) => {
    let message = (err as Error).message.split('\n')[0]!;
    for (const s of shards) message = message.replaceAll(s.path, s.uri);
    problems.push({ kind: 'parse', message: `not readable as CSV: ${message}` });
    return { problems, rows: 0, columns, profile: {}, parquet: [], families: {} };
  };

  let mode: 'fast' | 'diagnose' = 'fast';
  let converted: Awaited<ReturnType<typeof convert>> | undefined;
  try {
    converted = await convert('fast');
    if (converted.rejects.some((r) => r.type === 'CAST')) mode = 'diagnose';
  } catch (err) {
    if (!/value is not an integer|out of range|Conversion Error/i.test((err as Error).message)) return unreadable(err);
    mode = 'diagnose';
  }
  if (mode === 'diagnose') {
    try {
      converted = await convert('diagnose');
    } catch (err) {
      return unreadable(err);
    }
  }
  const { parts, rejects } = converted!;
  problems.push(...rejectProblems(rejects, columns.length));

  const rejectedLines = new Map<string, number[]>();
  for (const r of rejects) {
    const lines = rejectedLines.get(r.file) ?? [];
    if (lines.at(-1) !== r.line) lines.push(r.line);
    rejectedLines.set(r.file, lines);
  }
  const byPart = new Map(parts.map((p, i) => [p, shards[i]!.uri]));
  // Part row k of a shard was CSV row k + 2 (header = row 1), shifted past the rows DuckDB rejected before it.
  const locate = (part: string, index: number) => {
    const file = byPart.get(part) ?? part;
    let row = index + 2;
    for (const line of rejectedLines.get(file) ?? []) if (line <= row) row++;
    return { file, row };
  };
  const plans = columns.flatMap((name, k) => {
    const col = declared(name);
    if (!col) return [];
    const family: Family =
      col.type === 'string'
        ? 'string'
        : col.type === 'boolean'
          ? 'bool'
          : col.type === 'integer' && mode === 'fast'
            ? 'int'
            : 'float';
    return [{ ...plan(name, col, family), ...(mode === 'diagnose' && typed(name) ? { raw: rawOf(k) } : {}) }];
  });
  const result = await aggregate(duck, parts, plans, spec, locate);
  return {
    problems: [...problems, ...result.problems],
    rows: result.rows,
    columns,
    profile: result.profile,
    parquet: parts,
    families: familiesOf(plans),
  };
}

/** Ragged rows and unparseable records from DuckDB's reject table, one problem per file and kind. */
function rejectProblems(rejects: Reject[], width: number): DataProblem[] {
  const problems: DataProblem[] = [];
  const files = [...new Set(rejects.map((r) => r.file))];
  for (const file of files) {
    const ragged = new Map<number, number>();
    for (const r of rejects.filter((r) => r.file === file && /COLUMNS/.test(r.type))) {
      const found = Number(/Found: (\d+)/.exec(r.message)?.[1] ?? NaN);
      ragged.set(r.line, Math.max(ragged.get(r.line) ?? 0, found));
    }
    if (ragged.size > 0) {
      const rows = [...ragged.entries()];
      const capped = rejects.filter((r) => r.file === file).length >= REJECTS_LIMIT ? ' or more' : '';
      const describe = ([row, fields]: [number, number]) =>
        `row ${row} has ${Number.isNaN(fields) ? '?' : fields} fields`;
      problems.push({
        kind: 'parse',
        file,
        message:
          rows.length === 1 && !capped
            ? `${file}: ${describe(rows[0]!)}; the header has ${width}`
            : `${file}: ${rows.length}${capped} rows do not have the header's ${width} fields, e.g. ${rows.slice(0, EXAMPLES).map(describe).join(', ')}`,
        examples: rows.slice(0, EXAMPLES).map(([row, fields]) => ({ file, row, value: `${fields} fields` })),
      });
    }
    const other = rejects.filter((r) => r.file === file && r.type !== 'CAST' && !/COLUMNS/.test(r.type));
    if (other.length > 0) {
      problems.push({
        kind: 'parse',
        file,
        message: `${file}: ${other
          .slice(0, EXAMPLES)
          .map((r) => `row ${r.line}: ${r.message}`)
          .join('; ')}${other.length > EXAMPLES ? ` (and ${other.length - EXAMPLES} more)` : ''}`,
        examples: other.slice(0, EXAMPLES).map((r) => ({ file, row: r.line })),
      });
    }
  }
  return problems;
}

async function checkParquet(duck: DuckSession, shards: readonly LocalShard[], spec: IngestSpec): Promise<CheckOutcome> {
  const problems: DataProblem[] = [];
  const schemas: { shard: LocalShard; types: Map<string, string> }[] = [];
  for (const shard of shards) {
    try {
      const rows = await duck.rows(`DESCRIBE SELECT * FROM read_parquet(${sqlString(shard.path)})`);
      schemas.push({ shard, types: new Map(rows.map((r) => [String(r.column_name), String(r.column_type)])) });
    } catch (err) {
      const reason = (err as Error).message.split('\n')[0]!.replace(shard.path, shard.uri);
      problems.push({
        kind: 'parse',
        file: shard.uri,
        message: `${shard.uri} is not a readable Parquet file: ${reason}`,
      });
    }
  }
  const columns = schemas[0] ? [...schemas[0].types.keys()] : [];
  for (const { shard, types } of schemas) {
    for (const p of columnProblems([...types.keys()], spec, shard.uri)) {
      // One report per column for the whole source, naming the first shard that has the problem.
      if (!problems.some((q) => q.kind === p.kind && q.column === p.column))
        problems.push(shards.length > 1 ? { ...p, message: `${p.message} (${shard.uri})` } : p);
    }
    for (const [name, col] of Object.entries(spec.columns)) {
      const type = types.get(name);
      if (type && !accepts(col.type, familyOf(type)))
        problems.push({
          column: name,
          kind: 'type',
          file: shard.uri,
          message: `column is ${type} in ${shard.uri}; declared ${col.type}`,
        });
    }
  }
  if (problems.length > 0) return { problems, rows: 0, columns, profile: {}, parquet: [], families: {} };

  const paths = shards.map((s) => s.path);
  const plans = Object.entries(spec.columns).map(([name, col]) => {
    const families = new Set(schemas.map((s) => familyOf(s.types.get(name)!)));
    return plan(name, col, families.has('float') ? 'float' : [...families][0]!);
  });
  const byPath = new Map(shards.map((s) => [s.path, s.uri]));
  const locate = (file: string, index: number) => ({ file: byPath.get(file) ?? file, row: index + 1 });
  try {
    const result = await aggregate(duck, paths, plans, spec, locate);
    return { ...result, columns, parquet: paths, families: familiesOf(plans) };
  } catch (err) {
    // A footer that reads but a page that does not: name the files, since DuckDB names only its staging path.
    let message = (err as Error).message.split('\n')[0]!;
    for (const s of shards) message = message.replaceAll(s.path, s.uri);
    return {
      problems: [{ kind: 'parse', message: `reading the Parquet data failed: ${message}` }],
      rows: 0,
      columns,
      profile: {},
      parquet: [],
      families: {},
    };
  }
}

/** A check whose failing rows are counted only when the profile cannot rule them out. */
interface Deferred {
  where: string;
  /** False when the column's extremes or categories show that no row fails. */
  possible: () => boolean;
}

/**
 * One aggregate query for the profile (and the checks it cannot settle), then the counts of the checks whose
 * extremes or categories say rows may fail, then the first examples of each failed check. Deferring range,
 * infinity and allowed-value counts keeps per-row filters out of the one pass that reads every value.
 */
async function aggregate(
  duck: DuckSession,
  files: string[],
  plans: ColumnPlan[],
  spec: IngestSpec,
  locate: (file: string, index: number) => { file: string; row: number },
): Promise<{ problems: DataProblem[]; rows: number; profile: Record<string, ColumnProfile> }> {
  const exprs: string[] = ['count(*) AS "rows"'];
  const conditions = new Map<string, string>();
  const counted: string[] = [];
  const deferred = new Map<string, Deferred>();
  let agg: Record<string, unknown> = {};
  const categories = new Map<number, { values: Record<string, number>; distinct: number }>();
  const extreme = (key: string) => toNumber(agg[key]);
  plans.forEach((p, k) => {
    const v = p.value;
    // A value whose cast failed is neither missing nor a value: it is a type problem.
    exprs.push(`count(${p.raw ?? v}) AS "n${k}"`);
    const bad: string[] = p.raw ? [`(${p.raw} IS NOT NULL AND ${v} IS NULL)`] : [];
    if (p.family === 'int' || p.family === 'float') {
      exprs.push(
        `min(${v})::DOUBLE AS "min${k}"`,
        `max(${v})::DOUBLE AS "max${k}"`,
        `avg(${v})::DOUBLE AS "mean${k}"`,
        `stddev_pop(${v})::DOUBLE AS "std${k}"`,
      );
      if (p.family === 'float') bad.push(`isinf(${v})`);
      if (p.family === 'float' && p.spec.type === 'integer') bad.push(`(NOT isinf(${v}) AND ${v} <> trunc(${v}))`);
      const range: string[] = [];
      if (p.spec.min !== undefined) range.push(`${v} < ${p.spec.min}`);
      if (p.spec.max !== undefined) range.push(`${v} > ${p.spec.max}`);
      if (range.length > 0) {
        const where = p.family === 'float' ? `NOT isinf(${v}) AND (${range.join(' OR ')})` : range.join(' OR ');
        conditions.set(`range${k}`, where);
        deferred.set(`range${k}`, {
          where,
          possible: () =>
            (p.spec.min !== undefined && extreme(`min${k}`) < p.spec.min) ||
            (p.spec.max !== undefined && extreme(`max${k}`) > p.spec.max),
        });
      }
    } else if (p.spec.allowed && p.family === 'string') {
      const allowed = new Set(p.spec.allowed);
      const where = `${v} NOT IN (${p.spec.allowed.map(sqlString).join(', ')})`;
      conditions.set(`allowed${k}`, where);
      deferred.set(`allowed${k}`, {
        where,
        possible: () => {
          const found = categories.get(k);
          if (!found) return false;
          const listed = Object.keys(found.values);
          return found.distinct > listed.length || listed.some((c) => !allowed.has(c));
        },
      });
    }
    if (bad.length === 0) return;
    const where = bad.join(' OR ');
    conditions.set(`type${k}`, where);
    // Only infinities are told by the extremes; a cast or a fraction is counted with the profile.
    if (p.family === 'float' && !p.raw && p.spec.type !== 'integer')
      deferred.set(`type${k}`, {
        where,
        possible: () => Math.abs(extreme(`min${k}`)) === Infinity || Math.abs(extreme(`max${k}`)) === Infinity,
      });
    else counted.push(`type${k}`);
  });
  for (const key of counted) exprs.push(`count(*) FILTER (WHERE ${conditions.get(key)}) AS "${key}"`);
  [agg = {}] = await duck.rows(`SELECT ${exprs.join(', ')} FROM ${relation(files)}`);
  const rows = toNumber(agg.rows);

  for (const [k, p] of plans.entries()) {
    if ((p.family !== 'string' && p.family !== 'bool') || toNumber(agg[`n${k}`]) === 0) continue;
    const top = await duck.rows(
      `SELECT CAST(${p.value} AS VARCHAR) AS value, count(*) AS n, count(*) OVER () AS distinct_values FROM ${relation(files)} WHERE ${p.value} IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 100`,
    );
    categories.set(k, {
      values: Object.fromEntries(top.map((t) => [String(t.value), toNumber(t.n)])),
      distinct: toNumber(top[0]?.distinct_values ?? 0),
    });
  }
  const failing = [...deferred].filter(([, d]) => d.possible());
  for (const [key] of deferred) agg[key] = 0;
  if (failing.length > 0) {
    const [counts = {}] = await duck.rows(
      `SELECT ${failing.map(([key, d]) => `count(*) FILTER (WHERE ${d.where}) AS "${key}"`).join(', ')} FROM ${relation(files)}`,
    );
    agg = { ...agg, ...counts };
  }

  const problems: DataProblem[] = [];
  const profile: Record<string, ColumnProfile> = {};
  const examples = async (cond: string, p: ColumnPlan) =>
    (
      await duck.rows(
        `SELECT "__mlops_file" AS file, file_row_number AS r, CAST(${p.raw ?? sqlIdent(p.name)} AS VARCHAR) AS value FROM ${relation(files, `, filename='__mlops_file', file_row_number=true`)} WHERE ${cond} ORDER BY 1, 2 LIMIT ${EXAMPLES}`,
      )
    ).map((e) => ({ ...locate(String(e.file), toNumber(e.r)), value: String(e.value) }));
  const say = (e: { file: string; row: number; value?: string }, multi: boolean) =>
    `${multi ? `${path.basename(e.file)} ` : ''}row ${e.row}: ${JSON.stringify(e.value)}`;
  const multi = files.length > 1;

  for (const [k, p] of plans.entries()) {
    const nonMissing = toNumber(agg[`n${k}`]);
    const badTypes = toNumber(agg[`type${k}`] ?? 0);
    const col: ColumnProfile = { type: p.spec.type, count: rows, missing: rows - nonMissing };
    if (badTypes > 0) {
      const found = await examples(conditions.get(`type${k}`)!, p);
      problems.push({
        column: p.name,
        kind: 'type',
        message: `${badTypes} value(s) are not ${p.spec.type}, e.g. ${found.map((e) => say(e, multi)).join(', ')}`,
        examples: found,
      });
    }
    const missingShare = rows ? col.missing / rows : 0;
    if (missingShare > p.spec.maxMissing) {
      problems.push({
        column: p.name,
        kind: 'missing-values',
        message: `${(missingShare * 100).toFixed(2)}% missing (${col.missing} of ${rows}); the limit is ${(p.spec.maxMissing * 100).toFixed(2)}%`,
      });
    }
    const outOfRange = toNumber(agg[`range${k}`] ?? 0);
    if (outOfRange > 0) {
      const found = await examples(conditions.get(`range${k}`)!, p);
      problems.push({
        column: p.name,
        kind: 'range',
        message: `${outOfRange} value(s) outside [${p.spec.min ?? '-inf'}, ${p.spec.max ?? 'inf'}], e.g. ${found.map((e) => say(e, multi)).join(', ')}`,
        examples: found,
      });
    }
    const notAllowed = toNumber(agg[`allowed${k}`] ?? 0);
    if (notAllowed > 0) {
      const found = await examples(conditions.get(`allowed${k}`)!, p);
      problems.push({
        column: p.name,
        kind: 'allowed-values',
        message: `${notAllowed} value(s) not in ${JSON.stringify(p.spec.allowed)}, e.g. ${found.map((e) => say(e, multi)).join(', ')}`,
        examples: found,
      });
    }
    if ((p.family === 'int' || p.family === 'float') && nonMissing > 0) {
      col.min = toNumber(agg[`min${k}`]);
      col.max = toNumber(agg[`max${k}`]);
      col.mean = toNumber(agg[`mean${k}`]);
      col.std = toNumber(agg[`std${k}`]);
    }
    const counted = categories.get(k);
    if (counted) {
      col.categories = counted.values;
      col.distinct = counted.distinct;
    }
    profile[p.name] = col;
  }
  if (rows < spec.minRows)
    problems.push({ kind: 'rows', message: `${rows} data rows; ingest.minRows is ${spec.minRows}` });
  return { problems, rows, profile };
}

function familiesOf(plans: ColumnPlan[]): Record<string, Family> {
  return Object.fromEntries(plans.map((p) => [p.name, p.family]));
}

/** The columns with declared ones in their canonical types (the reference and the merged snapshot use them). */
export function canonicalSelect(
  columns: readonly string[],
  spec: IngestSpec,
  families: Record<string, Family>,
): string {
  return columns
    .map((name) => {
      const col = spec.columns[name];
      if (!col) return sqlIdent(name);
      return `${plan(name, col, families[name] ?? 'other').canonical} AS ${sqlIdent(name)}`;
    })
    .join(', ');
}

/** Writes the typed data as one Parquet file (several shards are merged in order). */
export async function writeMerged(
  duck: DuckSession,
  outcome: CheckOutcome,
  spec: IngestSpec,
  target: string,
): Promise<void> {
  await duck.run(
    `COPY (SELECT ${canonicalSelect(outcome.columns, spec, outcome.families)} FROM ${relation(outcome.parquet)}) TO ${sqlString(target)} (${PARQUET_WRITE})`,
  );
}

/**
 * Writes the monitor's reference: the declared columns of every row when there are at most `REFERENCE_ROWS`,
 * else a uniform sample of exactly that many, the rows whose seeded hash of their position is among the
 * `REFERENCE_ROWS` smallest (the same data always gives the same sample, whatever the thread count). Finding the
 * threshold sorts only hashes; the rows are then one filtered scan, so they stay in file order.
 */
export async function writeReference(
  duck: DuckSession,
  outcome: CheckOutcome,
  spec: IngestSpec,
  target: string,
): Promise<{ rows: number; sampled: boolean }> {
  const files = outcome.parquet;
  const select = canonicalSelect(Object.keys(spec.columns), spec, outcome.families);
  const sampled = outcome.rows > REFERENCE_ROWS;
  let where = '';
  if (sampled) {
    const position = `hash(list_position(${sqlList(files)}, "__mlops_file"), file_row_number, ${REFERENCE_SEED})`;
    const located = relation(files, `, filename='__mlops_file', file_row_number=true`);
    const smallest = async (bound: bigint) => {
      const [row] = await duck.rows(
        `SELECT count(*) AS n, max(h) AS threshold FROM (SELECT h FROM (SELECT ${position} AS h FROM ${located}) WHERE h <= ${bound}::UBIGINT ORDER BY h LIMIT ${REFERENCE_ROWS})`,
      );
      return { n: toNumber(row!.n), threshold: String(row!.threshold) };
    };
    // The hashes are uniform over 64 bits: 1.2 times the expected share holds the smallest REFERENCE_ROWS but
    // for a miss of dozens of standard deviations, so the top-N keeps ~120,000 hashes, not every row's.
    const share = (2n ** 64n * BigInt(Math.ceil(1.2 * REFERENCE_ROWS))) / BigInt(outcome.rows);
    let found = await smallest(share < 2n ** 64n ? share : 2n ** 64n - 1n);
    if (found.n < REFERENCE_ROWS) found = await smallest(2n ** 64n - 1n);
    where = ` FROM ${located} WHERE ${position} <= ${found.threshold}::UBIGINT`;
  }
  const rows = await duck.run(
    `COPY (SELECT ${select}${where || ` FROM ${relation(files)}`}) TO ${sqlString(target)} (FORMAT parquet)`,
  );
  return { rows, sampled };
}

/**
 * Quantiles of each numeric column, exact over the reference rows (all of them up to `REFERENCE_ROWS`). DuckDB
 * computes them on one thread per query, so the columns are split over one query per thread, run at once.
 */
export async function addQuantiles(
  duck: DuckSession,
  profile: Record<string, ColumnProfile>,
  referenceFile: string,
): Promise<void> {
  const numeric = Object.entries(profile).filter(([, p]) => p.min !== undefined);
  if (numeric.length === 0) return;
  const groups = Math.min(duck.threads, numeric.length);
  const columns = Array.from({ length: groups }, (_, g) => numeric.filter((_, k) => k % groups === g));
  const results = await duck.rowsAtOnce(
    columns.map(
      (group) =>
        `SELECT ${group.map(([name], k) => `quantile_cont(CAST(${sqlIdent(name)} AS DOUBLE), [${QUANTILES.join(', ')}]) AS "q${k}"`).join(', ')} FROM read_parquet(${sqlString(referenceFile)})`,
    ),
  );
  columns.forEach((group, g) => {
    const row = results[g]![0] ?? {};
    group.forEach(([, p], k) => {
      const q = row[`q${k}`] as { items?: unknown[] } | unknown[] | null;
      const items = Array.isArray(q) ? q : (q?.items ?? []);
      p.quantiles = Object.fromEntries(QUANTILES.map((at, i) => [String(at), toNumber(items[i])]));
    });
  });
}

/** The first row's declared features (target excluded), as JSON scalars: the default smoke request. */
export async function firstRowFeatures(
  duck: DuckSession,
  outcome: CheckOutcome,
  spec: IngestSpec,
): Promise<Record<string, string | number | boolean | null>> {
  const names = Object.keys(spec.columns).filter((n) => n !== spec.target);
  const first = outcome.parquet[0];
  if (names.length === 0 || !first) return {};
  const [row = {}] = await duck.rows(
    `SELECT ${canonicalSelect(names, spec, outcome.families)} FROM read_parquet(${sqlString(first)}) LIMIT 1`,
  );
  return Object.fromEntries(
    names.map((n) => {
      const v = row[n];
      return [n, typeof v === 'bigint' ? Number(v) : v === undefined ? null : (v as string | number | boolean | null)];
    }),
  );
}
