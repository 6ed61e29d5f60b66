import { describe, expect, it } from 'vitest';
import { planDelivery, mergeDelivery } from '../subscriptions/validate.js';
import { backoffDelay, parseRetryAfter } from './retry.js';
import { MAX_TIMER_MS, timerDelay } from './timers.js';

describe('delays never overflow a timer (#11 finding 7)', () => {
  it('clamps computed backoff delays and Retry-After to the timer limit', () => {
    // A definition stored before the caps existed: planDelivery clamps it to the backoff cap.
    const plan = planDelivery({ ...mergeDelivery(undefined), backoffDelay: 'P30D', backoffMax: 'P900D' });
    expect(plan.backoffDelayMs).toBeLessThanOrEqual(86_400_000);
    expect(plan.backoffMaxMs).toBeLessThanOrEqual(86_400_000);
    const huge = { ...plan, backoffDelayMs: 30 * 86_400_000, backoffMaxMs: 1e15 };
    for (let retry = 1; retry <= 40; retry++) {
      const delay = backoffDelay(huge, retry);
      expect(delay).toBeLessThanOrEqual(MAX_TIMER_MS);
      expect(delay).toBeGreaterThan(1);
    }
    expect(backoffDelay(huge, 1, parseRetryAfter('99999999999'))).toBe(MAX_TIMER_MS);
  });

  it('timerDelay keeps every delay within [0, 2^31 − 1]', () => {
    expect(timerDelay(-5)).toBe(0);
    expect(timerDelay(Number.POSITIVE_INFINITY)).toBe(MAX_TIMER_MS);
    expect(timerDelay(Number.NaN)).toBe(MAX_TIMER_MS);
    expect(timerDelay(2 ** 40)).toBe(MAX_TIMER_MS);
    expect(timerDelay(1.2)).toBe(2);
  });
});

describe('Retry-After: delta-seconds or an HTTP-date, nothing else', () => {
  const plan = planDelivery({
    ...mergeDelivery(undefined),
    backoffDelay: 'PT2S',
    backoffMax: 'PT60S',
    jitter: 0,
  });
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads delta-seconds and the three HTTP-date forms of RFC 9110', () => {
    expect(parseRetryAfter('7', now)).toBe(7_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Thursday, 01-Jan-26 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Thu Jan  1 00:00:30 2026', now)).toBe(30_000);
    // A date that has passed: the sink's wait is over.
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
  });

  // V8's Date.parse reads such text as a date in 2001, which has passed: the retry started at once,
  // so a sink answering `503` with `Retry-After: -1` spent every retry of the event within
  // milliseconds and had it dead-lettered, where the subscription's backoff would have waited minutes.
  it.each(['-1', '-30', '+5', '1.5', '0.5', 'soon 1', '1 2', '3600, 5', 'Thu, 01 Jan 2026'])(
    'ignores %j: the subscription backoff applies',
    (value) => {
      expect(parseRetryAfter(value, now)).toBeUndefined();
      expect(backoffDelay(plan, 1, parseRetryAfter(value, now))).toBe(2_000);
    },
  );
});
