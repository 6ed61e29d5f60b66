import { setTimeout as delay } from 'node:timers/promises';
import type { ClientSettings } from './client.js';
import { PartitionReader, describeError } from './client.js';
import type { IncomingRecord } from './codec.js';

/** The part of a pino logger the store uses. */
export interface StoreLogger {
  info(object: Record<string, unknown>, message: string): void;
  warn(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

export interface FollowerOptions {
  readonly settings: ClientSettings;
  readonly topic: string;
  /** Called in offset order with every record the follower reads. */
  readonly onRecords: (records: readonly IncomingRecord[]) => void;
  /** Called with the partition's high watermark and log start after every fetch. */
  readonly onOffsets?: (highWatermark: number, logStartOffset: number) => void;
  /** How long one fetch waits on the server for new records (Kafka's long poll). */
  readonly maxWaitMs: number;
  readonly logger?: StoreLogger | undefined;
}

interface Waiter {
  readonly offset: number;
  readonly resolve: () => void;
}

/**
 * Reads a single-partition topic from its start to its end and then keeps up with it, one long-polling
 * Fetch at a time on a connection of its own. This is how every process of a broker sees what the
 * others wrote: events (for waiting readers and the dedupe window), and the compacted topics that hold
 * cursors, definitions, claims and dead letters (as in-memory views).
 */
export class TopicFollower {
  private readonly reader: PartitionReader;
  private readonly waiters = new Set<Waiter>();
  private stopped = false;
  private loop: Promise<void> | undefined;
  /** The next offset to read: everything below it has been handed to `onRecords`. */
  position = 0;
  /** False after a fetch failed, until one succeeds again. */
  healthy = true;
  /** The end of the partition as last seen. */
  highWatermark = 0;
  /** Why the last fetch failed, for the error of a caller that gave up waiting. */
  private lastFailure: string | undefined;

  constructor(private readonly options: FollowerOptions) {
    this.reader = new PartitionReader(options.settings, `follow-${options.topic}`);
  }

  start(from: number): void {
    this.position = from;
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        const page = await this.reader.fetch(this.options.topic, this.position, this.options.maxWaitMs);
        if (this.stopped) break;
        failures = 0;
        this.healthy = true;
        this.lastFailure = undefined;
        if (page.records.length > 0) this.options.onRecords(page.records);
        // An offset below the log start was moved up to it: retention removed what lay between.
        this.position = Math.max(this.position, page.next, page.logStartOffset);
        this.highWatermark = Math.max(this.highWatermark, page.highWatermark);
        this.options.onOffsets?.(page.highWatermark, page.logStartOffset);
        this.notify();
      } catch (error) {
        if (this.stopped) break;
        this.healthy = false;
        this.lastFailure = describeError(error);
        if (failures++ % 20 === 0) {
          this.options.logger?.warn(
            { topic: this.options.topic, err: describeError(error) },
            'reading a Kafka topic failed; retrying',
          );
        }
        await delay(Math.min(100 * 2 ** Math.min(failures, 5), 2_000));
      }
    }
  }

  private notify(): void {
    for (const waiter of this.waiters) {
      if (this.position > waiter.offset) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /**
   * How long a caller waits for the follower to read an offset Kafka has already acknowledged: as long as
   * one of its fetches may take (the long poll plus the reader's bound of twice the request timeout). A
   * follower that Kafka serves reads such an offset with its next fetch; one that has not by then is not
   * being served (its fetches fail, hang or come back empty), and a request must not wait on it for as
   * long as that lasts.
   */
  get patienceMs(): number {
    return this.options.maxWaitMs + 2 * this.options.settings.requestTimeoutMs;
  }

  /**
   * Resolves once every record up to and including `offset` has been handed over; rejects when that has
   * not happened within `withinMs` (Infinity: wait as long as it takes, for the initial load only).
   */
  reached(offset: number, withinMs = this.patienceMs): Promise<void> {
    if (this.position > offset || this.stopped) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        offset,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      if (Number.isFinite(withinMs)) {
        timer = setTimeout(() => {
          this.waiters.delete(waiter);
          const why = this.lastFailure === undefined ? '' : ` (the last fetch failed: ${this.lastFailure})`;
          reject(
            new Error(
              `reading ${this.options.topic} up to offset ${offset} took longer than ${withinMs} ms; ` +
                `read up to ${this.position - 1}${why}`,
            ),
          );
        }, withinMs);
      }
      this.waiters.add(waiter);
    });
  }

  /** Resolves once the follower has read everything below `end` (a high watermark read before). */
  async catchUp(end: number, withinMs = this.patienceMs): Promise<void> {
    if (end > 0) await this.reached(end - 1, withinMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters.clear();
    await this.reader.close();
    // A long poll in flight ends with the connection; do not wait on a library that might not say so.
    await Promise.race([this.loop, delay(this.options.maxWaitMs + 500)]);
  }
}
