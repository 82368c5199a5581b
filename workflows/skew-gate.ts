/**
 * The skew gate in the workflow: the candidate starts healthy with no traffic, the training job's offline
 * predictions are replayed through it (the `checkSkew` activity), and when its answers differ it is stopped
 * before any traffic moves and the run fails with `SkewDetected`, the report in its details. Runs only when the
 * spec has `deploy.skew`, so runs without it keep their history shape. Deterministic: all I/O is in activities.
 */
import type { CandidateServers } from '../activities/deploy/types.js';
import type { DataSnapshot, RegisteredVersion, SkewReport } from '../sdk/run-types.js';
import type { DeploySpec } from '../sdk/spec/pipeline.js';
import { deployActivities } from './pipeline/activities.js';
import { fail } from './pipeline/run-state.js';

/** What the gate needs: the candidate version, the deploy spec (with `skew`), and what the server is given. */
export interface SkewGateInput {
  version: RegisteredVersion;
  deploy: DeploySpec;
  snapshot: DataSnapshot;
  store?: string;
  monitor?: { windowMs: number };
}

/**
 * Starts the candidate and gates it; returns its servers (for the rollout or the direct deploy that follows)
 * and the report. `onReport` sees the report as soon as it exists (the status query shows it).
 */
export async function skewGate(
  input: SkewGateInput,
  onReport: (report: SkewReport) => void,
): Promise<{ servers: CandidateServers; skew: SkewReport }> {
  const acts = deployActivities(input.deploy);
  const { version, deploy, snapshot, store, monitor } = input;
  const servers = await acts.startCandidate({ version, deploy, snapshot, store, monitor });
  const skew = await acts.checkSkew({ version, deploy, servers, store });
  onReport(skew);
  if (skew.status === 'failed') {
    await acts.stopCandidate({ version, deploy, servers, store, reason: skew.summary });
    const champion = servers.champion ? `v${servers.champion.version} keeps serving` : 'nothing else was serving';
    fail(
      'SkewDetected',
      `${version.model} v${version.version} was stopped before any traffic (${champion}): ${skew.summary}`,
      skew,
    );
  }
  return { servers, skew };
}
