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

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '\\d{2}:\\d{2}:\\d{2}';
/** The three HTTP-date forms (RFC 9110 §5.6.7): IMF-fixdate, obsolete RFC 850 and asctime. */
const HTTP_DATES = [
  new RegExp(`^${DAY}, \\d{2} ${MONTH} \\d{4} ${TIME} GMT$`),
  new RegExp(`^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \\d{2}-${MONTH}-\\d{2} ${TIME} GMT$`),
  new RegExp(`^${DAY} ${MONTH} [ \\d]\\d ${TIME} \\d{4}$`),
];

/**
 * `Retry-After` as milliseconds (delta-seconds or HTTP-date), or undefined when absent or neither.
 * Only those two forms are read: `Date.parse` alone takes almost any text for a date (`-1`, `1.5`,
 * `soon 1` are days of 2001), which made a garbled header a zero wait and spent every retry at once.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!HTTP_DATES.some((form) => form.test(text))) return undefined;
  // asctime carries no zone; HTTP-dates are always GMT.
  const date = Date.parse(text.endsWith('GMT') ? text : `${text} GMT`);
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
