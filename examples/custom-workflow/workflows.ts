/**
 * A team's own workflow built from the SDK's stages: two candidates trained in parallel (each its own job,
 * exactly once after any crash), the better one gated, registered with both in its lineage, approved and
 * deployed. Status, approval audit, search attributes and lineage are the same as `mlPipeline`'s.
 *
 * The worker bundles this file instead of the SDK's workflows:
 *   createPipelineWorker({ workflowsPath: fileURLToPath(new URL('./workflows.js', import.meta.url)) })
 * and a client starts it with
 *   client.start(pipeline, { requestedBy, workflowType: 'trainTwoCandidates', input: { candidates: [a, b] } })
 * A team outside this repository imports the same names from 'temporal-mlops/workflow'.
 */
import {
  awaitApproval,
  deploy,
  gate,
  handOverToMonitor,
  ingest,
  PipelineRunState,
  register,
  trainingParams,
  trainJob,
} from '../../workflows/index.js';
import type { CandidateSelection, PipelineResult, PipelineRunInput, TrainingResult } from '../../sdk/index.js';

// The SDK's own workflows stay registered beside this one (the monitor and retrains need them).
export { mlPipeline, monitorModel, watchNewData } from '../../workflows/index.js';

type Params = Record<string, string | number | boolean>;

/** The run input, plus the two parameter sets to try and the metric that picks the winner (higher is better). */
export interface TwoCandidatesInput extends PipelineRunInput {
  candidates: [Params, Params];
  metric?: string;
}

/** Picks the candidate with the higher metric (the first on a tie) and says why. */
function pickBetter(trained: TrainingResult[], params: Params[], metric: string): CandidateSelection {
  const scores = trained.map((t) => t.metrics[metric] ?? Number.NEGATIVE_INFINITY);
  const winner = scores[1]! > scores[0]! ? 1 : 0;
  const loser = 1 - winner;
  return {
    metric,
    higherIsBetter: true,
    candidates: trained.map((t, i) => ({ params: params[i]!, metrics: t.metrics, jobKey: t.jobKey })),
    winner,
    reason: `${metric} ${scores[winner]} ${scores[winner] === scores[loser] ? '=' : '>'} ${scores[loser]} (candidate ${loser})`,
  };
}

/** Trains two candidates in parallel and takes the better one through gate, registry, approval and deploy. */
export async function trainTwoCandidates(input: TwoCandidatesInput): Promise<PipelineResult> {
  const run = new PipelineRunState(input);
  const snapshot = await ingest(run);
  const params = input.candidates.map((c) => ({ ...trainingParams(run), ...c }));
  const trained = await run.stage('train', () => Promise.all(params.map((p) => trainJob(run, snapshot, p))));
  const selection = pickBetter(trained, params, input.metric ?? 'auc');
  const training = trained[selection.winner]!;
  run.status.training = training;

  const report = await gate(run, snapshot, training);
  const version = await register(run, {
    snapshot,
    training,
    gate: report,
    params: params[selection.winner],
    selection,
  });
  const approval = await awaitApproval(run, { version, training, gate: report });
  const deployment = await deploy(run, { version, snapshot });
  await handOverToMonitor(run, { version, snapshot });
  return run.finish({ snapshot, training, gate: report, version, approval, deployment });
}
