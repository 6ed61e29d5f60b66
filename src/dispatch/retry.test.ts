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
