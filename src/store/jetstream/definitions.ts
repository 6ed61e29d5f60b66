import { KvWatchInclude } from '@nats-io/kv';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/transport-node';
import type { SubscriptionRecord } from '../types.js';
import { decodeToken, encodeToken } from './codec.js';
import type { StoreContext } from './support.js';

type Listener = (id: string, record: SubscriptionRecord | undefined) => void;

/** Subscription definitions and delivery cursors, each a KV bucket keyed by the encoded subscription id. */
export class JetStreamDefinitions {
  private readonly listeners = new Set<Listener>();
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  private watchRevision = 0;

  constructor(private readonly context: StoreContext) {}

  // ---- cursors ---------------------------------------------------------------------------------

  async getCursor(subscription: string): Promise<number | undefined> {
    const { cursors } = await this.context.use();
    const entry = await cursors.get(encodeToken(subscription));
    return entry === null || entry.operation !== 'PUT' ? undefined : Number(entry.string());
  }

  async commitCursor(subscription: string, next: number): Promise<void> {
    const { cursors } = await this.context.use();
    await cursors.put(encodeToken(subscription), String(next));
  }

  async commitCursors(list: ReadonlyArray<readonly [string, number]>): Promise<void> {
    const { cursors } = await this.context.use();
    await Promise.all(
      list.map(([subscription, next]) => cursors.put(encodeToken(subscription), String(next))),
    );
  }

  async deleteCursor(subscription: string): Promise<void> {
    const { cursors } = await this.context.use();
    await cursors.purge(encodeToken(subscription));
  }

  // ---- definitions -----------------------------------------------------------------------------

  async put(record: SubscriptionRecord): Promise<void> {
    const { subscriptions } = await this.context.use();
    await subscriptions.put(encodeToken(record.id), record.document);
  }

  /**
   * JetStream KV has no multi-key transaction: the cursors, then the definitions, are each issued
   * together (two round trips' wait, not two per subscription). A failure part-way may leave some.
   */
  async putMany(
    records: readonly SubscriptionRecord[],
    cursors: ReadonlyArray<readonly [string, number]> = [],
  ): Promise<void> {
    if (cursors.length > 0) await this.commitCursors(cursors);
    const { subscriptions } = await this.context.use();
    await Promise.all(records.map((record) => subscriptions.put(encodeToken(record.id), record.document)));
  }

  async delete(id: string): Promise<boolean> {
    const { subscriptions } = await this.context.use();
    const key = encodeToken(id);
    const entry = await subscriptions.get(key);
    if (entry === null || entry.operation !== 'PUT') return false;
    await subscriptions.delete(key);
    return true;
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
    const iterator = await bucket.watch(
      this.watchRevision > 0
        ? { resumeFromRevision: this.watchRevision + 1 }
        : { include: KvWatchInclude.UpdatesOnly },
    );
    this.watcher = iterator;
    void (async () => {
      try {
        for await (const entry of iterator) {
          this.watchRevision = entry.revision;
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

  stop(): void {
    this.watcher?.stop();
  }
}
