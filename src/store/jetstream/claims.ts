import { LeaseKeeper } from '../lease-keeper.js';
import { encodeToken } from './codec.js';
import type { StoreContext } from './support.js';
import { apiCode } from './support.js';

const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);

/**
 * A claim is the KV key of the subscription holding this process's owner id. `create` succeeds only
 * when nobody holds it (or the last holder stopped renewing and the bucket's TTL removed it); it is
 * renewed every third of the TTL with a compare-and-set `update` on the revision it holds.
 */
export class JetStreamClaims {
  private readonly leases: LeaseKeeper<number>;

  constructor(
    private readonly context: StoreContext,
    private readonly owner: string,
    private readonly ttlMs: number,
  ) {
    this.leases = new LeaseKeeper<number>(
      {
        acquire: (subscription) => this.acquire(subscription),
        renew: async (subscription, revision) => {
          const { claims } = await this.context.use();
          return claims.update(encodeToken(subscription), this.owner, revision, this.ttlMs / 3);
        },
        release: async (subscription, revision) => {
          // Someone else holds it already, or NATS is away: the TTL frees it.
          if (this.context.isClosed()) return;
          const { claims } = await this.context.use();
          await claims.delete(encodeToken(subscription), { previousSeq: revision });
        },
      },
      ttlMs,
      context.logger,
    );
  }

  private async acquire(subscription: string): Promise<number | undefined> {
    const { claims } = await this.context.use();
    const key = encodeToken(subscription);
    try {
      return await claims.create(key, this.owner);
    } catch (error) {
      if (!WRONG_LAST_SEQUENCE.has(apiCode(error) ?? 0)) throw error;
    }
    // Held: by another replica, or by this process before a reconnect.
    const entry = await claims.get(key).catch(() => null);
    if (entry === null || entry.operation !== 'PUT' || entry.string() !== this.owner) return undefined;
    try {
      return await claims.update(key, this.owner, entry.revision, this.ttlMs / 3);
    } catch {
      return undefined;
    }
  }

  /**
   * Whether the claim on one of `subscriptions` is this process's as the server holds it now — not as
   * the lease keeper last knew it: a process that stalled past its lease holds it there until it notices.
   */
  async holdsAny(subscriptions: readonly string[]): Promise<boolean> {
    const { claims } = await this.context.use();
    const entries = await Promise.all(subscriptions.map((id) => claims.get(encodeToken(id))));
    return entries.some(
      (entry) => entry !== null && entry.operation === 'PUT' && entry.string() === this.owner,
    );
  }

  claim(subscription: string, onLost: () => void): Promise<boolean> {
    return this.leases.claim(subscription, onLost);
  }

  holds(subscription: string): boolean {
    return this.leases.holds(subscription);
  }

  release(subscription: string): Promise<void> {
    return this.leases.release(subscription);
  }

  close(): Promise<void> {
    return this.leases.close();
  }
}
