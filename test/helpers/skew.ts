/** The skew and shadow tests' pipeline: skew-mini.csv, a model that answers {label, score}, a serving fault. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { definePipeline } from '../../sdk/define-pipeline.js';
import { local, localServer } from '../../sdk/factories.js';
import type { PipelineConfig } from '../../sdk/spec/pipeline.js';
import { FIXTURES } from './harness.js';

/** 40 rows with a large-magnitude feature (`ts`, epoch seconds within one day), where float32 loses precision. */
export const SKEW_DATA = path.join(FIXTURES, 'skew-mini.csv');

/** The fixture's rows as a caller sends them (numbers typed, the target left out). */
export async function rowsOf(file: string): Promise<Record<string, string | number>[]> {
  const [header, ...lines] = (await fs.readFile(file, 'utf8')).trim().split('\n');
  const names = header!.split(',');
  return lines.map((line) =>
    Object.fromEntries(
      line
        .split(',')
        .map((v, i) => [names[i]!, Number.isNaN(Number(v)) ? v : Number(v)] as const)
        .filter(([name]) => name !== 'approved'),
    ),
  );
}

/** A pipeline on skew-mini.csv whose model answers {label, score}; `fault` picks a wrong serving container. */
export function skewPipeline(
  name: string,
  options: {
    fault?: string;
    params?: Record<string, string | number | boolean>;
    deploy?: Partial<NonNullable<PipelineConfig['deploy']>>;
  } = {},
) {
  return definePipeline({
    name,
    ingest: {
      source: SKEW_DATA,
      columns: {
        amount: { type: 'number', min: 0 },
        tenure_days: { type: 'integer', min: 0 },
        ts: { type: 'number' },
        utilization: { type: 'number', min: 0, max: 1 },
        channel: { type: 'string', allowed: ['web', 'app', 'branch'] },
        approved: { type: 'integer', min: 0, max: 1 },
      },
      target: 'approved',
    },
    train: {
      backend: local({ command: ['python3', path.join(FIXTURES, 'train_fixture.py')] }),
      params: { output: 'scores', ...options.params },
      heartbeatTimeout: '10s',
    },
    gate: { metrics: { auc: { min: 0.8 } } },
    approval: { required: false },
    deploy: {
      target: localServer({
        command: ['python3', path.join(FIXTURES, 'serve_fixture.py')],
        env: options.fault ? { FIXTURE_SERVE_FAULT: options.fault } : {},
        healthTimeout: '20s',
      }),
      skew: {},
      ...options.deploy,
    },
  });
}
