import { setTimeout as delay } from 'node:timers/promises';
import { HeraldError } from '../../errors/index.js';
import { DedupeWindow } from '../dedupe-window.js';
import type { AppendInput, AppendOutcome, LogStats, RetentionPolicy, StoredEvent } from '../types.js';
import { SkippedRun } from '../skipped-run.js';
import { AppendWaiters } from '../waiters.js';
import type { AdminClient, ClientSettings, FetchedPage, PartitionReader, SerialProducer } from './client.js';
import { describeError, kafkaErrorIds } from './client.js';
import type { IncomingRecord, OutgoingRecord } from './codec.js';
import { HEADER, batchedRecordSize, decodeEvent, dedupeKeyOf, encodeEvent, header } from './codec.js';
import type { StoreLogger } from './follower.js';
import { TopicFollower } from './follower.js';

const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD']);
/**
 * Pauses of a read that found the leader behind the log's end before it fails (`read`): about 1.5 s in
 * all, time for a new leader's followers to fetch once and move its high watermark on.
 */
const LAGGING_READ_PAUSES_MS = [25, 50, 100, 200, 400, 800] as const;

export interface EventLogOptions {
  readonly settings: ClientSettings;
  readonly topic: string;
  readonly producer: SerialProducer;
  readonly reader: PartitionReader;
  readonly admin: AdminClient;
  readonly dedupeWindowMs: number;
  /**
   * The topic where retention notes the dedupe keys of the events it deletes inside the window, read
   * on start with the log; undefined: deduplication is off.
   */
  readonly retiredTopic?: string | undefined;
  /** Writes the retired keys: not the events' producer, whose groups would wait behind them. */
  readonly retiredProducer?: SerialProducer | undefined;
  readonly retention: RetentionPolicy;
  /** Largest record batch one append (or a group of appends) may produce. */
  readonly maxBatchBytes: number;
  readonly followWaitMs: number;
  readonly logger?: StoreLogger | undefined;
}

export function unavailable(detail: string, cause?: unknown): HeraldError {
  return new HeraldError('HERALD_STORE_UNAVAILABLE', detail, {
    retryAfter: 1,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * The event log on a single-partition topic: Herald's sequence is the record's offset plus one, so it
 * is one strictly increasing number per broker whichever replica appended, and the order of the log is
 * the order of the partition. A follower reads every record once (from the log start when the process
 * starts, then as they arrive) to wake waiting readers, to learn the dedupe keys (`source`, `id` and
 * publishing principal) other replicas stored, and to keep the byte size of each retained record for
 * `stats()` and byte retention.
 */
export class EventLog {
  private readonly window: DedupeWindow;
  private readonly inFlight = new Map<string, Promise<number>>();
  private readonly waiters = new AppendWaiters();
  private readonly follower: TopicFollower;
  /** Size of the record at offset `sizesBase + i`, for every record the follower has read. */
  private sizes: number[] = [];
  private sizesBase = 0;
  private sizesHead = 0;
  private retainedBytes = 0;
  private last = 0;
  /** Records a read skipped at the topic's end: waits for appends wait past them. */
  private readonly skipped = new SkippedRun();
  private readonly dedupe: boolean;
  /** Reads that found the node answering behind the log's end, once per pause (see `read`). */
  laggingReads = 0;

  constructor(private readonly options: EventLogOptions) {
    this.dedupe = options.dedupeWindowMs > 0;
    this.window = new DedupeWindow(options.dedupeWindowMs);
    this.follower = new TopicFollower({
      settings: options.settings,
      topic: options.topic,
      maxWaitMs: options.followWaitMs,
      logger: options.logger,
      onRecords: (records) => this.onRecords(records),
      onOffsets: (highWatermark) => this.bump(highWatermark),
    });
  }

  /** Reads the retained log once (sizes, dedupe window), then follows it. */
  async start(): Promise<void> {
    const start = await this.options.reader.offset(this.options.topic, -2);
    const end = await this.options.reader.offset(this.options.topic, -1);
    this.sizesBase = start;
    this.follower.start(start);
    // The initial load, before the store is ready: as long as reading the retained log takes.
    await this.follower.catchUp(end, Infinity);
    this.bump(end);
    // After the log, not before: a retention pass notes its keys before it deletes, so whatever it
    // deleted before the follower read it was noted before this read of the retired topic begins.
    await this.loadRetired();
  }

  /**
   * The keys retention deleted inside the window (`retire`), into the window with their events' own
   * sequence and time. They are older than every retained record, so they come after newer entries:
   * `find` judges each entry by its own time, and `prune` keeps them at most one window too long.
   */
  private async loadRetired(): Promise<void> {
    const topic = this.options.retiredTopic;
    if (topic === undefined || !this.dedupe) return;
    const { reader } = this.options;
    let offset = await reader.offset(topic, -2);
    const end = await reader.offset(topic, -1);
    while (offset < end) {
      const page = await reader.fetch(topic, offset, 0);
      const now = Date.now();
      for (const record of page.records) {
        const key = header(record, HEADER.dedupe);
        const sequence = Number(header(record, HEADER.sequence));
        const at = Number(header(record, HEADER.at));
        if (key === undefined || !Number.isSafeInteger(sequence) || !Number.isFinite(at)) continue;
        if (at >= now - this.options.dedupeWindowMs && this.window.find(key, now) === undefined) {
          this.window.add(key, sequence, at);
        }
      }
      const next = Math.max(page.next, page.logStartOffset);
      if (next <= offset) throw new Error(`reading ${topic} made no progress at offset ${offset}`);
      offset = next;
    }
  }

  /**
   * Before retention deletes the events at sequences `from`..`to`: the dedupe keys of those still
   * inside the window go to the retired topic, whose `retention.ms` is the window. A process starting
   * within the window learns them there (`loadRetired`) and still takes a copy sent again for a
   * duplicate; running processes have them in memory already. Deleting waits for Kafka's ack, so no
   * event is deleted whose key is not noted; a pass that dies in between notes keys twice, harmlessly.
   */
  private async retire(from: number, to: number): Promise<void> {
    const { retiredTopic: topic, retiredProducer: producer } = this.options;
    if (topic === undefined || producer === undefined || !this.dedupe) return;
    const horizon = Date.now() - this.options.dedupeWindowMs;
    // Usually every event retention deletes left the window long ago: one offset look-up says so, and
    // spares the event loop a walk through the whole window (millions of keys under load) every pass.
    const young = await this.options.reader.offset(this.options.topic, horizon);
    if (young < 0 || young >= to) return;
    type Outgoing = { topic: string; record: OutgoingRecord };
    const chunks: Outgoing[][] = [[]];
    let bytes = 0;
    for (const [key, sequence, at] of this.window.entries()) {
      if (sequence < from || sequence > to || at < horizon) continue;
      const headers = new Map([
        [Buffer.from(HEADER.dedupe), Buffer.from(key)],
        [Buffer.from(HEADER.sequence), Buffer.from(String(sequence))],
        [Buffer.from(HEADER.at), Buffer.from(String(at))],
      ]);
      const record: OutgoingRecord = { key: undefined, value: undefined, headers };
      const size = batchedRecordSize(record);
      // One send per record batch Kafka takes (`max.message.bytes`).
      if (bytes + size > this.options.maxBatchBytes && bytes > 0) {
        chunks.push([]);
        bytes = 0;
      }
      (chunks[chunks.length - 1] as Outgoing[]).push({ topic, record });
      bytes += size;
    }
    for (const chunk of chunks) await producer.send(chunk);
  }

  private onRecords(records: readonly IncomingRecord[]): void {
    const now = Date.now();
    for (const record of records) {
      const index = record.offset - this.sizesBase;
      if (index < this.sizes.length) continue; // already indexed
      while (this.sizes.length < index) this.sizes.push(0);
      this.sizes.push(record.size);
      this.retainedBytes += record.size;
      if (this.dedupe && record.timestamp >= now - this.options.dedupeWindowMs) {
        // The key travels in a header: no need to parse the attributes of every record.
        const key = header(record, HEADER.dedupe);
        if (key !== undefined && this.window.find(key, now) === undefined) {
          this.window.add(key, record.offset + 1, record.timestamp);
        }
      }
    }
    const lastRecord = records[records.length - 1];
    if (lastRecord !== undefined) this.bump(lastRecord.offset + 1);
  }

  /** Forgets the sizes of records below `start` (removed by retention). */
  private trimSizes(start: number): void {
    while (this.sizesBase + this.sizesHead < start && this.sizesHead < this.sizes.length) {
      this.retainedBytes -= this.sizes[this.sizesHead] ?? 0;
      this.sizesHead++;
    }
    if (this.sizesHead > 4096 && this.sizesHead > this.sizes.length / 2) {
      this.sizes = this.sizes.slice(this.sizesHead);
      this.sizesBase += this.sizesHead;
      this.sizesHead = 0;
    }
  }

  private bump(last: number): void {
    if (last > this.last) {
      this.last = last;
      this.waiters.notify(last);
    }
  }

  /**
   * Keys of events whose produce failed without a clear answer (a timeout, a leader that died): the
   * batch may have been written all the same. A retry of one of them first reads the log to its end,
   * so that a copy that did land is recognised as a duplicate instead of being stored again. The end is
   * the leader's log end, not the high watermark: a produce that timed out while an in-sync replica
   * lagged left its copy in the leader's log beyond the high watermark, where no fetch reaches, and
   * Kafka commits it once that replica catches up or leaves the in-sync set. Until the follower has
   * read that far (within its bound) the retry answers "unavailable" instead of storing another copy.
   */
  private readonly suspects = new Map<string, number>();

  private async settleSuspects(inputs: readonly AppendInput[], now: number): Promise<void> {
    if (this.suspects.size === 0) return;
    for (const [key, at] of this.suspects) {
      if (at >= now - this.options.dedupeWindowMs) break;
      this.suspects.delete(key);
    }
    const suspect = inputs.some(({ event, principal }) => this.suspects.has(dedupeKeyOf(event, principal)));
    if (!suspect) return;
    try {
      await this.follower.catchUp(await this.options.reader.logEnd(this.options.topic));
    } catch (error) {
      throw unavailable(`reading the event topic failed: ${describeError(error)}`, error);
    }
    for (const { event, principal } of inputs) this.suspects.delete(dedupeKeyOf(event, principal));
  }

  async append(inputs: readonly AppendInput[]): Promise<AppendOutcome[]> {
    if (this.dedupe) await this.settleSuspects(inputs, Date.now());
    const now = Date.now();
    this.window.prune(now);
    // An outcome, a concurrent request's pending sequence, or -1 - the index of an earlier copy.
    const outcomes = new Array<AppendOutcome | Promise<number> | number>(inputs.length);
    const fresh: Array<{ index: number; key: string | undefined; record: OutgoingRecord }> = [];
    const inRequest = new Map<string, number>();
    let bytes = 0;
    inputs.forEach(({ event, trace, principal }, index) => {
      const key = this.dedupe ? dedupeKeyOf(event, principal) : undefined;
      if (key !== undefined) {
        const stored = this.window.find(key, now);
        if (stored !== undefined) {
          outcomes[index] = { sequence: stored, duplicate: true };
          return;
        }
        const pending = this.inFlight.get(key);
        if (pending !== undefined) {
          outcomes[index] = pending;
          return;
        }
        const earlier = inRequest.get(key);
        if (earlier !== undefined) {
          outcomes[index] = -1 - earlier; // resolved below from the earlier event's outcome
          return;
        }
        inRequest.set(key, index);
      }
      const record = encodeEvent(event, trace, principal);
      const size = batchedRecordSize(record);
      bytes += size;
      if (size > this.options.maxBatchBytes) {
        const error = new HeraldError(
          'HERALD_PAYLOAD_TOO_LARGE',
          `the event needs ${size} bytes in Kafka, more than the ${this.options.maxBatchBytes} a record batch may hold`,
        );
        throw inputs.length > 1 ? error.atIndex(index) : error;
      }
      fresh.push({ index, key, record });
    });
    if (bytes > this.options.maxBatchBytes) {
      throw new HeraldError(
        'HERALD_PAYLOAD_TOO_LARGE',
        `the batch needs ${bytes} bytes in Kafka, more than the ${this.options.maxBatchBytes} one record batch may hold`,
      );
    }
    if (fresh.length > 0) {
      const sending = this.options.producer.send(
        fresh.map(({ record }) => ({ topic: this.options.topic, record })),
      );
      fresh.forEach(({ key }, k) => {
        if (key === undefined) return;
        const sequence = sending.then((offsets) => (offsets[k] as number) + 1);
        sequence.catch(() => undefined);
        this.inFlight.set(key, sequence);
      });
      let offsets: number[];
      try {
        offsets = await sending;
      } catch (error) {
        if ([...kafkaErrorIds(error)].some((id) => TOO_LARGE.has(id))) {
          throw new HeraldError('HERALD_PAYLOAD_TOO_LARGE', describeError(error), { cause: error });
        }
        const failedAt = Date.now();
        for (const { key } of fresh) {
          if (key === undefined) continue;
          this.suspects.delete(key); // re-inserted last: the map stays in time order
          this.suspects.set(key, failedAt);
        }
        throw unavailable(`Kafka did not acknowledge the append: ${describeError(error)}`, error);
      } finally {
        for (const { key } of fresh) if (key !== undefined) this.inFlight.delete(key);
      }
      const at = Date.now();
      fresh.forEach(({ index, key }, k) => {
        const sequence = (offsets[k] as number) + 1;
        outcomes[index] = { sequence, duplicate: false };
        if (key !== undefined) this.window.add(key, sequence, at);
      });
      this.bump(Math.max(...offsets) + 1);
    }
    const resolved: AppendOutcome[] = [];
    for (let index = 0; index < inputs.length; index++) {
      const outcome = outcomes[index] as AppendOutcome | Promise<number> | number;
      if (typeof outcome === 'number') {
        resolved.push({ sequence: (resolved[-1 - outcome] as AppendOutcome).sequence, duplicate: true });
      } else if (outcome instanceof Promise) {
        // The same event is being stored by a concurrent request: this one is its duplicate.
        const sequence = await outcome.catch((error: unknown) => {
          throw unavailable(`Kafka did not acknowledge the append: ${describeError(error)}`, error);
        });
        resolved.push({ sequence, duplicate: true });
      } else {
        resolved.push(outcome);
      }
    }
    return resolved;
  }

  /**
   * Events from `from` on. Never answers "nothing" below an end this process has seen (appended, read, or
   * told by a fetch): the node that answered is then behind the log, and a subscription catching up takes
   * an empty page for the log's end and moves its read position to the shared tail. Kafka answers so for
   * a moment after a leader election (the new leader's high watermark is its follower's, one fetch round
   * behind what the old leader served) and from a follower reached with stale metadata (a fetch of
   * version 11 or later is served from a follower's own log). Such a read asks for the leader again,
   * after a pause, and fails `HERALD_STORE_UNAVAILABLE` if the answer stays short; readers retry.
   */
  async read(from: number, limit: number): Promise<StoredEvent[]> {
    if (limit <= 0) return [];
    let offset = Math.max(0, Math.floor(from) - 1);
    for (let behind = 0; ;) {
      // Taken before the fetch: an append that lands while it is in flight says nothing of the node that answered.
      const known = this.last;
      const page = await this.fetchFrom(offset);
      this.bump(page.highWatermark);
      const events = this.toEvents(page.records, limit);
      if (events.length > 0) return events;
      if (page.next > offset) {
        // Records Herald did not write only (or transaction markers): empty, this page would say "nothing
        // at or after `from`". Read on past them.
        this.skipped.record(offset + 1, page.next);
        offset = page.next;
        behind = 0;
        continue;
      }
      if (offset >= known) return [];
      this.laggingReads++;
      if (behind >= LAGGING_READ_PAUSES_MS.length) {
        throw unavailable(
          `Kafka answered nothing at sequence ${offset + 1} of ${this.options.topic}, whose log holds events up to ${known}: the node that answered is behind`,
        );
      }
      this.options.reader.forgetLeader(this.options.topic);
      await delay(LAGGING_READ_PAUSES_MS[behind++]);
    }
  }

  private async fetchFrom(offset: number): Promise<FetchedPage> {
    try {
      return await this.options.reader.fetch(this.options.topic, offset, 0);
    } catch (error) {
      throw unavailable(`reading the event topic failed: ${describeError(error)}`, error);
    }
  }

  /** The events of Herald's among `records`, at most `limit`; the others are logged and skipped. */
  private toEvents(records: readonly IncomingRecord[], limit: number): StoredEvent[] {
    const events: StoredEvent[] = [];
    for (const record of records) {
      if (events.length >= limit) break;
      const decoded = decodeEvent(record);
      if (decoded === undefined) {
        this.options.logger?.warn(
          { sequence: record.offset + 1 },
          'skipping a record in the event topic that Herald did not write',
        );
        continue;
      }
      events.push({
        sequence: record.offset + 1,
        storedAt: record.timestamp,
        event: decoded.event,
        trace: decoded.trace,
      });
    }
    return events;
  }

  waitForAppend(after: number, signal?: AbortSignal): Promise<void> {
    return this.waiters.wait(this.skipped.waitAfter(after), this.last, signal);
  }

  private async bounds(): Promise<{ start: number; end: number }> {
    const [start, end] = await Promise.all([
      this.options.reader.offset(this.options.topic, -2),
      this.options.reader.offset(this.options.topic, -1),
    ]);
    this.bump(end);
    return { start, end };
  }

  async stats(): Promise<LogStats> {
    const { start, end } = await this.bounds();
    await this.follower.catchUp(end);
    this.trimSizes(start);
    const events = Math.max(0, end - start);
    return { first: events === 0 ? end + 1 : start + 1, last: end, events, bytes: this.retainedBytes };
  }

  async sequenceAt(time: number): Promise<number> {
    const offset = await this.options.reader.offset(this.options.topic, Math.max(0, Math.floor(time)));
    if (offset >= 0) return offset + 1;
    return (await this.bounds()).end + 1;
  }

  /**
   * Deletes, with DeleteRecords, the oldest events beyond the retention limits. Kafka enforces the age
   * limit itself too (`retention.ms`), but only segment by segment; this is exact. Any replica may run it.
   */
  async applyRetention(): Promise<void> {
    const { maxAgeMs, maxEvents, maxBytes } = this.options.retention;
    if (maxAgeMs <= 0 && maxEvents <= 0 && maxBytes <= 0) return;
    const { start, end } = await this.bounds();
    await this.follower.catchUp(end);
    this.trimSizes(start);
    let cut = start;
    if (maxEvents > 0) cut = Math.max(cut, end - maxEvents);
    if (maxAgeMs > 0) {
      const young = await this.options.reader.offset(this.options.topic, Date.now() - maxAgeMs);
      cut = Math.max(cut, young < 0 ? end : young);
    }
    if (maxBytes > 0) {
      let kept = 0;
      let offset = end;
      while (offset > cut) {
        const size = this.sizes[offset - 1 - this.sizesBase] ?? 0;
        if (kept + size > maxBytes) break;
        kept += size;
        offset--;
      }
      cut = Math.max(cut, offset);
    }
    cut = Math.min(cut, end);
    if (cut <= start) return;
    await this.retire(start + 1, cut);
    await this.options.admin.run(`deleting records of ${this.options.topic}`, (admin) =>
      admin.deleteRecords({
        topics: [{ name: this.options.topic, partitions: [{ partition: 0, offset: BigInt(cut) }] }],
      }),
    );
    this.trimSizes(cut);
  }

  /** False while the event topic cannot be read (its leader is away, or Kafka is). */
  get healthy(): boolean {
    return this.follower.healthy;
  }

  stop(): Promise<void> {
    this.waiters.abortAll();
    return this.follower.stop();
  }

  abortWaiters(): void {
    this.waiters.abortAll();
  }
}
