/**
 * The one way activities wait for something outside them (a remote job, an operation, a revision, a process):
 * check, sleep, check again, until the check returns a value, a deadline passes or the activity is cancelled.
 * A check is the place to heartbeat (cancellation reaches an activity only through its heartbeats).
 */
import { CancelledFailure } from '@temporalio/activity';

/**
 * Waits `ms`, or less when `signal` aborts first (an activity's cancellation). Never rejects.
 *
 * @example
 * await sleepOrCancel(2000, Context.current().cancellationSignal);
 */
export function sleepOrCancel(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** How `pollUntil` waits between checks, and when it stops. */
export interface PollOptions {
  /** Milliseconds between the end of one check and the start of the next. */
  intervalMs: number;
  /** Stop after this many milliseconds: `pollUntil` then resolves `undefined` (the caller says what timed out). */
  timeoutMs?: number;
  /**
   * The activity's cancellation signal. When it aborts, `onCancel` runs and `pollUntil` rejects with a
   * `CancelledFailure`. Omit it for a wait that must run to its end even after cancellation (a job being stopped).
   */
  signal?: AbortSignal;
  /** Clean-up before the `CancelledFailure` (stop or delete the job); its own errors propagate instead. */
  onCancel?: () => Promise<void>;
  /** The thing waited for, in the `CancelledFailure`'s message. */
  what?: string;
  /** Ends the current sleep when it settles (a child process's exit), so the next check runs at once. */
  wake?: Promise<unknown>;
}

type Check<T> = () => Promise<T | undefined>;

/**
 * Runs `check` until it returns something other than `undefined`, and returns that. With `timeoutMs`, resolves
 * `undefined` once the deadline passes (after a last check at the deadline). Errors thrown by `check` end the wait.
 *
 * @example
 * const ready = await pollUntil(async () => ((await isHealthy(url)) ? true : undefined), {
 *   intervalMs: 300,
 *   timeoutMs: 30_000,
 *   signal: Context.current().cancellationSignal,
 * });
 * if (!ready) throw new Error(`${url} was not healthy within 30 s`);
 */
export function pollUntil<T>(check: Check<T>, options: PollOptions & { timeoutMs: number }): Promise<T | undefined>;
export function pollUntil<T>(check: Check<T>, options: PollOptions & { timeoutMs?: undefined }): Promise<T>;
export async function pollUntil<T>(check: Check<T>, options: PollOptions): Promise<T | undefined> {
  const { intervalMs, timeoutMs, signal, onCancel, what = 'the wait' } = options;
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  // A wake-up is a one-time event: once it fired, later sleeps run their full interval.
  const woke = new AbortController();
  void options.wake?.then(
    () => woke.abort(),
    () => woke.abort(),
  );
  const interrupt = signal ? AbortSignal.any([signal, woke.signal]) : woke.signal;
  const cancelled = async (): Promise<never> => {
    await onCancel?.();
    throw new CancelledFailure(`${what} was cancelled`);
  };
  for (;;) {
    if (signal?.aborted) return cancelled();
    const value = await check();
    if (value !== undefined) return value;
    const left = deadline - Date.now();
    if (left <= 0) return undefined;
    await sleepOrCancel(Math.min(intervalMs, left), woke.signal.aborted ? signal : interrupt);
  }
}
