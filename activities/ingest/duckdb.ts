/**
 * DuckDB sessions for ingest and monitoring. Each session is an in-memory database with bounded threads and
 * memory that spills to its own temporary directory, so a file bigger than RAM streams through it; closing the
 * session frees everything. Paths and names enter SQL only through `sqlString` / `sqlIdent`.
 */
import os from 'node:os';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** A quoted SQL string literal. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A quoted SQL identifier. */
export function sqlIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A SQL list of string literals: `['a', 'b']`. */
export function sqlList(values: readonly string[]): string {
  return `[${values.map(sqlString).join(', ')}]`;
}

/** Numbers come back as number or bigint depending on the SQL type; callers want numbers. */
export function toNumber(value: unknown): number {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number') return value;
  if (value === null || value === undefined) return NaN;
  return Number(value);
}

/**
 * With `MLOPS_DUCKDB_TRACE=1`, each statement's duration, the process's CPU time over it (every thread: on a busy
 * machine the steadier measure) and its start go to stderr (where does ingest spend time?).
 */
async function traced<T>(sql: string, run: () => Promise<T>): Promise<T> {
  if (!process.env.MLOPS_DUCKDB_TRACE) return run();
  const started = performance.now();
  const cpu = process.cpuUsage();
  try {
    return await run();
  } finally {
    const { user, system } = process.cpuUsage(cpu);
    console.error(
      `duckdb ${((performance.now() - started) / 1000).toFixed(2)} s (cpu ${((user + system) / 1e6).toFixed(2)} s)  ${sql.slice(0, 120).replace(/\s+/g, ' ')}`,
    );
  }
}

/** Resource limits: `MLOPS_DUCKDB_THREADS` (default: the CPUs), `MLOPS_DUCKDB_MEMORY` (default 512MB). */
export interface DuckOptions {
  /** Where DuckDB spills when a query outgrows its memory limit. */
  tempDirectory: string;
  threads?: number;
  memoryLimit?: string;
}

/** One DuckDB database and connection. */
export class DuckSession {
  private constructor(
    private readonly instance: DuckDBInstance,
    readonly connection: DuckDBConnection,
    /** The threads DuckDB may use. */
    readonly threads: number,
  ) {}

  /** Opens a session with the given limits. */
  static async open(options: DuckOptions): Promise<DuckSession> {
    const threads = options.threads ?? (Number(process.env.MLOPS_DUCKDB_THREADS) || os.availableParallelism());
    const instance = await DuckDBInstance.create(':memory:', {
      threads: String(threads),
      memory_limit: options.memoryLimit ?? process.env.MLOPS_DUCKDB_MEMORY ?? '512MB',
      temp_directory: options.tempDirectory,
      // Row order is what makes row numbers in problem reports and the snapshot's order mean something.
      preserve_insertion_order: 'true',
    });
    return new DuckSession(instance, await instance.connect(), threads);
  }

  /** Runs a statement and returns its rows as objects (numbers may be bigint: see `toNumber`). */
  async rows(sql: string): Promise<Record<string, unknown>[]> {
    const reader = await traced(sql, () => this.connection.runAndReadAll(sql));
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  }

  /**
   * Runs statements at the same time, each on a connection of its own: for queries DuckDB runs on one thread (an
   * ungrouped aggregate over one row group), so that the others still work.
   */
  async rowsAtOnce(sqls: readonly string[]): Promise<Record<string, unknown>[][]> {
    const extra = await Promise.all(sqls.slice(1).map(() => this.instance.connect()));
    try {
      return await Promise.all(
        sqls.map(async (sql, i) => {
          const reader = await traced(sql, () => (i === 0 ? this.connection : extra[i - 1]!).runAndReadAll(sql));
          return reader.getRowObjectsJS() as Record<string, unknown>[];
        }),
      );
    } finally {
      for (const c of extra) c.closeSync();
    }
  }

  /** Runs a statement for its effect; returns the rows it changed (a COPY's row count). */
  async run(sql: string): Promise<number> {
    const result = await traced(sql, () => this.connection.run(sql));
    return result.rowsChanged;
  }

  /**
   * Streams a one-column numeric query into a Float64Array (NULL becomes NaN), chunk by chunk, without
   * materialising JS values per row.
   */
  async doubles(sql: string, expectedRows = 0): Promise<Float64Array> {
    const result = await this.connection.stream(sql);
    let out = new Float64Array(Math.max(expectedRows, 1024));
    let n = 0;
    for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
      const vector = chunk.getColumnVector(0);
      if (n + chunk.rowCount > out.length) {
        const grown = new Float64Array(Math.max(out.length * 2, n + chunk.rowCount));
        grown.set(out.subarray(0, n));
        out = grown;
      }
      for (let i = 0; i < chunk.rowCount; i++) {
        const v = vector.getItem(i);
        out[n++] = v === null ? NaN : toNumber(v);
      }
    }
    return out.subarray(0, n);
  }

  /** Streams a two-column `(value, count)` query into an ordered Map. */
  async counts(sql: string): Promise<Map<string | null, number>> {
    const out = new Map<string | null, number>();
    for (const row of await this.connection.runAndReadAll(sql).then((r) => r.getRowsJS())) {
      const [value, count] = row as [unknown, unknown];
      out.set(value === null ? null : String(value), toNumber(count));
    }
    return out;
  }

  /** Frees the database, its memory and its spill files. */
  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
