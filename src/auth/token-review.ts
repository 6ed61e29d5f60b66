import { createHash } from 'node:crypto';
import type { Logger } from '../observability/index.js';

/** What a TokenReview answered (authentication.k8s.io/v1). */
export interface TokenReviewResult {
  readonly authenticated: boolean;
  readonly username?: string;
  readonly audiences?: readonly string[];
}

/** Sends a TokenReview for `token` bound to `audience`; provided by the Kubernetes client module. */
export type TokenReviewer = (token: string, audience: string) => Promise<TokenReviewResult>;

/** How long a review is trusted before the API server is asked again. */
const ACCEPTED_TTL_MS = 10_000;
/** Refusals are cached too (briefly), so a flood of bad tokens does not become a flood of reviews. */
const REFUSED_TTL_MS = 2_000;
/** Entries kept at most; the oldest go first. */
const MAX_ENTRIES = 10_000;
/** Seconds a token's `exp` may lie in the past and still be sent for review (the clocks may differ). */
const CLOCK_SKEW_S = 60;

/**
 * Thrown by {@link ServiceAccountTokens.verify} when `--token-review-concurrency` reviews are already
 * in flight: the token was not judged (the caller answers 503, as for a review that failed).
 */
export class TokenReviewsBusy extends Error {
  constructor(limit: number) {
    super(`${limit} TokenReviews are in flight already (--token-review-concurrency)`);
    this.name = 'TokenReviewsBusy';
  }
}

/**
 * True when the token's payload, read WITHOUT verifying it (the TokenReview verifies), could pass a
 * review for `audience`: it names the audience (`aud`, a string or an array) and carries a numeric `exp`
 * not long past. A ServiceAccount token projected for the audience always does; anything else would only
 * cost the API server a review that must refuse it, and distinct garbage tokens cost one review each.
 */
function mayPassReview(token: string, audience: string, nowS: number): boolean {
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
  } catch {
    return false;
  }
  if (typeof payload !== 'object' || payload === null) return false;
  const { aud, exp } = payload as Record<string, unknown>;
  const audiences: unknown[] = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  if (!audiences.includes(audience)) return false;
  return typeof exp === 'number' && Number.isFinite(exp) && exp + CLOCK_SKEW_S > nowS;
}

interface Entry {
  readonly expires: number;
  readonly principal: Promise<string | undefined>;
}

/**
 * Kubernetes ServiceAccount tokens checked with a TokenReview, results cached briefly in a bounded cache
 * keyed by the token's digest (tokens themselves are not kept). Concurrent requests with one token share
 * one review. What unauthenticated clients can make the API server do is bounded: a token that cannot
 * pass is refused without a review, and at most `maxInFlight` reviews run at once (more are refused
 * with {@link TokenReviewsBusy}, never queued).
 */
export class ServiceAccountTokens {
  private readonly cache = new Map<string, Entry>();
  private inFlight = 0;

  constructor(
    private readonly review: TokenReviewer,
    private readonly audience: string,
    private readonly logger: Logger,
    /** `--token-review-concurrency`. */
    private readonly maxInFlight: number,
  ) {}

  /** The principal of an accepted token, undefined when refused; rejects when it could not be judged. */
  verify(token: string): Promise<string | undefined> {
    const now = Date.now();
    if (!mayPassReview(token, this.audience, Math.floor(now / 1000))) return Promise.resolve(undefined);
    const key = createHash('sha256').update(token).digest('base64');
    const cached = this.cache.get(key);
    if (cached !== undefined && cached.expires > now) return cached.principal;
    this.cache.delete(key);
    // Not cached: the token is judged by the next request that finds a free slot.
    if (this.inFlight >= this.maxInFlight) return Promise.reject(new TokenReviewsBusy(this.maxInFlight));
    const principal = this.ask(token);
    this.remember(key, { expires: now + ACCEPTED_TTL_MS, principal });
    void principal.then(
      (value) => {
        if (value === undefined) this.remember(key, { expires: Date.now() + REFUSED_TTL_MS, principal });
      },
      () => this.cache.delete(key),
    );
    return principal;
  }

  private remember(key: string, entry: Entry): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    while (this.cache.size > MAX_ENTRIES) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }

  private async ask(token: string): Promise<string | undefined> {
    let result: TokenReviewResult;
    // Counted before the first await, so the requests of one turn see each other's reviews.
    this.inFlight++;
    try {
      result = await this.review(token, this.audience);
    } catch (error) {
      // Not cached: the next request asks again.
      this.logger.error({ err: error }, 'TokenReview failed');
      throw error;
    } finally {
      this.inFlight--;
    }
    if (!result.authenticated || result.username === undefined) return undefined;
    // The review asked for our audience: an answer that names none comes from a reviewer that does not
    // check audiences, and says the token is the API server's own (TokenReviewStatus.audiences).
    if (result.audiences?.includes(this.audience) !== true) return undefined;
    // Only ServiceAccounts: a TokenReview also accepts other kinds of cluster credentials.
    if (!result.username.startsWith('system:serviceaccount:')) return undefined;
    return result.username;
  }

  get size(): number {
    return this.cache.size;
  }
}
