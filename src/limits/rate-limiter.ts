import { HeraldError } from '../errors/index.js';
import { TokenBucket } from './token-bucket.js';

export interface RateLimiterOptions {
  /** Events per second. */
  readonly rate: number;
  /** Events one request may carry, and the most that may pass at once. */
  readonly burst: number;
  /** `global`: one bucket for everyone; `client`: one per client key. */
  readonly per: 'global' | 'client';
  /** Most client buckets kept; the least recently used is dropped first. */
  readonly maxClients: number;
  /** Told when a client's bucket is dropped to stay within `maxClients`. */
  readonly onForget?: () => void;
  readonly now?: () => number;
}

export type RateLimitOutcome = 'ok' | 'rate' | 'burst';

/**
 * Counts events, not requests, against a token bucket per client (or one for all). A request is
 * admitted whole or not at all, and never on credit: a request of more events than the burst is
 * refused outright (it could never pass), so a `Retry-After` is at most one burst's worth of time.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly options: RateLimiterOptions) {}

  /** How many client buckets are held now (bounded by `maxClients`). */
  get trackedClients(): number {
    return this.buckets.size;
  }

  private bucket(key: string): TokenBucket {
    const id = this.options.per === 'global' ? '' : key;
    let bucket = this.buckets.get(id);
    if (bucket !== undefined) {
      // Map order is insertion order: re-inserting makes this the most recently used.
      this.buckets.delete(id);
      this.buckets.set(id, bucket);
      return bucket;
    }
    bucket = new TokenBucket(this.options.rate, this.options.burst, this.options.now);
    this.buckets.set(id, bucket);
    while (this.buckets.size > this.options.maxClients) {
      const oldest = this.buckets.keys().next().value as string;
      this.buckets.delete(oldest);
      this.options.onForget?.();
    }
    return bucket;
  }

  /** Takes `events` tokens for `key`, or throws `HERALD_RATE_BURST_EXCEEDED` / `HERALD_RATE_LIMITED`. */
  take(key: string, events: number): void {
    const { rate, burst, per } = this.options;
    if (events > burst) {
      throw new HeraldError(
        'HERALD_RATE_BURST_EXCEEDED',
        `the request carries ${events} events, more than the burst of ${burst} the rate limit allows at once; send at most ${burst} per request`,
      );
    }
    const bucket = this.bucket(key);
    if (bucket.tryTakeWithoutDebt(events)) return;
    throw new HeraldError(
      'HERALD_RATE_LIMITED',
      `ingress is limited to ${rate} events per second${per === 'client' ? ' per client' : ''}`,
      { retryAfter: Math.max(1, Math.ceil(bucket.waitTime(events) / 1000)) },
    );
  }

  /** Throws `HERALD_RATE_LIMITED` when not even one event could pass now (checked before reading a body). */
  check(key: string): void {
    const bucket = this.bucket(key);
    const wait = bucket.waitTime(1);
    if (wait > 0) {
      throw new HeraldError(
        'HERALD_RATE_LIMITED',
        `ingress is limited to ${this.options.rate} events per second${this.options.per === 'client' ? ' per client' : ''}`,
        { retryAfter: Math.max(1, Math.ceil(wait / 1000)) },
      );
    }
  }
}
