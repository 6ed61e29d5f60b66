/**
 * A token bucket: `rate` tokens per second, bursts up to `burst`. Used for ingress 429s and for
 * per-subscription delivery rate limits.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number = Math.max(1, rate),
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.updatedAt = now();
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.rate);
    this.updatedAt = now;
  }

  /** Takes `n` tokens if available; otherwise takes nothing and returns false. */
  tryTake(n = 1): boolean {
    this.refill();
    // A request larger than the burst may still pass from a full bucket, else it could never pass.
    if (this.tokens >= Math.min(n, this.burst)) {
      this.tokens -= n;
      return true;
    }
    return false;
  }

  /**
   * Takes `n` tokens only if the bucket holds them now; never goes into debt, so one large request
   * cannot make every later one wait. `n` above the burst can never pass (callers refuse it first).
   */
  tryTakeWithoutDebt(n = 1): boolean {
    this.refill();
    if (n > this.burst || this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Milliseconds until `n` tokens (capped at the burst) are available. */
  waitTime(n = 1): number {
    this.refill();
    const missing = Math.min(n, this.burst) - this.tokens;
    return missing <= 0 ? 0 : (missing / this.rate) * 1000;
  }
}
