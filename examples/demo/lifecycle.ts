/**
 * Everything the demo starts, stopped once, in reverse order: at the end, on an error, or on Ctrl-C (SIGINT) /
 * SIGTERM at any point. The Temporal SDK's runtime is installed without its own signal handling
 * (`shutdownSignals: []`), so the worker is shut down here, after the waits it serves were abandoned, instead of
 * under our feet (which made `worker.shutdown()` throw `IllegalStateError: Not running`).
 */
export class Lifecycle {
  private readonly stops: { name: string; stop: () => Promise<unknown> | unknown }[] = [];
  private stopping?: Promise<void>;
  /** Resolves when a signal asked the demo to stop. */
  readonly interrupted: Promise<string>;

  constructor(private readonly say: (line: string) => void) {
    this.interrupted = new Promise((resolve) => {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
    });
  }

  /** Registers something to stop; the last registered stops first. */
  add(name: string, stop: () => Promise<unknown> | unknown): void {
    this.stops.push({ name, stop });
  }

  /** Stops everything registered, each once; an error in one does not keep the rest running. */
  stopAll(): Promise<void> {
    this.stopping ??= (async () => {
      for (const { name, stop } of this.stops.reverse()) {
        try {
          await stop();
        } catch (err) {
          this.say(`  (stopping ${name}: ${(err as Error).message})`);
        }
      }
    })();
    return this.stopping;
  }

  /** Races a step of the demo against a stop signal; on a signal, throws `Interrupted`. */
  async orInterrupt<T>(step: Promise<T>): Promise<T> {
    return Promise.race([
      step,
      this.interrupted.then((signal) => {
        throw new Interrupted(signal);
      }),
    ]);
  }
}

export class Interrupted extends Error {
  constructor(readonly signal: string) {
    super(`stopped by ${signal}`);
  }
}
