/** Generated prediction traffic for rollout tests: a steady stream of requests, every answer kept. */
import type { RouterStats, TrafficState } from '../../activities/deploy/local/traffic-router.js';

export interface Answer {
  at: number;
  status: number;
  /** The model server's AIP_DEPLOYED_MODEL_ID, e.g. `ro-good-v2`; undefined when nothing answered. */
  answeredBy?: string;
  error?: string;
  /** What was asked and answered. */
  instance?: unknown;
  prediction?: unknown;
}

const INSTANCE = { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 };

/**
 * Sends predictions to `url` from `concurrency` loops, each pausing `pauseMs` between requests; each request is
 * one instance, taken in turn from `instances` (default: one iris row).
 */
export function startTraffic(
  url: string,
  concurrency = 2,
  pauseMs = 10,
  headers: Record<string, string> = {},
  instances: unknown[] = [INSTANCE],
) {
  const answers: Answer[] = [];
  let running = true;
  let sent = 0;
  const loop = async () => {
    while (running) {
      const at = Date.now();
      const instance = instances[sent++ % instances.length];
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ instances: [instance] }),
          signal: AbortSignal.timeout(10_000),
        });
        const body = (await res.json().catch(() => ({}))) as {
          deployedModelId?: string;
          modelDisplayName?: string;
          predictions?: unknown[];
        };
        answers.push({
          at,
          status: res.status,
          answeredBy: body.modelDisplayName ?? body.deployedModelId,
          instance,
          prediction: body.predictions?.[0],
        });
      } catch (err) {
        answers.push({ at, status: 0, error: (err as Error).message });
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    count: () => answers.length,
    failures: () => answers.filter((a) => a.status !== 200),
    answeredBy: () => answers.filter((a) => a.status === 200).map((a) => a.answeredBy),
    answers: () => [...answers],
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** The router's routes and per-version stats of the current step. */
export async function routerState(endpoint: string) {
  const res = await fetch(`${endpoint}/-/mlops/traffic`);
  return (await res.json()) as TrafficState & { stats: Record<string, RouterStats> };
}
