/**
 * `mlPipeline`: interprets a pipeline spec (workflow input, recorded in history) as
 * ingest → train → gate → register → approval → deploy, then hands the model to its monitor when the spec
 * asks for monitoring. Each stage is a building block of `./stages.ts`; the run's state is a `PipelineRunState`.
 * Deterministic: all I/O happens in activities.
 */
import type { PipelineResult, PipelineRunInput } from '../../sdk/run-types.js';
import { PipelineRunState } from './run-state.js';
import { awaitApproval, deploy, gate, handOverToMonitor, ingest, register, train } from './stages.js';

/** The pipeline workflow. Start it through `PipelineClient.start`. */
export async function mlPipeline(input: PipelineRunInput): Promise<PipelineResult> {
  const run = new PipelineRunState(input);
  const snapshot = await ingest(run);
  const training = await train(run, snapshot);
  const gateReport = await gate(run, snapshot, training);
  const version = await register(run, { snapshot, training, gate: gateReport });
  const approval = await awaitApproval(run, {
    version,
    training,
    gate: gateReport,
    recordDuringNextStage: Boolean(run.spec.deploy),
  });
  const deployment = await deploy(run, { version, snapshot });
  await handOverToMonitor(run, { version, snapshot });
  return run.finish({ snapshot, training, gate: gateReport, version, approval, deployment });
}
