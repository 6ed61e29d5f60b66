import { JetStreamApiError } from '@nats-io/jetstream';
import type { MsgRequest, StoredMsg } from '@nats-io/jetstream';
import { headers as natsHeaders, nuid } from '@nats-io/transport-node';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { HeraldError } from '../../errors/index.js';
import type { AppendInput, AppendOutcome, LogStats, RetentionPolicy, StoredEvent } from '../types.js';
import { SkippedRun } from '../skipped-run.js';
import { AppendWaiters } from '../waiters.js';
import { decodeEvent, encodeEvent } from './codec.js';
import type { EncodedRecord } from './codec.js';
import { GroupPublisher } from './group-publisher.js';
import type { GroupCounters } from './group-publisher.js';
import { RecentAppends } from './recent-appends.js';
import type { Handles, StoreContext } from './support.js';
import { Semaphore, apiCode, buildHeaders, directBatch, retryPublish, unavailable } from './support.js';

const ATOMIC_DUPLICATE = 10201; // JSAtomicPublishContainsDuplicateMessageErr
const INCOMPLETE_BATCH = 10176; // JSAtomicPublishIncompleteBatchErr
const BATCH_ACK_EVERY = 64;

/** An atomic batch that named an event already stored: it stored nothing. */
class DuplicateInBatch extends Error {}

export interface EventLogSettings {
  readonly dedupeWindowMs: number;
  /** The stream's `duplicate_window` (ms): a publish is sent again only within half of it. */
  readonly duplicateWindowMs: number;
  readonly requestTimeoutMs: number;
  readonly publishRetryMs: number;
  readonly maxAtomicBatch: number;
  readonly maxConcurrentBatches: number;
  /** Groups of single-event publishes waiting for their PubAcks at once (see `GroupPublisher`). */
  readonly maxPublishGroupsInFlight: number;
  readonly notificationCheckMs: number;
  /** The stream's limits: the window of recent appends never serves an event they may have removed. */
  readonly retention: RetentionPolicy;
}

/** Counters that say which paths the log took; for tests and diagnosis, not for decisions. */
export interface EventLogCounters extends GroupCounters {
  /** Reads that found nothing where the log was known to go further: a lagging replica answered. */
  laggingReads: number;
  /** Reads answered from this process's own recent appends, without asking JetStream. */
  localReads: number;
}

/**
 * The event log: appends (grouped single publishes, ADR-50 atomic batches), reads by direct get, and
 * the wake-ups of readers waiting for appends.
 */
export class JetStreamEventLog {
  private laggingReads = 0;
  private localReads = 0;
  private readonly recent: RecentAppends;
  /** The highest sequence this process stored and has not yet told the other processes about. */
  private unannounced = 0;
  private announcing = false;
  private readonly publisher: GroupPublisher;
  private readonly batches: Semaphore;
  private readonly waiters = new AppendWaiters();
  private notifications: Subscription | undefined;
  private lastSequence = 0;
  /** Messages a read skipped at the stream's end: waits for appends wait past them. */
  private readonly skipped = new SkippedRun();
  private maxPayload = 1024 * 1024;
  private waiting = 0;
  private checkTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly context: StoreContext,
    private readonly settings: EventLogSettings,
    /** The handles while the store is connected and set up; undefined otherwise. */
    private readonly ready: () => Handles | undefined,
  ) {
    this.batches = new Semaphore(settings.maxConcurrentBatches);
    this.publisher = new GroupPublisher(
      context.names.subject,
      settings.requestTimeoutMs,
      settings.maxPublishGroupsInFlight,
      (record, sequence) => {
        this.remember(record, sequence, Date.now());
        this.bump(sequence);
      },
    );
    this.recent = new RecentAppends(settings.retention);
  }

  get counters(): EventLogCounters {
    return { ...this.publisher.counters, laggingReads: this.laggingReads, localReads: this.localReads };
  }

  /** The connection came back: publishes written before it was lost no longer hold new ones back. */
  reconnected(): void {
    this.publisher.reconnected();
  }

  /** Called once per connection set-up: the server's limits, the wake-ups, the last sequence. */
  attach(nc: NatsConnection, last: number): void {
    this.maxPayload = nc.info?.max_payload ?? this.maxPayload;
    this.publisher.attach(nc);
    this.notifications ??= nc.subscribe(this.context.names.notifySubject, {
      callback: (error, msg) => {
        if (error === null) this.onNotification(msg);
      },
    });
    this.skipped.forgetBeyond(last);
    this.bump(last);
  }

  get last(): number {
    return this.lastSequence;
  }

  // ---- wake-ups --------------------------------------------------------------------------------

  /**
   * A wake-up from another process sharing the stream: the highest sequence it just stored. (The
   * connection is opened with `noEcho`, so this process's own announcements do not come back.)
   */
  private onNotification(msg: Msg): void {
    const sequence = Number(msg.headers?.get('Nats-Sequence'));
    if (Number.isFinite(sequence)) this.bump(sequence);
  }

  /**
   * Tells the other processes sharing the stream that events up to `sequence` are stored: one
   * headers-only message on the notify subject per turn of the event loop, whatever the number of
   * events stored in it, instead of the stream republishing every message. A lost announcement (this
   * process dies right after an ack) delays the others by the periodic check at most.
   */
  private announce(sequence: number): void {
    if (sequence <= this.unannounced) return;
    this.unannounced = sequence;
    if (this.announcing) return;
    this.announcing = true;
    setImmediate(() => {
      this.announcing = false;
      const nc = this.ready()?.nc;
      if (nc === undefined) return;
      const headers = natsHeaders();
      headers.set('Nats-Sequence', String(this.unannounced));
      try {
        nc.publish(this.context.names.notifySubject, undefined, { headers });
      } catch {
        // Closed or reconnecting: the others' periodic check finds the events.
      }
    });
  }

  bump(sequence: number): void {
    if (sequence > this.lastSequence) {
      this.lastSequence = sequence;
      this.waiters.notify(sequence);
    }
  }

  async refreshLast(): Promise<void> {
    try {
      const { jsm } = await this.context.use();
      this.bump((await jsm.streams.info(this.context.names.stream)).state.last_seq);
    } catch {
      // The next check (or notification) will do.
    }
  }

  waitForAppend(after: number, signal?: AbortSignal): Promise<void> {
    if (this.context.isClosed()) return Promise.resolve();
    this.waiting++;
    if (this.checkTimer === undefined && this.settings.notificationCheckMs > 0) {
      this.checkTimer = setInterval(() => void this.refreshLast(), this.settings.notificationCheckMs);
      this.checkTimer.unref();
    }
    return this.waiters.wait(this.skipped.waitAfter(after), this.lastSequence, signal).finally(() => {
      if (--this.waiting === 0 && this.checkTimer !== undefined) {
        clearInterval(this.checkTimer);
        this.checkTimer = undefined;
      }
    });
  }

  /** Wakes every reader; publishes already sent still get their acks until `abandon`. */
  close(): void {
    if (this.checkTimer !== undefined) clearInterval(this.checkTimer);
    this.waiters.abortAll();
  }

  /** The connection is closed: what still waits for an ack never gets one. */
  abandon(): void {
    this.publisher.close();
  }

  // ---- appends ---------------------------------------------------------------------------------

  /** A record JetStream acknowledged as newly stored at `sequence` goes into the recent appends. */
  private remember(record: EncodedRecord, sequence: number, storedAt: number): void {
    const { event, trace, body, dataOffset } = record;
    // The data as stored: a view of the body just published, never of a request's socket buffer.
    const data = event.dataKind === 0 ? undefined : body.subarray(dataOffset);
    this.recent.add(
      { sequence, storedAt, event: { attributes: event.attributes, data, dataKind: event.dataKind }, trace },
      body.byteLength,
    );
    this.announce(sequence);
  }

  async append(inputs: readonly AppendInput[]): Promise<AppendOutcome[]> {
    if (this.context.isClosed()) throw new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed');
    const handles = this.ready();
    if (handles === undefined) throw unavailable('the jetstream store is not connected to NATS');
    if (inputs.length === 0) return [];
    const dedupe = this.settings.dedupeWindowMs > 0;
    const records = inputs.map(({ event, trace, principal }) => {
      const record = encodeEvent(event, trace, dedupe, principal);
      // With deduplication off an event still needs a `Nats-Msg-Id`, one of its own: the same in every
      // attempt of this append, so that an attempt whose ack was lost is not stored again by the next
      // (the stream's duplicate window then covers the retry budget, see `eventStreamConfig`).
      return dedupe ? record : { ...record, msgId: nuid.next() };
    });
    records.forEach((record, index) => {
      const size =
        record.body.byteLength + record.headers.reduce((n, [k, v]) => n + k.length + v.length + 4, 64);
      if (size > this.maxPayload) {
        const error = new HeraldError(
          'HERALD_PAYLOAD_TOO_LARGE',
          `the event needs ${size} bytes in JetStream, more than the server's max_payload of ${this.maxPayload}`,
        );
        throw inputs.length > 1 ? error.atIndex(index) : error;
      }
    });
    // The same (source, id, principal) twice in one request: the second is a duplicate of the first.
    const first = new Map<string, number>();
    const unique: number[] = [];
    records.forEach((record, index) => {
      if (record.msgId === undefined) unique.push(index);
      else if (!first.has(record.msgId)) {
        first.set(record.msgId, index);
        unique.push(index);
      }
    });
    if (unique.length > this.settings.maxAtomicBatch) {
      throw new HeraldError(
        'HERALD_PAYLOAD_TOO_LARGE',
        `a batch of ${unique.length} events cannot be stored atomically: the jetstream store takes at most ${this.settings.maxAtomicBatch} per request`,
      );
    }
    const published = await this.store(
      handles,
      unique.map((index) => records[index] as EncodedRecord),
    );
    // Without deduplication every id is this append's own: a duplicate is an earlier attempt of it.
    const stored = dedupe ? published : published.map(({ sequence }) => ({ sequence, duplicate: false }));
    const outcomes: AppendOutcome[] = new Array<AppendOutcome>(inputs.length);
    unique.forEach((index, k) => (outcomes[index] = stored[k] as AppendOutcome));
    records.forEach((record, index) => {
      if (outcomes[index] !== undefined) return;
      const original = outcomes[first.get(record.msgId as string) as number] as AppendOutcome;
      outcomes[index] = { sequence: original.sequence, duplicate: true };
    });
    this.bump(Math.max(...stored.map((o) => o.sequence)));
    return outcomes;
  }

  private async store(handles: Handles, records: readonly EncodedRecord[]): Promise<AppendOutcome[]> {
    if (records.length === 1) {
      return [await this.retrying(() => this.publishOne(records[0] as EncodedRecord))];
    }
    // The server answers only requests: a message it refuses inside a batch surfaces at the commit as
    // "incomplete batch". Attempts after such an answer ask for an ack on every message, so that the
    // real reason (e.g. a message over the stream's max_msg_size) comes back and ends the retries.
    let ackEvery = BATCH_ACK_EVERY;
    const attempt = async () => {
      try {
        return await this.publishBatch(handles, records, ackEvery);
      } catch (error) {
        if (apiCode(error) === INCOMPLETE_BATCH) ackEvery = 1;
        throw error;
      }
    };
    try {
      return await this.batches.run(() => this.retrying(attempt));
    } catch (error) {
      if (!(error instanceof DuplicateInBatch)) throw error;
    }
    // Some event of the batch is already stored (typically: the client retried a batch whose 202 it
    // missed). The server does not say which, so store the batch event by event: duplicates are
    // recognised one at a time, new events are stored in request order.
    const outcomes: AppendOutcome[] = [];
    for (const record of records) outcomes.push(await this.retrying(() => this.publishOne(record)));
    return outcomes;
  }

  /**
   * Runs one publish attempt within the retry budget and half the stream's duplicate window
   * (`retryPublish`), answering what stopped it with the store's coded errors.
   */
  private retrying<T>(attempt: () => Promise<T>): Promise<T> {
    const { publishRetryMs, duplicateWindowMs } = this.settings;
    return retryPublish(
      this.context,
      { budgetMs: publishRetryMs, duplicateWindowMs },
      attempt,
      (error, why) => {
        const message = (error as Error).message;
        if (why === 'too-large')
          return new HeraldError('HERALD_PAYLOAD_TOO_LARGE', message, { cause: error });
        if (why === 'closed')
          return new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed', { cause: error });
        return unavailable(`JetStream did not acknowledge the append: ${message}`, error);
      },
      (error) => error instanceof DuplicateInBatch || error instanceof HeraldError,
    );
  }

  private publishOne(record: EncodedRecord): Promise<AppendOutcome> {
    return this.publisher.publish(record);
  }

  /** One ADR-50 atomic batch: the first and every `ackEvery`th message and the commit are requests. */
  private async publishBatch(
    handles: Handles,
    records: readonly EncodedRecord[],
    ackEvery: number,
  ): Promise<AppendOutcome[]> {
    const { nc } = handles;
    const subject = this.context.names.subject;
    const timeout = this.settings.requestTimeoutMs;
    const batchId = nuid.next();
    const count = records.length;
    let reply: Msg | undefined;
    for (let i = 0; i < count; i++) {
      const record = records[i] as EncodedRecord;
      const headers = buildHeaders(record.headers, record.msgId);
      headers.set('Nats-Batch-Id', batchId);
      headers.set('Nats-Batch-Sequence', String(i + 1));
      const commit = i === count - 1;
      if (commit) headers.set('Nats-Batch-Commit', '1');
      if (commit || i % ackEvery === 0) {
        reply = await nc.request(subject, record.body, { headers, timeout });
        if (!commit && reply.data.byteLength > 0) parsePubAck(reply); // an error stops the batch
      } else {
        nc.publish(subject, record.body, { headers });
      }
    }
    const ack = parsePubAck(reply as Msg);
    if (ack.count !== count)
      throw new Error(`the batch ack counts ${String(ack.count)} messages, not ${count}`);
    const storedAt = Date.now();
    return records.map((record, i) => {
      const sequence = ack.seq - count + 1 + i;
      this.remember(record, sequence, storedAt);
      return { sequence, duplicate: false };
    });
  }

  // ---- reads -----------------------------------------------------------------------------------

  /**
   * Events from `from` on. An empty answer means there is nothing at or after `from` (the caller takes
   * it as "retention removed them"), so it is never given on the word of a lagging replica: when the
   * replica that answered has nothing but the log was known to go further when the get was sent, the
   * page comes from the leader.
   */
  async read(from: number, limit: number): Promise<StoredEvent[]> {
    const handles = await this.context.use();
    const start = Math.max(1, Math.floor(from));
    if (limit <= 0) return [];
    const local = this.recent.page(start, Math.min(limit, 1024), this.lastSequence);
    if (local.length > 0) {
      this.localReads++;
      const next = (local[local.length - 1] as StoredEvent).sequence + 1;
      // The window ends where this process's own appends end; what others stored after them (or what
      // a retried publish stored) comes from the stream.
      if (local.length >= limit || next > this.lastSequence) return local;
      return local.concat(await this.readStream(handles, next, limit - local.length));
    }
    return this.readStream(handles, start, limit);
  }

  private async readStream(handles: Handles, start: number, limit: number): Promise<StoredEvent[]> {
    const stream = this.context.names.stream;
    const from = start;
    try {
      for (let attempt = 0; ; attempt++) {
        // Taken before the get: an append that lands while the get is in flight (the tail reads ahead
        // of the writers all the time) says nothing about the replica that answered.
        const known = this.lastSequence;
        let page = await directBatch(handles, stream, { seq: start, batch: Math.min(limit, 1024) });
        if (page.length === 0 && start <= known) {
          this.laggingReads++;
          const { state } = await handles.jsm.streams.info(stream);
          this.bump(state.last_seq);
          if (state.messages === 0 || state.last_seq < start) return this.nothingFrom(from, start);
          if (attempt < 2) {
            await this.context.pause(25 * 2 ** attempt);
            continue;
          }
          page = await this.leaderPage(handles, start, limit);
        }
        const events = this.toEvents(page);
        const last = page[page.length - 1];
        // A page of messages Herald did not write only: empty, it would say "nothing at or after
        // `start`" (`GET /events` ended there, a subscription catching up jumped to the tail). Read on.
        if (events.length > 0) return events;
        if (last === undefined) return this.nothingFrom(from, start);
        start = last.seq + 1;
        attempt = -1;
      }
    } catch (error) {
      if (error instanceof HeraldError) throw error;
      throw unavailable(`reading the stream failed: ${(error as Error).message}`, error);
    }
  }

  /**
   * The empty answer of a read from `from` that found the stream's end at `end`: what it read past on
   * the way (`from` to `end - 1`) holds no event of Herald's, and waits for appends wait past it.
   */
  private nothingFrom(from: number, end: number): StoredEvent[] {
    this.skipped.record(from, end - 1);
    return [];
  }

  /** Up to 32 messages from `start` on, one at a time from the stream leader (`STREAM.MSG.GET`). */
  async leaderPage(handles: Handles, start: number, limit: number): Promise<StoredMsg[]> {
    const page: StoredMsg[] = [];
    let seq = start;
    while (page.length < Math.min(limit, 32)) {
      // The server's JSApiMsgGetRequest takes `next_by_subj` (the next message at or after `seq`);
      // the client's MsgRequest type leaves it out.
      const query = { seq, next_by_subj: this.context.names.subject } as unknown as MsgRequest;
      const msg = await handles.jsm.streams.getMessage(this.context.names.stream, query);
      if (msg === null) break;
      page.push(msg);
      seq = msg.seq + 1;
    }
    return page;
  }

  private toEvents(page: readonly StoredMsg[]): StoredEvent[] {
    // What a reader has seen exists: later reads and waits must not take the log for shorter.
    const last = page[page.length - 1];
    if (last !== undefined) this.bump(last.seq);
    const events: StoredEvent[] = [];
    for (const msg of page) {
      const decoded = decodeEvent(msg.header, msg.data);
      if (decoded === undefined) {
        this.context.logger?.warn(
          { sequence: msg.seq },
          'skipping a message in the event stream that Herald did not write',
        );
        continue;
      }
      events.push({
        sequence: msg.seq,
        storedAt: msg.time.getTime(),
        event: decoded.event,
        trace: decoded.trace,
      });
    }
    return events;
  }

  async stats(): Promise<LogStats> {
    const { jsm } = await this.context.use();
    const { state } = await jsm.streams.info(this.context.names.stream);
    this.bump(state.last_seq);
    const last = Math.max(state.last_seq, 0);
    return {
      first: state.messages === 0 ? last + 1 : state.first_seq,
      last,
      events: state.messages,
      bytes: state.bytes,
    };
  }

  async sequenceAt(time: number): Promise<number> {
    const { jsm } = await this.context.use();
    const stream = this.context.names.stream;
    for (let attempt = 0; ; attempt++) {
      const msg = await jsm.direct.getMessage(stream, { start_time: new Date(time) });
      if (msg !== null) return msg.seq;
      // None on the replica that answered; the leader says whether a later message exists at all.
      const { state } = await jsm.streams.info(stream);
      this.bump(state.last_seq);
      if (state.messages === 0 || Date.parse(state.last_ts) < time || attempt >= 5) return state.last_seq + 1;
      await this.context.pause(20 * 2 ** attempt);
    }
  }

  /** Removes events older than `maxAgeMs` now (JetStream checks `max_age` itself only every ~250 ms). */
  async applyRetention(maxAgeMs: number): Promise<void> {
    if (maxAgeMs <= 0) return;
    const { jsm } = await this.context.use();
    const keep = await this.sequenceAt(Date.now() - maxAgeMs);
    await jsm.streams.purge(this.context.names.stream, { seq: keep });
    this.recent.clear();
  }
}

interface BatchAck {
  readonly seq: number;
  readonly count?: number;
  readonly duplicate?: boolean;
  readonly error?: { code: number; err_code: number; description: string };
}

function parsePubAck(reply: Msg): BatchAck {
  const ack = JSON.parse(new TextDecoder().decode(reply.data)) as BatchAck;
  if (ack.error !== undefined) {
    if (ack.error.err_code === ATOMIC_DUPLICATE) throw new DuplicateInBatch(ack.error.description);
    throw new JetStreamApiError(ack.error);
  }
  return ack;
}
