/**
 * `temporal-mlops data check <source> --pipeline <module>#<export>`: the pipeline's ingest checks on a file,
 * prefix or glob, without starting a run or writing a snapshot, so a data scientist can check a file before a
 * run and CI can gate a dataset. Prints the profile and the problems; exit 1 when there are problems.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkSource, type CheckReport } from '../activities/ingest/ingest.js';
import type { PipelineDefinition } from '../sdk/define-pipeline.js';
import type { DataProblem } from '../sdk/run-types.js';
import type { IngestSpec } from '../sdk/spec/ingest.js';

export const DATA_USAGE = `  temporal-mlops data check [<source>] --pipeline <module>#<export>  run a pipeline's ingest checks on a file, prefix or glob
                                                                    (default: the pipeline's own source); prints the profile
                                                                    and problems, exit 1 on problems`;

function isDefinition(value: unknown): value is PipelineDefinition {
  return (
    typeof value === 'object' && value !== null && 'spec' in value && 'ingest' in (value as PipelineDefinition).spec
  );
}

/**
 * Loads `<module>#<export>`: a pipeline definition, or a function returning one (given the source when it
 * declares a parameter, as `breastCancerPipeline(dataFile)` does).
 * Without `#<export>`, the module's default export or its only pipeline definition.
 */
export async function loadPipeline(ref: string, source?: string): Promise<PipelineDefinition> {
  const [file, name] = ref.split('#') as [string, string | undefined];
  const mod = (await import(pathToFileURL(path.resolve(file)).href)) as Record<string, unknown>;
  const candidates = name ? [mod[name]] : mod.default ? [mod.default] : Object.values(mod).filter(isDefinition);
  if (candidates.length !== 1 || candidates[0] === undefined) {
    throw new Error(
      name
        ? `${file} has no export "${name}" (exports: ${Object.keys(mod).join(', ')})`
        : `${file} exports ${candidates.length} pipelines: name one as ${file}#<export>`,
    );
  }
  const make = candidates[0];
  const found = typeof make === 'function' ? await (make.length > 0 ? make(source) : make()) : make;
  if (!isDefinition(found))
    throw new Error(`${ref} is not a pipeline: export the value definePipeline() returns (or a function returning it)`);
  return found;
}

const fmt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '' : String(Number(v.toPrecision(6))));

/** The report as a terminal shows it. */
export function formatCheckReport(report: CheckReport): string {
  const shards = report.shards.length;
  const lines = [
    `source: ${report.source} (${report.format}, ${shards} file${shards === 1 ? '' : 's'}, ${report.bytes} bytes, sha256 ${report.sha256.slice(0, 12)})`,
    `rows: ${report.rows}`,
  ];
  const rows = Object.entries(report.profile).map(([name, p]) => [
    name,
    p.type,
    `${p.missing}`,
    fmt(p.min),
    fmt(p.quantiles?.['0.5']),
    fmt(p.max),
    fmt(p.mean),
    fmt(p.std),
    p.categories
      ? `${p.distinct} distinct: ${Object.entries(p.categories)
          .slice(0, 5)
          .map(([k, n]) => `${k}=${n}`)
          .join(' ')}`
      : '',
  ]);
  const header = ['column', 'type', 'missing', 'min', 'median', 'max', 'mean', 'std', 'values'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [header, ...rows])
    lines.push(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
  lines.push(
    report.problems.length === 0 ? 'problems: none' : `${report.problems.length} problem(s):`,
    ...report.problems.map(formatProblem),
  );
  return lines.join('\n');
}

function formatProblem(p: DataProblem): string {
  return `  - ${p.column ? `${p.column} ` : ''}[${p.kind}] ${p.message}`;
}

/** Runs `data <subcommand>`; returns the exit code. */
export async function dataCommand(args: string[], values: { pipeline?: string; json: boolean }): Promise<number> {
  const [sub, source] = args;
  if (sub !== 'check' || !values.pipeline) {
    console.error(
      `Usage:\n${DATA_USAGE}\n  e.g. temporal-mlops data check gs://acme/churn/2026-11/ --pipeline ./pipelines.ts#churn`,
    );
    return 2;
  }
  let ingest: IngestSpec;
  try {
    const pipeline = await loadPipeline(values.pipeline, source);
    ingest = { ...pipeline.spec.ingest, source: source ?? pipeline.spec.ingest.source };
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  try {
    const report = await checkSource(ingest);
    console.log(
      values.json ? JSON.stringify({ ...report, shards: report.shards }, null, 2) : formatCheckReport(report),
    );
    return report.problems.length > 0 ? 1 : 0;
  } catch (err) {
    // The source itself is unusable (missing, empty prefix, a shard gone mid-read): same exit as bad data.
    const failure = err as Error & { type?: string; details?: unknown[] };
    if (failure.type !== 'DataValidationFailed') throw err;
    const problems = ((failure.details?.[0] as { problems?: DataProblem[] } | undefined)?.problems ?? []).map(
      formatProblem,
    );
    console.log(
      values.json
        ? JSON.stringify({ error: failure.message, problems }, null, 2)
        : [failure.message, ...problems].join('\n'),
    );
    return 1;
  }
}
