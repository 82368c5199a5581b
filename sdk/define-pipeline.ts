/** `definePipeline`: validate a team's config once, eagerly, and freeze it. */
import { PipelineDefinitionSchema, type PipelineConfig, type PipelineSpec } from './spec/pipeline.js';
import { deepFreeze, formatProblems, parseOrThrow } from './validate.js';
import { PipelineError } from './errors.js';

/** A validated pipeline: its plain-JSON `spec` is what each run carries into workflow history. */
export interface PipelineDefinition {
  readonly name: string;
  readonly model: string;
  readonly spec: Readonly<PipelineSpec>;
}

/** Combinations the runtime cannot honour, and features validated in the spec whose runtime ships later. */
function refuseUnavailable(spec: PipelineSpec): void {
  const problems = [];
  if (spec.retrain.onDrift && !spec.monitor.enabled) {
    problems.push({
      path: 'retrain.onDrift',
      message: 'needs monitor.enabled: true (drift is measured by the monitor)',
    });
  }
  if (spec.monitor.enabled && !spec.deploy) {
    problems.push({
      path: 'monitor.enabled',
      message: 'needs a deploy section: the monitor reads the requests the deployed model served',
    });
  }
  const target = spec.deploy?.target;
  if (spec.monitor.enabled && target && target.kind !== 'local') {
    problems.push({
      path: 'monitor.enabled',
      message: `needs the local deploy target's request log; ${target.kind} serving windows are not collected yet`,
    });
  }
  const analysis = spec.deploy?.rollout?.analysis;
  if (target && target.kind !== 'local' && analysis && (analysis.source === 'router' || !analysis.metrics)) {
    problems.push({
      path: 'deploy.rollout.analysis',
      message: `a ${target.kind} rollout is analysed through Prometheus: set source: { prometheus: URL } and metrics: { requests, errors } PromQL templates`,
    });
  }
  if (spec.retrain.cron && spec.retrain.every) {
    problems.push({ path: 'retrain.every', message: 'give retrain.cron or retrain.every, not both' });
  }
  if (problems.length > 0) {
    throw new PipelineError('InvalidSpec', formatProblems(`Invalid pipeline "${spec.name}":`, problems), { problems });
  }
}

/**
 * Validates a pipeline config and returns a frozen definition. Throws `PipelineError` (`code: 'InvalidSpec'`)
 * listing every field that is wrong, what was given and what is allowed.
 *
 * @example
 * export const churn = definePipeline({
 *   name: 'churn',
 *   ingest: { source: './data/churn.csv', columns: { tenure: { type: 'number' }, churned: { type: 'integer' } }, target: 'churned' },
 *   train: { backend: local({ command: ['python', 'train.py'] }), params: { max_depth: 4 } },
 *   gate: { metrics: { auc: { min: 0.8 } } },
 *   approval: { approvers: ['lead@acme.com'] },
 *   deploy: { target: localServer({ command: ['python', 'serve.py'] }) },
 * });
 */
export function definePipeline(config: PipelineConfig): PipelineDefinition {
  const label = `pipeline${typeof config?.name === 'string' ? ` "${config.name}"` : ''}`;
  const spec = parseOrThrow(PipelineDefinitionSchema, config, label);
  refuseUnavailable(spec);
  if (spec.ingest.target !== undefined && !(spec.ingest.target in spec.ingest.columns)) {
    throw new PipelineError(
      'InvalidSpec',
      `Invalid ${label}:\n  - ingest.target: "${spec.ingest.target}" is not a declared column; declare it under ingest.columns or fix the name`,
    );
  }
  const model = spec.model ?? spec.name;
  return deepFreeze({ name: spec.name, model, spec: { ...spec, model } });
}
