import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `read` every 100 ms until `done` holds for its value, or `timeoutMs` passed; returns the last value
 * read, for the caller to assert on (no time is asserted: a slow machine only waits longer).
 */
export async function until<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(100);
  }
}
