import type { ClientSettings, PartitionReader, SerialProducer } from './client.js';
import type { IncomingRecord, OutgoingRecord } from './codec.js';
import type { StoreLogger } from './follower.js';
import { TopicFollower } from './follower.js';

export type ViewListener = (key: string, record: IncomingRecord | undefined) => void;

export interface CompactedViewOptions {
  readonly settings: ClientSettings;
  readonly topic: string;
  readonly producer: SerialProducer;
  /** For the topic's end offset (a short request, never behind a long poll). */
  readonly reader: PartitionReader;
  readonly followWaitMs: number;
  readonly logger?: StoreLogger | undefined;
}

/**
 * The latest record per key of a compacted single-partition topic, in memory, as every process of the
 * broker sees it: the follower reads the topic from its start, then keeps up. A write resolves once the
 * follower has read it back (read-your-writes); `sync()` makes a read see every write acknowledged
 * anywhere before it (one ListOffsets request, then the follower catches up to that offset).
 */
/** A record of a tracked key (see `CompactedView.track`): a null value deletes the key. */
export interface TrackedRecord {
  readonly offset: number;
  readonly value: Buffer | null;
}

export class CompactedView {
  private readonly entries = new Map<string, IncomingRecord>();
  private readonly follower: TopicFollower;
  private readonly listeners = new Set<ViewListener>();
  /** Per key: the trackers (see `track`) that note the records of that key read from now on. */
  private readonly tracked = new Map<string, Set<TrackedRecord[]>>();
  private loaded = false;

  constructor(private readonly options: CompactedViewOptions) {
    this.follower = new TopicFollower({
      settings: options.settings,
      topic: options.topic,
      maxWaitMs: options.followWaitMs,
      logger: options.logger,
      onRecords: (records) => this.apply(records),
    });
  }

  async start(): Promise<void> {
    const end = await this.options.reader.offset(this.options.topic, -1);
    this.follower.start(0);
    // The initial load, before the store is ready: as long as reading the topic takes.
    await this.follower.catchUp(end, Infinity);
    this.loaded = true;
  }

  private apply(records: readonly IncomingRecord[]): void {
    for (const record of records) {
      if (record.key === null) continue;
      const key = record.key.toString('utf8');
      // Re-insert so that iteration follows the offset of each key's latest record.
      this.entries.delete(key);
      if (record.value !== null) this.entries.set(key, record);
      for (const seen of this.tracked.get(key) ?? [])
        seen.push({ offset: record.offset, value: record.value });
      if (!this.loaded) continue;
      for (const listener of this.listeners) {
        try {
          listener(key, record.value === null ? undefined : record);
        } catch (error) {
          this.options.logger?.error({ err: error, key }, 'a view listener failed');
        }
      }
    }
  }

  /** Changes read after the initial load (own writes included), in log order. */
  listen(listener: ViewListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async sync(): Promise<void> {
    await this.follower.catchUp(await this.options.reader.offset(this.options.topic, -1));
  }

  /**
   * Notes, in log order, every record of `key` the view reads from this moment on (its offset, and
   * whether it deletes the key) until `stop`: what happened to the key between a read and a write.
   */
  track(key: string): { readonly seen: readonly TrackedRecord[]; stop(): void } {
    const seen: TrackedRecord[] = [];
    const trackers = this.tracked.get(key) ?? new Set();
    trackers.add(seen);
    this.tracked.set(key, trackers);
    return {
      seen,
      stop: () => {
        trackers.delete(seen);
        if (trackers.size === 0 && this.tracked.get(key) === trackers) this.tracked.delete(key);
      },
    };
  }

  get(key: string): IncomingRecord | undefined {
    return this.entries.get(key);
  }

  /** Entries whose key starts with `prefix`, in the order of their latest write. */
  *withPrefix(prefix: string): Generator<[string, IncomingRecord]> {
    for (const entry of this.entries) if (entry[0].startsWith(prefix)) yield entry;
  }

  /** Writes records (a null value deletes the key); resolves with their offsets once the view has them. */
  async write(
    records: ReadonlyArray<{ key: string; value: Buffer | undefined; headers?: Map<Buffer, Buffer> }>,
  ) {
    const offsets = await this.options.producer.send(
      records.map(({ key, value, headers }) => {
        const record: OutgoingRecord = { key: Buffer.from(key), value, headers: headers ?? new Map() };
        return { topic: this.options.topic, record };
      }),
    );
    await this.follower.reached(Math.max(...offsets));
    return offsets;
  }

  stop(): Promise<void> {
    return this.follower.stop();
  }
}
