import type { DeliveryPlan } from '../subscriptions/types.js';
import { timerDelay } from './timers.js';

/**
 * What a sink's answer means (architecture §4): 2xx delivered; 408, 425, 429, 5xx, timeouts and
 * network errors are worth retrying; every other status is the sink saying "never", so the event is
 * dead-lettered at once. 3xx is not followed: a Web Hooks receiver must not redirect.
 */
export type AttemptOutcome = 'delivered' | 'retry' | 'reject';

export function classifyStatus(status: number): AttemptOutcome {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 408 || status === 425 || status === 429 || status >= 500) return 'retry';
  return 'reject';
}

/** `Retry-After` as milliseconds (delta-seconds or HTTP-date), or undefined when absent or unparsable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Delay before retry number `retry` (1-based): Knative's shapes, `exponential` = delay·2^(n-1) and
 * `linear` = delay·n, spread by ±jitter and capped at backoffMax. A sink's Retry-After wins, up to
 * backoffMax, so a sink cannot park a subscription for hours. Whole milliseconds, at most 2^31 − 1.
 */
export function backoffDelay(
  plan: DeliveryPlan,
  retry: number,
  retryAfterMs?: number,
  random = Math.random,
): number {
  // Every delay goes through timerDelay: a longer one would overflow Node's timer and fire at once.
  if (retryAfterMs !== undefined) return timerDelay(Math.min(retryAfterMs, plan.backoffMaxMs));
  const base =
    plan.backoffPolicy === 'exponential'
      ? plan.backoffDelayMs * 2 ** Math.min(retry - 1, 30)
      : plan.backoffDelayMs * retry;
  const spread = base * plan.jitter * (2 * random() - 1);
  return timerDelay(Math.min(plan.backoffMaxMs, base + spread));
}
