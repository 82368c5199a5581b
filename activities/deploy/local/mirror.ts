/**
 * Request mirroring of the local traffic router (the rollout's shadow stage): which live requests are mirrored
 * to the candidate, and the record of both answers to each of them, kept for the shadow analysis. The caller's
 * answer never waits on the candidate: the mirrored copy is sent on the side and its outcome only recorded.
 */
import { TRAFFIC_HEADER } from '../../monitor/serving-log.js';

/** Where mirrored requests go: the candidate's server, and the share of live requests it gets. */
export interface Mirror {
  version: number;
  url: string;
  share: number;
}

/** One side's answer to a mirrored request, as the router saw it (status 0: no answer). */
export interface MirroredAnswer {
  status: number;
  ms: number;
  body: string;
}

/** A mirrored request with the champion's answer (what the caller got) and the candidate's. */
export interface MirroredPair {
  request: string;
  champion: MirroredAnswer;
  candidate: MirroredAnswer;
}

/** What the router's `GET /-/mlops/shadow` answers: the current step's mirrored requests. */
export interface ShadowState {
  step: string;
  mirror?: Mirror;
  /** Live requests the router answered during the step (POSTs, the ones that can be mirrored). */
  live: number;
  /** Requests picked for mirroring; `skipped` of them were not sent (too many already waiting). */
  mirrored: number;
  skipped: number;
  /** Mirrored requests answered by both sides (the latest MAX_PAIRS). */
  pairs: MirroredPair[];
}

/** The header marking the router's own copies, so request logs can leave them out. */
const SHADOW_TRAFFIC_HEADER = { [TRAFFIC_HEADER]: 'shadow' };

const MAX_PAIRS = 20_000;
/** Mirrored requests waiting for the candidate at once; beyond this they are skipped, not queued. */
const MAX_MIRRORS_IN_FLIGHT = 256;
const BODY_LIMIT = 64 << 10;

/**
 * Picks `share` of the requests, spread evenly: request n is picked when ⌊(n+1)·share⌋ > ⌊n·share⌋, so a share
 * of 0.1 mirrors exactly one request in ten from the start.
 */
export class SharePicker {
  private n = 0;
  pick(share: number): boolean {
    const n = this.n++;
    return Math.floor((n + 1) * share) > Math.floor(n * share);
  }
  reset(): void {
    this.n = 0;
  }
}

/** The mirrored requests of one step. */
export class ShadowLog {
  private state: ShadowState = { step: '', live: 0, mirrored: 0, skipped: 0, pairs: [] };
  private readonly picker = new SharePicker();
  private inFlight = 0;

  /** A new step (or a new mirror): the record restarts when the step changes. */
  configure(step: string, mirror: Mirror | undefined): void {
    if (step !== this.state.step) {
      this.state = { step, live: 0, mirrored: 0, skipped: 0, pairs: [] };
      this.picker.reset();
    }
    this.state.mirror = mirror;
  }

  /** Whether this live request (a POST about to be routed to `version`) is mirrored. */
  pick(version: number | undefined): Mirror | undefined {
    const mirror = this.state.mirror;
    if (!mirror || version === mirror.version) return undefined;
    this.state.live++;
    if (!this.picker.pick(mirror.share)) return undefined;
    this.state.mirrored++;
    if (this.inFlight >= MAX_MIRRORS_IN_FLIGHT) {
      this.state.skipped++;
      return undefined;
    }
    return mirror;
  }

  /**
   * Sends the copy to the candidate on the side and records both answers once the champion's is known too;
   * returns the callback that takes the champion's answer.
   */
  send(mirror: Mirror, path: string, body: Buffer, contentType: string): (champion: MirroredAnswer) => void {
    const step = this.state.step;
    this.inFlight++;
    const started = performance.now();
    const candidate = fetch(mirror.url + path, {
      method: 'POST',
      headers: { 'content-type': contentType, ...SHADOW_TRAFFIC_HEADER },
      body,
      signal: AbortSignal.timeout(10_000),
    })
      .then(async (res) => ({ status: res.status, body: await res.text() }))
      .catch((err: unknown) => ({ status: 0, body: (err as Error).message }))
      .then((answer): MirroredAnswer => {
        this.inFlight--;
        return { ...answer, ms: round(performance.now() - started), body: answer.body.slice(0, BODY_LIMIT) };
      });
    return (champion) => {
      void candidate.then((answer) => {
        if (this.state.step !== step) return;
        const pairs = this.state.pairs;
        if (pairs.length >= MAX_PAIRS) pairs.shift();
        pairs.push({ request: body.toString('utf8', 0, BODY_LIMIT), champion, candidate: answer });
      });
    };
  }

  snapshot(): ShadowState {
    return this.state;
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/** Milliseconds since `started`, rounded like the router's latencies. */
export function since(started: number): number {
  return round(performance.now() - started);
}
