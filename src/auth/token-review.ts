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

interface Entry {
  readonly expires: number;
  readonly principal: Promise<string | undefined>;
}

/**
 * Kubernetes ServiceAccount tokens checked with a TokenReview, results cached briefly in a bounded cache
 * keyed by the token's digest (tokens themselves are not kept). Concurrent requests with one token share
 * one review.
 */
export class ServiceAccountTokens {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly review: TokenReviewer,
    private readonly audience: string,
    private readonly logger: Logger,
  ) {}

  verify(token: string): Promise<string | undefined> {
    const key = createHash('sha256').update(token).digest('base64');
    const now = Date.now();
    const cached = this.cache.get(key);
    if (cached !== undefined && cached.expires > now) return cached.principal;
    this.cache.delete(key);
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
    try {
      result = await this.review(token, this.audience);
    } catch (error) {
      // Not cached: the next request asks again.
      this.logger.error({ err: error }, 'TokenReview failed');
      throw error;
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
