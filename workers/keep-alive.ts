/**
 * Keep-alive heartbeats: while an activity with a heartbeat timeout runs, the worker heartbeats for it, so a
 * worker that dies (SIGKILL, a lost machine) is noticed within that timeout and the activity is retried on
 * another worker, instead of holding its run until the start-to-close timeout. The short activities (ingest,
 * gate, register, approval records, steps) get a heartbeat timeout for that reason, and steps written by teams
 * need not heartbeat themselves.
 *
 * A keep-alive re-sends the details the activity last sent itself (or those of its previous attempt), so an
 * activity that checkpoints in its heartbeats never loses them. Training is left out: its own heartbeats are
 * the proof that its poll loop is alive, and keeping it alive from outside would hide a hung loop.
 */
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/** Activities whose own heartbeats are their liveness check. */
const SELF_SUPERVISED = new Set(['trainModel']);

export const keepAliveHeartbeats: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const timeout = ctx.info.heartbeatTimeoutMs;
      if (!timeout || SELF_SUPERVISED.has(ctx.info.activityType)) return next(input);
      let details: unknown = ctx.info.heartbeatDetails;
      const own = ctx.heartbeat;
      Object.defineProperty(ctx, 'heartbeat', {
        value: (d?: unknown) => {
          details = d;
          own(d);
        },
      });
      const timer = setInterval(() => own(details), Math.max(1000, timeout / 4));
      try {
        return await next(input);
      } finally {
        clearInterval(timer);
      }
    },
  },
});
