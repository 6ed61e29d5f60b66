import { LeaseKeeper } from '../lease-keeper.js';
import { describeError } from './client.js';
import type { IncomingRecord } from './codec.js';
import type { CompactedView } from './compacted-view.js';
import type { StoreLogger } from './follower.js';

/** A lease record's value. The record's own log-append time says when it was written. */
interface LeaseValue {
  /** Log-append time and offset of the first record of the writer's unbroken chain of records. */
  readonly since?: number;
  readonly sinceOffset?: number;
  /** Log-append time of the writer's previous record for this subscription. */
  readonly previous?: number;
}

interface Chain {
  readonly owner: string;
  readonly since: number;
  readonly sinceOffset: number;
  readonly until: number;
  readonly record: IncomingRecord;
}

const PREFIX = 'lease\u0000';

/**
 * Claims as leases written to the compacted state topic, decided by the log alone (Kafka has no
 * compare-and-set). Each process writes its own key per subscription, so compaction keeps exactly what
 * the rule needs: every writer's latest record. A writer's records form a chain while each follows the
 * previous by less than the TTL (log-append times, the partition leader's clock, so every reader judges
 * alike). At a time T, the holder is, among the chains alive at T (started at or before T, last record
 * younger than the TTL), the one that started first (ties: the lower offset). A process writes a record
 * and reads the topic up to it, then judges at its record's time: every process that judges the same
 * records reaches the same answer, so at most one holds a subscription at a time. The holder renews every
 * third of the TTL; a process that stops (or is cut off) is passed over once its last record is a TTL old.
 */
export class Claims {
  private readonly leases: LeaseKeeper<true>;

  constructor(
    private readonly view: CompactedView,
    private readonly owner: string,
    private readonly ttlMs: number,
    logger: StoreLogger | undefined,
    /** Where the keys of these leases start: another set of leases (definitions) needs its own. */
    private readonly prefix = PREFIX,
  ) {
    // A lease is this process's own record; renewing writes the next one and judges again.
    this.leases = new LeaseKeeper<true>(
      {
        acquire: async (subscription) => ((await this.writeLease(subscription)) ? true : undefined),
        renew: async (subscription) => {
          if (!(await this.writeLease(subscription))) throw new Error('another replica holds the claim');
          return true;
        },
        release: async (subscription) => {
          // Kafka away: the lease runs out by itself.
          await this.view.write([{ key: this.keyOf(subscription, this.owner), value: undefined }]);
        },
      },
      ttlMs,
      logger,
      describeError,
    );
  }

  private keyOf(subscription: string, owner: string): string {
    return `${this.prefix}${subscription}\u0000${owner}`;
  }

  private chainOf(owner: string, record: IncomingRecord): Chain | undefined {
    let value: LeaseValue;
    try {
      value = JSON.parse(record.value?.toString('utf8') ?? '') as LeaseValue;
    } catch {
      return undefined;
    }
    const continues =
      value.since !== undefined &&
      value.sinceOffset !== undefined &&
      value.previous !== undefined &&
      record.timestamp - value.previous < this.ttlMs;
    return {
      owner,
      since: continues ? (value.since as number) : record.timestamp,
      sinceOffset: continues ? (value.sinceOffset as number) : record.offset,
      until: record.timestamp + this.ttlMs,
      record,
    };
  }

  private previous(record: IncomingRecord): number {
    try {
      return (JSON.parse(record.value?.toString('utf8') ?? '') as LeaseValue).previous ?? -Infinity;
    } catch {
      return -Infinity;
    }
  }

  /** The owner holding `subscription` at time `at`, judged from records up to offset `upTo`. */
  private holderAt(subscription: string, at: number, upTo: number): string | undefined {
    const prefix = `${this.prefix}${subscription}\u0000`;
    let best: Chain | undefined;
    for (const [key, record] of this.view.withPrefix(prefix)) {
      const chain = this.chainOf(key.slice(prefix.length), record);
      if (
        chain !== undefined &&
        record.offset > upTo &&
        chain.since > at &&
        this.previous(record) > at - this.ttlMs
      ) {
        // Written after the record being judged, and its chain broke: the chain it ended may have
        // been alive at `at`, and the view no longer shows where it started. Judge "not known".
        return undefined;
      }
      if (chain === undefined || chain.sinceOffset > upTo || chain.since > at || chain.until <= at) continue;
      if (
        best === undefined ||
        chain.since < best.since ||
        (chain.since === best.since && chain.sinceOffset < best.sinceOffset)
      ) {
        best = chain;
      }
    }
    return best?.owner;
  }

  /** The next lease record of `owner` for `subscription`: it continues the owner's chain while alive. */
  private nextRecord(subscription: string, owner: string): { key: string; value: Buffer } {
    const key = this.keyOf(subscription, owner);
    const mine = this.view.get(key);
    const chain = mine === undefined ? undefined : this.chainOf(owner, mine);
    const value: LeaseValue =
      chain === undefined
        ? {}
        : { since: chain.since, sinceOffset: chain.sinceOffset, previous: chain.record.timestamp };
    return { key, value: Buffer.from(JSON.stringify(value)) };
  }

  /** Whether `owner` holds `subscription` at the time of its record written at `offset`. */
  private won(subscription: string, owner: string, offset: number | undefined): boolean {
    const written = this.view.get(this.keyOf(subscription, owner));
    if (written === undefined || offset === undefined || written.offset !== offset) return false;
    return this.holderAt(subscription, written.timestamp, offset) === owner;
  }

  /** Writes this process's next lease record and says whether it holds the subscription at its time. */
  private async writeLease(subscription: string): Promise<boolean> {
    const [offset] = await this.view.write([this.nextRecord(subscription, this.owner)]);
    return this.won(subscription, this.owner, offset);
  }

  /**
   * Writes lease records of `owner` (one operation, not a process: two operations of one process exclude
   * each other too) for all of `subscriptions` in one batch. Holding every one at the records' time, it
   * answers the records' times (Kafka's clock); else undefined, and the records stay: written again within
   * the TTL they continue their chains, so a waiting owner keeps its place before later ones — and since
   * each owner's records go in one batch, every set of keys ranks the owners alike and two owners never
   * wait on each other, each holding a part. `drop` ends them.
   */
  async take(subscriptions: readonly string[], owner: string): Promise<number[] | undefined> {
    const offsets = await this.view.write(subscriptions.map((s) => this.nextRecord(s, owner)));
    if (!subscriptions.every((s, i) => this.won(s, owner, offsets[i]))) return undefined;
    return subscriptions.map((s) => this.view.get(this.keyOf(s, owner))?.timestamp ?? -Infinity);
  }

  /** Deletes the lease records `take` wrote, so the next owner may hold the subscriptions at once. */
  async drop(subscriptions: readonly string[], owner: string): Promise<void> {
    await this.view.write(subscriptions.map((s) => ({ key: this.keyOf(s, owner), value: undefined })));
  }

  /**
   * Whether this process held the claim on one of `subscriptions` at time `at`, judged from the records up
   * to offset `upTo` — as every process judges it, not as this one's lease keeper last knew it.
   */
  heldAt(subscriptions: readonly string[], at: number, upTo: number): boolean {
    return subscriptions.some((id) => this.holderAt(id, at, upTo) === this.owner);
  }

  claim(subscription: string, onLost: () => void): Promise<boolean> {
    return this.leases.claim(subscription, onLost);
  }

  holds(subscription: string): boolean {
    return this.leases.holds(subscription);
  }

  /** Stops renewing and deletes this process's lease record, so another process may claim at once. */
  release(subscription: string): Promise<void> {
    return this.leases.release(subscription);
  }

  close(): Promise<void> {
    return this.leases.close();
  }
}
