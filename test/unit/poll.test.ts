/** The activities' one wait helper and their poll intervals: values, deadlines, cancellation, wake-ups, env. */
import { CancelledFailure } from '@temporalio/activity';
import { afterEach, describe, expect, it } from 'vitest';
import { pollUntil } from '../../activities/platform/poll.js';
import { kubePollMs, vertexCancelPollMs, vertexPollMs } from '../../activities/platform/poll-intervals.js';

/** A check that answers `value` on its `n`th call, counting calls. */
function answersOn<T>(n: number, value: T) {
  const check = async () => (++check.calls >= n ? value : undefined);
  check.calls = 0;
  return check;
}

describe('pollUntil', () => {
  it('returns the first value the check gives', async () => {
    const check = answersOn(3, 'ready');
    await expect(pollUntil(check, { intervalMs: 5 })).resolves.toBe('ready');
    expect(check.calls).toBe(3);
  });

  it('resolves undefined once the deadline passes, after a last check', async () => {
    const check = answersOn(Infinity, true);
    const started = Date.now();
    await expect(pollUntil(check, { intervalMs: 20, timeoutMs: 100 })).resolves.toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
    expect(check.calls).toBeGreaterThanOrEqual(2);
  });

  it('ends at cancellation: runs onCancel, then rejects with CancelledFailure', async () => {
    const abort = new AbortController();
    const cleaned: string[] = [];
    const waiting = pollUntil(answersOn(Infinity, true), {
      intervalMs: 60_000,
      signal: abort.signal,
      what: 'job j1',
      onCancel: async () => void cleaned.push('stopped'),
    });
    setTimeout(() => abort.abort(), 20);
    const err = await waiting.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledFailure);
    expect((err as Error).message).toBe('job j1 was cancelled');
    expect(cleaned).toEqual(['stopped']);
  });

  it('checks again at once when woken, then keeps the interval', async () => {
    let exited!: () => void;
    const wake = new Promise<void>((resolve) => (exited = resolve));
    const at: number[] = [];
    const check = async () => (at.push(Date.now()) === 3 ? 'done' : undefined);
    const waiting = pollUntil(check, { intervalMs: 2000, wake });
    setTimeout(exited, 20);
    await expect(waiting).resolves.toBe('done');
    const [first, second, third] = at as [number, number, number];
    expect(second - first).toBeLessThan(1500); // woken, not the 2 s interval
    expect(third - second).toBeGreaterThanOrEqual(1900); // a wake-up counts once
  });

  it('a failing check ends the wait with its error', async () => {
    const failing = async () => {
      throw new Error('the job failed');
    };
    await expect(pollUntil(failing, { intervalMs: 5 })).rejects.toThrow('the job failed');
  });
});

describe('poll intervals', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('are the documented defaults unless set', () => {
    delete process.env.MLOPS_VERTEX_POLL_MS;
    delete process.env.MLOPS_KUBE_POLL_MS;
    expect(vertexPollMs()).toBe(15_000);
    expect(vertexCancelPollMs()).toBe(1000);
    expect(kubePollMs()).toBe(5_000);
    process.env.MLOPS_KUBE_POLL_MS = '250';
    expect(kubePollMs()).toBe(250);
  });

  it('name the variable when it is not a positive number', () => {
    process.env.MLOPS_VERTEX_POLL_MS = '15s';
    expect(() => vertexPollMs()).toThrow(/MLOPS_VERTEX_POLL_MS must be a positive number of milliseconds, got "15s"/);
  });
});
