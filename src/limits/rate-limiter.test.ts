import { describe, expect, it } from 'vitest';
import { thrownBy } from '../testing/thrown.js';
import { RateLimiter } from './rate-limiter.js';
import type { RateLimiterOptions } from './rate-limiter.js';

function limiter(options: Partial<RateLimiterOptions> = {}) {
  let now = 1_000;
  const l = new RateLimiter({
    rate: 10,
    burst: 10,
    per: 'global',
    maxClients: 100,
    ...options,
    now: () => now,
  });
  return { l, advance: (ms: number) => (now += ms) };
}

describe('RateLimiter', () => {
  it('counts events, refuses a request larger than the burst whole, and never goes into debt', () => {
    const { l, advance } = limiter();
    expect(thrownBy(() => l.take('a', 100_000))).toMatchObject({ code: 'HERALD_RATE_BURST_EXCEEDED' });
    // The refused request took nothing: a full burst still passes.
    l.take('a', 10);
    const limited = thrownBy(() => l.take('a', 1));
    expect(limited).toMatchObject({ code: 'HERALD_RATE_LIMITED', retryAfter: 1 });
    advance(500);
    expect(thrownBy(() => l.take('a', 6))).toMatchObject({ code: 'HERALD_RATE_LIMITED', retryAfter: 1 });
    l.take('a', 5);
  });

  it('keeps a bucket per client when asked, and a bounded number of them (least recently used first)', () => {
    let forgotten = 0;
    const { l } = limiter({ per: 'client', burst: 2, maxClients: 3, onForget: () => forgotten++ });
    l.take('a', 2);
    l.take('b', 2);
    expect(thrownBy(() => l.take('a', 1))).toMatchObject({ code: 'HERALD_RATE_LIMITED' });
    for (let i = 0; i < 1000; i++) l.take(`client-${i}`, 1);
    expect(l.trackedClients).toBe(3);
    expect(forgotten).toBe(999);
  });

  it('shares one bucket among all clients by default', () => {
    const { l } = limiter({ burst: 2 });
    l.take('a', 2);
    expect(thrownBy(() => l.take('b', 1))).toMatchObject({ code: 'HERALD_RATE_LIMITED' });
    expect(l.trackedClients).toBe(1);
  });
});
