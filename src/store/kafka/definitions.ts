import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { HeraldError } from '../../errors/index.js';
import type { SubscriptionRecord } from '../types.js';
import { Claims } from './claims.js';
import { describeError } from './client.js';
import type { CompactedView } from './compacted-view.js';
import type { StoreLogger } from './follower.js';

export const SUBSCRIPTION = 'subscription\u0000';
export const CURSOR = 'cursor\u0000';
/** The definition leases' keys: `definition-lease␀<id>␀<operation>`, apart from the delivery claims'. */
const LEASE = 'definition-lease\u0000';

/** The lease ran out locally before the write: nothing was written; the operation starts again. */
class LeaseRanOut extends Error {}

/**
 * Writes of subscription definitions to the state topic, one operation per id at a time across every
 * replica. Kafka has no compare-and-set, so a change used to be a check, a write, and an undo when the
 * write turned out to have landed on another replica's delete or change: the undo could lose a third
 * write made meanwhile, a crash before it brought a deleted subscription back for good, and every replica
 * saw the write come and go (and could start delivering a deleted subscription for that moment).
 *
 * Now every write of a definition (create, change, delete) first takes a short lease on its id: the claims
 * mechanism (see `Claims`, decided by the log alone, so every replica judges alike) under a prefix of its
 * own, with one owner per operation. Holding it, the operation reads the state topic to its end, checks,
 * and writes; then drops the lease. A change therefore sees every earlier definition write of its id and
 * is never followed by a write it did not see: nothing is undone, and no replica ever sees a definition
 * that is not the outcome of one whole operation.
 *
 * @remarks A crashed holder is passed over once its lease record is a TTL old, so an operation waits at most
 * about a TTL for one; one that waits longer than three answers `HERALD_CONFLICT` (send it again). A holder
 * that stalled past its lease must not write: right before the write it checks, by its own clock from the
 * moment it sent its lease record, that a third of the TTL is left, else it starts again. Left open: a
 * write that then takes longer than that third to land (a produce held up in the network after the check)
 * may land after another operation's: it is logged as an error when it is seen to have landed after the
 * lease ran out on Kafka's clock.
 */
export class Definitions {
  private readonly leases: Claims;

  constructor(
    private readonly state: CompactedView,
    private readonly owner: string,
    private readonly ttlMs: number,
    private readonly logger: StoreLogger | undefined,
  ) {
    this.leases = new Claims(state, owner, ttlMs, logger, LEASE);
  }

  /**
   * Runs `task` holding the lease on every id of `ids`. `fence` throws unless the lease still has a third
   * of its TTL left by this process's clock, to be called right before a write; `task` passes on the
   * Kafka time of the lease record to `landed`, which says whether a record landed before it ran out.
   */
  private async exclusive<T>(
    ids: readonly string[],
    task: (fence: () => void, landed: (timestamp: number) => boolean) => Promise<T>,
  ): Promise<T> {
    const keys = [...new Set(ids)].sort();
    const operation = `${this.owner}.${randomUUID()}`;
    const giveUpAt = Date.now() + 3 * this.ttlMs;
    try {
      for (let attempt = 0; ; attempt++) {
        const sentAt = Date.now();
        const leaseTimes = await this.leases.take(keys, operation);
        if (leaseTimes !== undefined) {
          const fence = () => {
            if (Date.now() > sentAt + this.ttlMs - this.ttlMs / 3) throw new LeaseRanOut();
          };
          const landed = (timestamp: number) => leaseTimes.every((t) => timestamp < t + this.ttlMs);
          try {
            return await task(fence, landed);
          } catch (error) {
            if (!(error instanceof LeaseRanOut)) throw error;
          }
        }
        if (Date.now() > giveUpAt) {
          throw new HeraldError(
            'HERALD_CONFLICT',
            `subscription '${keys.join("', '")}' kept being changed by other replicas; send the request again`,
          );
        }
        // Within the TTL, so that this operation's chain goes on and keeps its place among the waiting.
        await delay(Math.min(25 * 2 ** attempt, this.ttlMs / 4));
      }
    } finally {
      // Kafka away: the lease records run out by themselves.
      await this.leases.drop(keys, operation).catch((error: unknown) => {
        this.logger?.warn({ err: describeError(error) }, 'dropping a subscription definition lease failed');
      });
    }
  }

  /** Writes `records` after `fence`; logs when one landed after the lease ran out on Kafka's clock. */
  private async write(
    records: ReadonlyArray<{ key: string; value: Buffer | undefined }>,
    fence: () => void,
    landed: (timestamp: number) => boolean,
  ): Promise<number[]> {
    fence();
    const offsets = await this.state.write(records);
    const last = records[records.length - 1];
    const record = last === undefined ? undefined : this.state.get(last.key);
    if (record !== undefined && record.offset === offsets[offsets.length - 1] && !landed(record.timestamp)) {
      this.logger?.error(
        { key: last?.key },
        'a subscription definition landed after its lease ran out: a change made meanwhile may be lost',
      );
    }
    return offsets;
  }

  /**
   * Stores definitions and the initial cursors of new ones in one record batch (all or none; the cursors
   * first, never after their definition), holding the lease on every id.
   */
  async put(
    records: readonly SubscriptionRecord[],
    cursors: ReadonlyArray<readonly [subscription: string, next: number]>,
  ): Promise<void> {
    const batch = [
      ...cursors.map(([subscription, next]) => ({
        key: `${CURSOR}${subscription}`,
        value: Buffer.from(String(next)) as Buffer | undefined,
      })),
      ...records.map((record) => ({
        key: `${SUBSCRIPTION}${record.id}`,
        value: Buffer.from(record.document),
      })),
    ];
    if (records.length === 0) {
      await this.state.write(batch);
      return;
    }
    await this.exclusive(
      records.map((r) => r.id),
      async (fence, landed) => {
        await this.write(batch, fence, landed);
      },
    );
  }

  /** See `EventStore.replaceSubscription`: the check and the write hold the id's lease. */
  replace(record: SubscriptionRecord, stillThis: (stored: string) => boolean): Promise<boolean> {
    const key = `${SUBSCRIPTION}${record.id}`;
    return this.exclusive([record.id], async (fence, landed) => {
      // Every definition write before the lease, acknowledged anywhere, is read.
      await this.state.sync();
      const stored = this.state.get(key)?.value;
      if (stored === undefined || stored === null || !stillThis(stored.toString('utf8'))) return false;
      await this.write([{ key, value: Buffer.from(record.document) }], fence, landed);
      return true;
    });
  }

  delete(id: string): Promise<boolean> {
    const key = `${SUBSCRIPTION}${id}`;
    return this.exclusive([id], async (fence, landed) => {
      await this.state.sync();
      if (this.state.get(key) === undefined) return false;
      await this.write([{ key, value: undefined }], fence, landed);
      return true;
    });
  }
}
