/**
 * One line per stage of a pipeline run, as the demo prints them: the status query is polled and each new stage,
 * gate verdict, skew report and rollout step is told once.
 */
import { STAGES, type PipelineStatus, type Stage } from '../../sdk/index.js';

const metrics = (m: Record<string, number> | undefined, names: string[]) =>
  names
    .filter((k) => m?.[k] !== undefined)
    .map((k) => `${k}=${m![k]!.toFixed(4)}`)
    .join(' ');

/** Tells each new stage, gate verdict, skew report, rollout step and conclusive canary analysis of a run once. */
export class RunNarrator {
  private readonly told = new Set<string>();

  /** Lines not told yet for this status (empty when nothing changed). */
  lines(s: PipelineStatus): string[] {
    const lines: string[] = [];
    const once = (key: string, line: string | undefined) => {
      if (line === undefined || this.told.has(key)) return;
      this.told.add(key);
      lines.push(line);
    };
    // Every stage that has started, in order: a quick one may have ended between two polls.
    for (const stage of STAGES) {
      if (s.stages[stage] === 'pending' || s.stages[stage] === 'skipped') continue;
      const text = describeStage(stage, s);
      once(`stage:${stage}`, text && `▸ ${text}`);
    }
    const c = s.gate?.champion;
    if (c && c.version !== null) {
      const checks = c.checks.map((k) => `${k.metric} ${k.candidate?.toFixed(4)} vs ${k.champion?.toFixed(4)}`);
      once(
        'champion',
        `  champion/challenger: ${c.passed ? 'beats' : 'does NOT beat'} champion v${c.version} (${c.basis}: ${checks.join(', ')})`,
      );
    }
    if (s.skew) once('skew', `  skew gate ${s.skew.status}: ${s.skew.summary}`);
    const r = s.rollout;
    if (r?.state === 'shadowing' && r.shadow)
      once(
        'shadowing',
        `  shadow: the router mirrors ${r.shadow.share * 100} % of live requests to v${r.candidate}; callers get v${r.champion}'s answers`,
      );
    if (r?.shadow && r.state !== 'shadowing' && r.state !== 'starting')
      once('shadow', `  shadow ${r.shadow.passed ? 'passed' : 'FAILED'}: ${r.shadow.summary}`);
    if (r && r.step > 0) {
      const split = Object.entries(r.traffic)
        .map(([v, pct]) => `v${v} ${pct}%`)
        .join(' / ');
      once(`rollout:${r.step}:${r.state}`, `  rollout step ${r.step}/${r.steps}: ${split} (${r.state})`);
      const a = r.latestAnalysis;
      if (a?.conclusive)
        once(
          `analysis:${a.step}`,
          `  canary analysis, step ${a.step}: ${a.passed ? 'passed' : 'BREACH'} on ${a.candidate.requests} candidate requests`,
        );
    }
    return lines;
  }
}

function describeStage(stage: Stage, s: PipelineStatus): string | undefined {
  switch (stage) {
    case 'ingest':
      return `ingest: snapshot + schema and quality checks${s.trigger.kind === 'drift' ? ' (the newer data)' : ''}`;
    case 'train':
      return 'train: scikit-learn job via the local backend';
    case 'gate':
      return `gate: ${metrics(s.training?.metrics, ['auc', 'recall', 'accuracy'])}`;
    case 'register':
      return 'register: artifacts + lineage manifest into the registry';
    case 'approval':
      return `approval: ${s.version?.model} v${s.version?.version} waits for a human decision`;
    case 'deploy':
      return 'deploy: model server, health check, smoke prediction, then the skew gate and the rollout if configured';
    default:
      return undefined;
  }
}
