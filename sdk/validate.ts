/** Turns zod issues into one message that names each field, the value given and what is allowed. Sandbox-safe. */
import type { z } from 'zod';
import { PipelineError, type PipelineErrorCode } from './errors.js';

/** One problem in a config, in words a person can act on. */
export interface SpecProblem {
  path: string;
  message: string;
  received?: string;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function joinPath(label: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : `${acc}${acc ? '.' : ''}${String(key)}`),
    label,
  );
}

/** Lists the problems of a failed parse, one per field. */
export function specProblems(error: z.ZodError, label: string): SpecProblem[] {
  return error.issues.map((issue) => {
    const path = joinPath(label, issue.path);
    if (issue.code === 'unrecognized_keys') {
      return { path, message: `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}: remove or rename them` };
    }
    const problem: SpecProblem = { path: path || label, message: issue.message };
    if ('input' in issue) problem.received = describeValue(issue.input);
    return problem;
  });
}

/** Formats problems as a multi-line message. */
export function formatProblems(title: string, problems: SpecProblem[]): string {
  const lines = problems.map(
    (p) => `  - ${p.path}: ${p.message}${p.received !== undefined ? ` (got ${p.received})` : ''}`,
  );
  return `${title}\n${lines.join('\n')}`;
}

/**
 * Parses `value` with `schema` or throws a `PipelineError` whose message lists every problem.
 *
 * @example
 * const spec = parseOrThrow(PipelineSpecSchema, config, 'pipeline "churn"');
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  value: unknown,
  label: string,
  code: PipelineErrorCode = 'InvalidSpec',
): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const problems = specProblems(result.error, label);
  throw new PipelineError(code, formatProblems(`Invalid ${label}:`, problems), { problems });
}

/** Deep-freezes plain data so a definition cannot be changed after validation. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
