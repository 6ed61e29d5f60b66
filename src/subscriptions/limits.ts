import { HeraldError } from '../errors/index.js';
import type { SubscriptionDefinition } from './types.js';

export interface SubscriptionLimitOptions {
  /** Most subscriptions one owner may have (0 = unlimited); subscriptions without an owner are not counted. */
  readonly maxPerOwner?: number;
  /** Most subscriptions this broker holds (`--max-subscriptions-total`). */
  readonly maxSubscriptions?: number;
  /** Told when a limit refuses a request (the broker counts it in a metric). */
  readonly onLimit?: (limit: string) => void;
}

/**
 * `--max-subscriptions` and `--max-subscriptions-total` over the definitions a broker holds and the
 * creates under way. A create is checked, then waits (for its start position, for the store) before it
 * holds its definitions: counted by what is held alone, every create checked meanwhile passed the same
 * check (100 sent at once to a JetStream broker with `--max-subscriptions-total 5` made 34). So a
 * create is counted from its check on (`reserve`) until its definitions are held or it failed.
 */
export class SubscriptionLimits {
  private reservedTotal = 0;
  private readonly reservedBy = new Map<string, number>();

  constructor(
    private readonly held: ReadonlyMap<string, SubscriptionDefinition>,
    private readonly options: SubscriptionLimitOptions,
  ) {}

  /** Throws when `owner` may not create `count` more subscriptions (`--max-subscriptions`). */
  assertOwnerCapacity(owner: string | undefined, count: number): void {
    const max = this.options.maxPerOwner ?? 0;
    if (owner === undefined || max === 0) return;
    let owned = this.reservedBy.get(owner) ?? 0;
    for (const definition of this.held.values()) if (definition.owner === owner) owned++;
    if (owned + count > max) {
      throw new HeraldError(
        'HERALD_SUBSCRIPTION_LIMIT',
        `principal '${owner}' has ${owned} of at most ${max} subscriptions; delete some first`,
      );
    }
  }

  /**
   * Checks both limits for `count` new subscriptions of `owner` and counts them from now on, in one step
   * (no other create is checked in between). Answers the release, to call once their definitions are
   * held, or the create failed; calls after the first do nothing.
   */
  reserve(owner: string | undefined, count: number): () => void {
    this.assertOwnerCapacity(owner, count);
    const max = this.options.maxSubscriptions ?? Infinity;
    const holds = this.held.size + this.reservedTotal;
    if (holds + count > max) {
      this.options.onLimit?.('max-subscriptions-total');
      throw new HeraldError(
        'HERALD_TOO_MANY_SUBSCRIPTIONS',
        `the broker holds ${holds} subscriptions; ${count} more would exceed --max-subscriptions-total (${max})`,
      );
    }
    this.reservedTotal += count;
    if (owner !== undefined) this.reservedBy.set(owner, (this.reservedBy.get(owner) ?? 0) + count);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reservedTotal -= count;
      if (owner === undefined) return;
      const left = (this.reservedBy.get(owner) ?? count) - count;
      if (left > 0) this.reservedBy.set(owner, left);
      else this.reservedBy.delete(owner);
    };
  }
}
