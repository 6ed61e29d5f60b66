import { KvWatchInclude } from '@nats-io/kv';
import type { KV, KvEntry, KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/transport-node';
import { claimIdsOfCursor } from '../lease-keeper.js';
import type { SubscriptionRecord } from '../types.js';
import { decodeToken, encodeToken } from './codec.js';
import type { StoreContext } from './support.js';
import { apiCode, unavailable } from './support.js';

/** JetStream's answers to a write whose expected last revision of the key is not the current one. */
const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);

type Listener = (id: string, record: SubscriptionRecord | undefined) => void;

/** How long `sync` waits for the watch to reach the bucket's last revision (a watch being resumed). */
const SYNC_TIMEOUT_MS = 10_000;

/** A definition key this process writes: its writes in flight, the last revision it wrote, what waits. */
interface OwnWrites {
  writes: number;
  revision: number;
  /** Watch entries of the key heard while a write was in flight, reported once it has its revision. */
  readonly held: KvWatchEntry[];
}

/** Subscription definitions and delivery cursors, each a KV bucket keyed by the encoded subscription id. */
export class JetStreamDefinitions {
  private readonly listeners = new Set<Listener>();
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  /**
   * The bucket's revision the watch has reported through: from the first `follow` on, every entry after
   * it is delivered to the watch (what came before is what `list` reads).
   */
  private watchRevision = 0;
  private positioned = false;
  /** Callers of `sync`, each waiting for the watch to report the revision it read last. */
  private readonly syncs = new Set<{ readonly revision: number; readonly done: () => void }>();
  /**
   * The keys this process writes, until the watch has reported their last write. The watch reports a
   * change some time after it was made, this process's own included: an entry older than a write this
   * process has made since is not reported, for it would undo that write here — a change heard after a
   * delete would bring the subscription back (and start delivering it), a delete heard after the
   * subscription was created again under its id would remove the new one and forget its cursor. The
   * later write is reported after it, as when a watch that lags on the server skips what a later
   * write replaced (the bucket keeps one revision per key). Changes of other processes made after this
   * one's write are reported as ever, a delete included.
   */
  private readonly own = new Map<string, OwnWrites>();
  /**
   * Per cursor key: the revision this process last wrote or read. A holder's commit is a compare-and-set
   * on it (see `commitCursors`).
   */
  private readonly cursorRevisions = new Map<string, number>();

  constructor(
    private readonly context: StoreContext,
    /** Whether one of the subscriptions' claims is this process's, as the server holds it now. */
    private readonly holds: (subscriptions: readonly string[]) => Promise<boolean>,
  ) {}

  // ---- cursors ---------------------------------------------------------------------------------

  async getCursor(subscription: string): Promise<number | undefined> {
    const { cursors } = await this.context.use();
    const key = encodeToken(subscription);
    const entry = await cursors.get(key);
    this.seen(key, entry);
    return entry === null || entry.operation !== 'PUT' ? undefined : Number(entry.string());
  }

  async commitCursor(subscription: string, next: number): Promise<void> {
    const { cursors } = await this.context.use();
    const key = encodeToken(subscription);
    this.cursorRevisions.set(key, await cursors.put(key, String(next)));
  }

  /**
   * The holder's commits (see `EventStore.commitCursors`): each a compare-and-set on the cursor's last
   * revision this process knows, one write as a plain put was (so a commit sent before a delete of the
   * cursor on the same connection still lands before it). When another process wrote the cursor since —
   * a seek, or a replica that took the claim over — it is read and written only while the claim on its
   * subscription is this process's on the server. The cursor is read before the claim: a replica that took
   * the claim over after that read has written the cursor since (its worker reads it, and commits, only
   * once it holds the claim), so the update fails and is judged again. Without it a replica that stalled
   * past its claim (a long pause, SIGSTOP) and woke to commit before it noticed the loss wrote its old
   * position over the new holder's, and once that one died the next took over from there and delivered
   * again what had been delivered and committed.
   */
  async commitCursors(list: ReadonlyArray<readonly [string, number]>): Promise<void> {
    const { cursors } = await this.context.use();
    await Promise.all(list.map(([subscription, next]) => this.commitHeld(cursors, subscription, next)));
  }

  private async commitHeld(cursors: KV, subscription: string, next: number): Promise<void> {
    const key = encodeToken(subscription);
    const value = String(next);
    let revision = this.cursorRevisions.get(key);
    // Whether the cursor was ever stored as far as this process knows: one deleted since is left deleted.
    let known = revision !== undefined;
    for (;;) {
      try {
        if (revision !== undefined) {
          this.cursorRevisions.set(key, await cursors.update(key, value, revision));
          return;
        }
        const entry = await cursors.get(key);
        this.seen(key, entry);
        if (entry === null || entry.operation !== 'PUT') {
          // None yet (a subscription being created, before anyone claims it): nothing to move back.
          if (!known) this.cursorRevisions.set(key, await cursors.create(key, value));
          return;
        }
        known = true;
        if (!(await this.holds(claimIdsOfCursor(subscription)))) {
          this.context.logger?.warn(
            { subscription, next },
            'dropped a cursor commit: this process no longer holds the claim on the subscription',
          );
          return;
        }
        revision = entry.revision;
      } catch (error) {
        // Written by another process since: read, and judged by the claim.
        if (!WRONG_LAST_SEQUENCE.has(apiCode(error) ?? 0)) throw error;
        revision = undefined;
      }
    }
  }

  async deleteCursor(subscription: string): Promise<void> {
    const { cursors } = await this.context.use();
    const key = encodeToken(subscription);
    this.cursorRevisions.delete(key);
    await cursors.purge(key);
  }

  /** Notes the revision of a cursor read (forgets a deleted one). */
  private seen(key: string, entry: KvEntry | null): void {
    if (entry === null || entry.operation !== 'PUT') this.cursorRevisions.delete(key);
    else this.cursorRevisions.set(key, entry.revision);
  }

  // ---- definitions -----------------------------------------------------------------------------

  async put(record: SubscriptionRecord): Promise<void> {
    const key = this.writing(record.id);
    let revision: number | undefined;
    try {
      const { subscriptions } = await this.context.use();
      revision = await subscriptions.put(key, record.document);
    } finally {
      this.written(key, revision);
    }
  }

  /**
   * A compare-and-set on the revision read: written only over a stored definition, so a change never
   * brings back one another process deleted meanwhile (a delete between the read and the write makes
   * the update fail, and the next read finds the delete marker). A write of another process in between
   * is read again and replaced, as a `put` after it would, when `stillThis` accepts it.
   */
  async replace(record: SubscriptionRecord, stillThis?: (stored: string) => boolean): Promise<boolean> {
    const key = this.writing(record.id);
    let revision: number | undefined;
    try {
      const { subscriptions } = await this.context.use();
      for (;;) {
        const entry = await subscriptions.get(key);
        if (entry === null || entry.operation !== 'PUT') return false;
        if (stillThis !== undefined && !stillThis(entry.string())) return false;
        try {
          revision = await subscriptions.update(key, record.document, entry.revision);
          return true;
        } catch (error) {
          if (!WRONG_LAST_SEQUENCE.has(apiCode(error) ?? 0)) throw error;
        }
      }
    } finally {
      this.written(key, revision);
    }
  }

  /**
   * JetStream KV has no multi-key transaction: the cursors, then the definitions, are each issued
   * together (two round trips' wait, not two per subscription). A failure part-way may leave some.
   */
  async putMany(
    records: readonly SubscriptionRecord[],
    cursors: ReadonlyArray<readonly [string, number]> = [],
  ): Promise<void> {
    // From the call on: the caller holds the definitions as written already.
    const keys = records.map((record) => this.writing(record.id));
    const revisions = new Map<string, number>();
    try {
      // The initial cursors of new incarnations, written as they are: nobody claims them yet.
      if (cursors.length > 0) {
        await Promise.all(cursors.map(([id, next]) => this.commitCursor(id, next)));
      }
      const { subscriptions } = await this.context.use();
      // Every write settled before a failure is reported: the caller takes back what a failed batch
      // stored, and a write still in flight then would land after that and stay.
      const settled = await Promise.allSettled(
        records.map(async (record, i) => {
          const key = keys[i] as string;
          revisions.set(key, await subscriptions.put(key, record.document));
        }),
      );
      const failed = settled.find((result) => result.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    } finally {
      for (const key of keys) this.written(key, revisions.get(key));
    }
  }

  async delete(id: string): Promise<boolean> {
    const key = this.writing(id);
    let revision: number | undefined;
    try {
      const { subscriptions } = await this.context.use();
      const entry = await subscriptions.get(key);
      if (entry === null || entry.operation !== 'PUT') return false;
      await subscriptions.delete(key);
      // A delete answers no revision: the delete marker read back has it (or a later write's, which
      // supersedes the same entries).
      revision = (await subscriptions.get(key).catch(() => null))?.revision;
      return true;
    } finally {
      this.written(key, revision);
    }
  }

  /** Marks a write of `id`'s definition as begun; answers its key. */
  private writing(id: string): string {
    const key = encodeToken(id);
    const own = this.own.get(key) ?? { writes: 0, revision: 0, held: [] };
    own.writes++;
    this.own.set(key, own);
    return key;
  }

  /** A write of `key` ended, at `revision` when it was stored; what the watch heard meanwhile is reported. */
  private written(key: string, revision: number | undefined): void {
    const own = this.own.get(key);
    if (own === undefined) return;
    own.writes--;
    if (revision !== undefined) own.revision = Math.max(own.revision, revision);
    if (own.writes > 0) return;
    if (own.revision === 0 && own.held.length === 0) this.own.delete(key);
    for (const entry of own.held.splice(0)) this.report(entry);
  }

  /** Tells the listeners of a change the watch heard, unless this process has written the key since. */
  private report(entry: KvWatchEntry): void {
    const own = this.own.get(entry.key);
    if (own !== undefined) {
      if (own.writes > 0) {
        own.held.push(entry);
        return;
      }
      if (entry.revision < own.revision) return;
      // The watch has reached this process's last write of the key: nothing older can follow.
      this.own.delete(entry.key);
    }
    const id = decodeToken(entry.key);
    const record = entry.operation === 'PUT' ? { id, document: entry.string() } : undefined;
    for (const listener of this.listeners) {
      try {
        listener(id, record);
      } catch (error) {
        this.context.logger?.error({ err: error, subscription: id }, 'a subscription watcher failed');
      }
    }
  }

  async list(): Promise<SubscriptionRecord[]> {
    const { subscriptions } = await this.context.use();
    const keys: string[] = [];
    for await (const key of await subscriptions.keys()) keys.push(key);
    const records = await Promise.all(
      keys.map(async (key) => {
        const entry = await subscriptions.get(key);
        return entry === null || entry.operation !== 'PUT'
          ? undefined
          : { id: decodeToken(key), document: entry.string() };
      }),
    );
    return records
      .filter((r): r is SubscriptionRecord => r !== undefined)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  watch(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** One KV watch (updates only) for all listeners; resumed after the last revision if it ends. */
  async follow(bucket: KV): Promise<void> {
    if (this.watcher !== undefined || this.context.isClosed()) return;
    // Updates only, as from the bucket's last revision read here: a position `sync` can compare with
    // (a watch of updates only starts wherever the server is when it creates the consumer, unknown here).
    if (!this.positioned) {
      this.watchRevision = (await bucket.status()).streamInfo.state.last_seq;
      this.positioned = true;
    }
    const iterator = await bucket.watch({
      include: KvWatchInclude.UpdatesOnly,
      resumeFromRevision: this.watchRevision + 1,
    });
    this.watcher = iterator;
    void (async () => {
      try {
        for await (const entry of iterator) {
          this.watchRevision = entry.revision;
          this.report(entry);
          for (const waiter of this.syncs) if (waiter.revision <= entry.revision) waiter.done();
        }
      } catch (error) {
        this.context.logger?.warn({ err: error }, 'the subscription watch ended; resuming');
      }
      this.watcher = undefined;
      while (!this.context.isClosed() && this.watcher === undefined) {
        await this.context.pause(1_000);
        await this.follow(bucket).catch(() => undefined);
      }
    })();
  }

  /**
   * Resolves once the watch has reported every entry up to the bucket's last revision now (see
   * `EventStore.syncSubscriptions`): one request for the bucket's state, then as long as the watch lags.
   * The last revision is always delivered (or one after it): the bucket keeps each key's newest entry.
   */
  async sync(): Promise<void> {
    const { subscriptions } = await this.context.use();
    const revision = (await subscriptions.status()).streamInfo.state.last_seq;
    if (this.watchRevision >= revision) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.syncs.delete(waiter);
        reject(unavailable('the subscription watch did not catch up with the store'));
      }, SYNC_TIMEOUT_MS);
      const waiter = {
        revision,
        done: () => {
          clearTimeout(timer);
          this.syncs.delete(waiter);
          resolve();
        },
      };
      this.syncs.add(waiter);
    });
  }

  stop(): void {
    this.watcher?.stop();
  }
}
