/** The ingest stage: where the data comes from and the schema it must satisfy. Sandbox-safe. */
import { z } from 'zod';

/** One declared column: its type and the quality limits every row must meet. */
export const ColumnSpecSchema = z.strictObject({
  type: z.enum(['number', 'integer', 'string', 'boolean']),
  /** Largest share of empty/NA cells tolerated in this column (0 = none). */
  maxMissing: z.number().min(0).max(1).default(0),
  /** Smallest value allowed (inclusive). */
  min: z.number().optional(),
  /** Largest value allowed (inclusive). */
  max: z.number().optional(),
  /** For string columns: the closed set of allowed values. */
  allowed: z.array(z.string()).optional(),
});

export const IngestSpecSchema = z.strictObject({
  /**
   * A CSV or Parquet file, or a prefix or glob of shards: `gs://bucket/churn/2026-11/*.parquet`,
   * `gs://bucket/churn/` (every data file under it), `file:///abs/path.csv`, an absolute path, or a path relative
   * to the worker's cwd (a directory means every data file under it).
   */
  source: z
    .string()
    .min(1)
    .refine((s) => !/^[a-z][a-z0-9+.-]*:\/\//.test(s) || s.startsWith('file://') || s.startsWith('gs://'), {
      message: 'must be a file:// URI, a gs:// URI or a local path',
    }),
  /** `csv` or `parquet`; by default the files' extension decides (`.parquet` / `.pq`, else CSV). */
  format: z.enum(['csv', 'parquet']).optional(),
  /** Columns the data must have, with types and quality limits. */
  columns: z
    .record(z.string().min(1), ColumnSpecSchema)
    .refine((c) => Object.keys(c).length > 0, 'must declare at least one column'),
  /** The label column (excluded from smoke requests and drift features). */
  target: z.string().optional(),
  /** Columns present in the file but not declared are an error unless this is true. */
  allowExtraColumns: z.boolean().default(false),
  minRows: z.number().int().positive().default(1),
});

export type ColumnSpec = z.output<typeof ColumnSpecSchema>;
export type IngestSpec = z.output<typeof IngestSpecSchema>;
