/** What a rollout passes between its activities, whatever the target (local, vertex-endpoint, kserve). */
import type { AnalysisReport, Deployment, RegisteredVersion, ShadowReport, SkewReport } from '../../sdk/run-types.js';
import type { DeploySpec } from '../../sdk/spec/pipeline.js';
import type { VersionServer } from './local/deploy.js';

/** A version taking part in a rollout; `endpoint` is where its traffic goes (URL, or deployed model id). */
export interface RolloutParticipant {
  version: number;
  endpoint: string;
}

export interface CandidateServers {
  candidate: RolloutParticipant & Partial<VersionServer>;
  /** The live champion the candidate is compared with; absent on a first deployment. */
  champion?: RolloutParticipant;
}

export interface PromoteInput {
  version: RegisteredVersion;
  deploy: DeploySpec;
  servers: CandidateServers;
  routerEndpoint: string;
  rollout: Deployment['rollout'];
  /** The skew gate the candidate passed (kept with the deployment). */
  skew?: SkewReport;
}

/** A candidate stopped before it got any traffic (it failed the skew gate). */
export interface StopInput {
  version: RegisteredVersion;
  deploy: DeploySpec;
  servers: CandidateServers;
  reason: string;
}

export interface RollBackInput {
  version: RegisteredVersion;
  deploy: DeploySpec;
  servers: CandidateServers;
  routerEndpoint?: string;
  /** The canary analysis that breached, or the shadow comparison. */
  report: AnalysisReport | ShadowReport | undefined;
  reason: string;
  requestedBy: string;
}
