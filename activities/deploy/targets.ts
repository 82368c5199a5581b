/**
 * Each deploy target's rollout operations behind one interface, so the rollout activities dispatch in one
 * place: the local router, a Vertex AI endpoint's trafficSplit, or a KServe InferenceService's canary percent.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Deployment } from '../../sdk/run-types.js';
import type { Mirror } from './local/mirror.js';
import { targetOf, type DeployTarget } from '../../sdk/spec/deploy.js';
import type { DeployInput } from './local/deploy.js';
import {
  kserveCandidatePredictor,
  promoteKServe,
  rollBackKServe,
  routeKServeTraffic,
  startKServeCandidate,
  stopKServeCandidate,
} from './kserve.js';
import type { ObjectStore } from '../../registry/object-store.js';
import { promoteCandidate, rollBackLocal, routeTraffic, startCandidate, stopLocalCandidate } from './local/rollout.js';
import type { CandidateServers, PromoteInput, RollBackInput, StopInput } from './types.js';
import type { Route } from './local/traffic-router.js';
import { httpPredictor, type CandidatePredictor, type SkewInput } from './skew/gate.js';
import {
  promoteVertex,
  rollBackVertex,
  routeVertexTraffic,
  startVertexCandidate,
  stopVertexCandidate,
  vertexScratchPredictor,
} from './vertex.js';

/** The `routeTraffic` activity's input: one rollout step's split. */
export interface TrafficInput {
  model: string;
  step: string;
  routes: Route[];
  target?: DeployTarget;
  /** The candidate's version (its route's weight is the canary share). */
  candidate?: number;
  /** The shadow stage: a share of live requests also sent to the candidate (local target only). */
  mirror?: Mirror;
}

/** A rollout.shadow on a target without a router that mirrors: refused (the spec refuses it first). */
function noMirror(input: TrafficInput, kind: string): void {
  if (input.mirror)
    throw ApplicationFailure.nonRetryable(
      `rollout.shadow needs the local target's router to mirror requests; ${kind} cannot`,
      'InvalidSpec',
    );
}

/** What a deploy target does for a staged rollout, one method per rollout activity. */
export interface RolloutTargetOps {
  /** Starts the candidate beside the champion with no traffic; fails before any traffic moves if it is unhealthy. */
  start(input: DeployInput, store: ObjectStore): Promise<CandidateServers>;
  /** Sets one step's split between champion and candidate. */
  route(input: TrafficInput): Promise<{ routerEndpoint: string }>;
  /** The candidate serves everything for good; the champion is retired. */
  promote(input: PromoteInput): Promise<Deployment>;
  /** All traffic back to the champion; the candidate is stopped. */
  rollBack(input: RollBackInput, store: ObjectStore): Promise<void>;
  /** How the skew gate reaches the candidate alone, before it has any traffic. */
  predictor(input: SkewInput, store: ObjectStore): CandidatePredictor | Promise<CandidatePredictor>;
  /** The candidate is stopped before it got any traffic; the champion's traffic is not touched. */
  stop(input: StopInput, store: ObjectStore): Promise<void>;
}

/** The rollout operations of `target` (no target: the local one, in `home`). */
export function rolloutTargetOps(home: string, target: DeployTarget | undefined): RolloutTargetOps {
  switch (target?.kind) {
    case 'vertex-endpoint':
      return {
        start: startVertexCandidate,
        route: (input) => {
          noMirror(input, target.kind);
          return routeVertexTraffic(target, Object.fromEntries(input.routes.map((r) => [r.url, r.weight])));
        },
        promote: (input) => promoteVertex(target, input),
        rollBack: (input) => rollBackVertex(target, input.servers),
        // The real endpoint routes by trafficSplit only: the candidate's Model serves alone on a scratch endpoint.
        predictor: (input) => vertexScratchPredictor(target, input),
        stop: (input) => stopVertexCandidate(target, input.servers),
      };
    case 'kserve':
      return {
        start: startKServeCandidate,
        route: (input) => {
          noMirror(input, target.kind);
          const weight = input.routes.find((r) => r.version === input.candidate)?.weight ?? 0;
          return routeKServeTraffic(target, input.model, weight);
        },
        promote: (input) => promoteKServe(target, input.version.model, input.version.version, input.rollout),
        rollBack: (input, store) => rollBackKServe(target, input.version.model, store, input.servers.champion?.version),
        predictor: (input) => kserveCandidatePredictor(target, input),
        stop: (input, store) =>
          stopKServeCandidate(target, input.version.model, store, input.servers.champion?.version),
      };
    default:
      return {
        start: (input, store) => startCandidate(home, input, store),
        route: (input) => routeTraffic(home, input),
        promote: (input) => promoteCandidate(home, input),
        rollBack: (input) => rollBackLocal(home, input),
        // The candidate's own server, not the router: it has no traffic yet.
        predictor: (input) =>
          httpPredictor(input.servers.candidate.endpoint + targetOf(input.deploy, 'local').predictRoute),
        stop: (input) => stopLocalCandidate(home, input),
      };
  }
}
