import { setTimeout as sleep } from 'node:timers/promises';
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

/** How often a create refused by `assertHeld` is made, in all (see `retryRaced`). */
const RACE_ATTEMPTS = 4;
/** The longest pause before the n-th of them, times n (a random pause up to it). */
const RACE_PAUSE_MS = 100;

/**
 * `--max-subscriptions` and `--max-subscriptions-total` over the definitions a broker holds and the
 * creates under way. A create is checked, then waits (for its start position, for the store) before it
 * holds its definitions: counted by what is held alone, every create checked meanwhile passed the same
 * check (100 sent at once to a JetStream broker with `--max-subscriptions-total 5` made 34). So a
 * create is counted from its check on (`reserve`) until its definitions are held or it failed.
 *
 * Replicas sharing a store count what every one of them stored (`held`: what this one holds and what it
 * heard from the others), and check again once their create is stored (`assertHeld`), since a create
 * under way on another replica is not counted here.
 */
export class SubscriptionLimits {
  private reservedTotal = 0;
  private readonly reservedBy = new Map<string, number>();
  /** The refusals of `assertHeld`: a race with other creates, made again by `retryRaced`. */
  private readonly raced = new WeakSet<HeraldError>();

  constructor(
    /** The definitions this replica holds. */
    private readonly definitions: ReadonlyMap<string, SubscriptionDefinition>,
    /** Changes heard from the registry, not applied yet: the definition last heard, undefined when deleted. */
    private readonly heard: ReadonlyMap<string, SubscriptionDefinition | undefined>,
    private readonly options: SubscriptionLimitOptions,
  ) {}

  /**
   * The subscriptions stored as this replica knows them, all and `owner`'s: those held, each as last
   * heard where a change heard waits to be applied (which waits for a start position, for the changes
   * before it). Another replica's create counts from when it is heard, so once the registry's `sync` has
   * resolved every replica's creates stored before it count.
   */
  private held(owner: string | undefined): { total: number; owned: number } {
    let total = 0;
    let owned = 0;
    const count = (definition: SubscriptionDefinition | undefined) => {
      if (definition === undefined) return;
      total++;
      if (owner !== undefined && definition.owner === owner) owned++;
    };
    for (const [id, definition] of this.definitions) if (!this.heard.has(id)) count(definition);
    for (const definition of this.heard.values()) count(definition);
    return { total, owned };
  }

  /** Throws when `owner` may not create `count` more subscriptions (`--max-subscriptions`). */
  assertOwnerCapacity(owner: string | undefined, count: number): void {
    if (owner === undefined || (this.options.maxPerOwner ?? 0) === 0) return;
    this.assertOwned(owner, this.held(owner).owned + (this.reservedBy.get(owner) ?? 0), count);
  }

  private assertOwned(owner: string, owned: number, count: number): void {
    const max = this.options.maxPerOwner ?? 0;
    if (max === 0 || owned + count <= max) return;
    throw new HeraldError(
      'HERALD_SUBSCRIPTION_LIMIT',
      count > 0
        ? `principal '${owner}' has ${owned} of at most ${max} subscriptions; delete some first`
        : `principal '${owner}' would have ${owned} of at most ${max} subscriptions (some created at once meanwhile); delete some first`,
    );
  }

  private assertTotal(holds: number, count: number): void {
    const max = this.options.maxSubscriptions ?? Infinity;
    if (holds + count <= max) return;
    // A race is counted once it is given up (`retryRaced`).
    if (count > 0) this.options.onLimit?.('max-subscriptions-total');
    throw new HeraldError(
      'HERALD_TOO_MANY_SUBSCRIPTIONS',
      count > 0
        ? `the broker holds ${holds} subscriptions; ${count} more would exceed --max-subscriptions-total (${max})`
        : `the broker would hold ${holds} subscriptions (some created at once meanwhile), over --max-subscriptions-total (${max})`,
    );
  }

  /**
   * Checks both limits for `count` new subscriptions of `owner` and counts them from now on, in one step
   * (no other create is checked in between). Answers the release, to call once their definitions are
   * held, or the create failed; calls after the first do nothing.
   */
  reserve(owner: string | undefined, count: number): () => void {
    this.assertOwnerCapacity(owner, count);
    this.assertTotal(this.held(owner).total + this.reservedTotal, count);
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

  /**
   * Throws when what is held now, a create of `owner` stored and held among it, is over a limit: asked
   * once every replica's writes stored before it are heard. A create that passes it was within the limits
   * with everything stored before it counted, and of creates racing on several replicas the last to ask
   * sees all the others stored, so those that stay are never more than the limit (they may all be
   * refused, each seeing the others; this replica's creates being written count as held, to that end).
   */
  assertHeld(owner: string | undefined): void {
    const { total, owned } = this.held(owner);
    try {
      if (owner !== undefined) this.assertOwned(owner, owned, 0);
      this.assertTotal(total, 0);
    } catch (error) {
      if (error instanceof HeraldError) this.raced.add(error);
      throw error;
    }
  }

  /**
   * Runs `create` (a check, its writes, `assertHeld`) again when `assertHeld` refused it, after a random
   * pause: creates racing through several replicas near a limit each see the others and may all be
   * refused (10 at once through two replicas, limit 3, mostly left none), and made again at random
   * moments they mostly no longer overlap, so those within the limit stay. Still refused after
   * `RACE_ATTEMPTS`, or by the check before its writes (the limit is reached), it is answered so.
   */
  async retryRaced<T>(create: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await create();
      } catch (error) {
        if (!(error instanceof HeraldError) || !this.raced.has(error)) throw error;
        if (attempt >= RACE_ATTEMPTS) {
          if (error.code === 'HERALD_TOO_MANY_SUBSCRIPTIONS')
            this.options.onLimit?.('max-subscriptions-total');
          throw error;
        }
      }
      await sleep(Math.random() * RACE_PAUSE_MS * attempt);
    }
  }
}
