import { availableParallelism } from 'node:os';
import type Database from 'better-sqlite3';
import { attributesJsonOf } from '../../cloudevents/index.js';
import { HeraldError } from '../../errors/index.js';
import type {
  AppendInput,
  AppendOutcome,
  AddedDeadLetter,
  DeadLetter,
  DeadLetterLimits,
  DroppedDeadLetters,
  EventStore,
  LogStats,
  NewDeadLetter,
  StoredEvent,
  SubscriptionRecord,
} from '../types.js';
import { DedupeWindow } from '../dedupe-window.js';
import { DedupeIndex, repeatsAHash } from './dedupe-index.js';
import { AppendWaiters } from '../waiters.js';
import { inlineWriter, threadWriter } from './event-writer.js';
import type { EventWriter } from './event-writer.js';
import { BlockEncoder } from './block-codec.js';
import type { EventBlocks } from './event-blocks.js';
import type { PlacedGroup, SegmentLog } from './segment-log.js';
import type { EmbeddedCursors } from './cursors.js';
import { startCheckpointer } from './checkpointer.js';
import type { Checkpointer } from './checkpointer.js';
import type { EmbeddedDeadLetters } from './dead-letters.js';
import type { EmbeddedSubscriptions } from './subscriptions.js';
import { LogCounts } from './log-counts.js';
import { LogMaintenance } from './maintenance.js';
import { openDatabase, rebuildDedupeWindow } from './open-database.js';
import { RecentEvents, retainable } from './recent-events.js';
import type { EmbeddedStoreOptions } from './store-options.js';

export type { Durability, EmbeddedStoreOptions } from './store-options.js';

interface PendingAppend {
  readonly inputs: readonly AppendInput[];
  readonly resolve: (outcomes: AppendOutcome[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * How many more turns of the event loop a group commit waits while each turn brings more appends.
 *
 * @remarks Each commit pays a fixed price (on a virtual machine mostly the kernel's `fsync`, ~100 µs of
 * CPU however few events it carries), so fewer, larger groups leave more of a core to requests. A turn
 * that brought appends says more are on their way (publishers answered by the last commit sending
 * again); a turn that brought none commits at once, so a lone publish waits one idle turn (a
 * non-blocking poll), never a timer. Measured in bench/PROFILE.md ("Issue #15, fifth round"; eight
 * turns instead of three in the ninth round: (a)'s 50 publishers answered at once send again over more
 * than three turns, and groups grew from ~24 to ~40 requests per `fdatasync`).
 */
const GROUP_WAIT_TURNS = 8;
/**
 * Groups of fewer requests sync on libuv's pool while the event loop goes on; larger ones in place,
 * unless readers wait for appends (subscriptions being delivered, a log being followed).
 *
 * @remarks A large group means many publishers waiting for this sync and few left to serve meanwhile
 * ((a)'s 50 publishers: ~40 requests a group); syncing it in place collects the next group as well, and
 * the pool's round trip there cost 10% of (a)'s throughput (14–20% more CPU per binary request unpinned,
 * bench/PROFILE.md, eighteenth round). A small one means events arriving at their own pace and deliveries
 * to make: at 5,000 events/s (~8 a group), syncing in place kept the event loop blocked a quarter of its
 * time (fourteenth round). With readers waiting, a large group means the loop fell behind, and syncing it
 * in place held back the deliveries that were already behind: at 5,000 events/s unpinned the backlog
 * then fed itself (eighteenth round).
 */
const OVERLAP_BELOW_REQUESTS = 16;
/** Requests in a group that is committed without waiting for more. */
const GROUP_FULL_REQUESTS = 64;

/**
 * Events in one request that make it a batch: a group holding one goes to the writer thread when there
 * is one (`--store-writer auto`), and is committed as soon as the thread is idle, without waiting turns:
 * the thread commits it while the event loop parses the requests behind it, and the publishers answered
 * first send again while the rest are parsed, so parsing and committing overlap instead of taking turns
 * (+15% for (b) on two cores, bench/PROFILE.md, seventh round). Groups of single events commit inline,
 * however many: posting them to the thread and back costs more than their commit, and while the thread
 * holds SQLite's write lock, a cursor commit on the event loop's connection waits in SQLite's busy
 * handler (with 64 publishers of single events, counting events sent their groups to the thread and (c)'s
 * p99 went from 5–18 ms to 77–113 ms).
 */
const THREAD_GROUP_EVENTS = 64;

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    code === 'SQLITE_BUSY' ||
    code === 'SQLITE_LOCKED' ||
    code === 'SQLITE_FULL' ||
    code === 'SQLITE_IOERR' ||
    // The segment's write or sync, or a writer thread that failed with a group in flight.
    code === 'ENOSPC' ||
    code === 'EDQUOT' ||
    code === 'EIO' ||
    (error as { outcomeUnknown?: boolean }).outcomeUnknown === true
  );
}

/** What a group's requests are refused with: a store that cannot write now is unavailable (503). */
function storeError(cause: unknown): unknown {
  if (!isBusy(cause)) return cause;
  return new HeraldError(
    'HERALD_STORE_UNAVAILABLE',
    `the embedded store cannot write: ${(cause as Error).message}`,
    {
      cause,
      retryAfter: 1,
    },
  );
}

/**
 * The embedded event store: one SQLite database in WAL mode.
 *
 * @remarks Appends that arrive in the same turn of the event loop, and in the next few turns while each
 * brings more (`GROUP_WAIT_TURNS`), share one transaction (group commit), so many concurrent publishers pay
 * for one commit. Sequences are assigned here, not by SQLite, and the
 * high-water mark is persisted so that retention emptying the log never makes a sequence repeat.
 */
export class EmbeddedEventStore implements EventStore {
  readonly kind = 'embedded';
  readonly file: string;
  private readonly db: Database.Database;
  private readonly now: () => number;
  /** Accepted (source, id, principal) keys within the window; rebuilt from the blocks' hashes on open. */
  private readonly dedupe: DedupeIndex;
  /** The dedupe hashes of the request being prepared (grown as needed, reused). */
  private hashes = new Int32Array(128);
  /** `repeatsAHash`'s scratch table, twice the size of `hashes`. */
  private requestTags = new Int32Array(256);
  /** The events of the group being prepared, in sequence order from `committedSequence + 1`. */
  private preparing: StoredEvent[] = [];
  private readonly waiters = new AppendWaiters();
  private pending: PendingAppend[] = [];
  /** Some request in `pending` carries a batch of `THREAD_GROUP_EVENTS` events or more. */
  private pendingBatch = false;
  private flushScheduled = false;
  /** `pending.length` when the scheduled flush last looked, and how many turns the group has waited. */
  private pendingSeen = 0;
  private groupWaits = 0;
  /** The group being written, if any: at most one at a time, so a failed group can be undone. */
  private flushing: Promise<void> | undefined;
  /** Commits on the event loop; none with `--store-writer thread`. */
  private readonly inlineWriter: EventWriter | undefined;
  /** Commits on a worker thread; none with `inline`, or `auto` on one core. */
  private readonly threadWriter: EventWriter | undefined;
  private readonly blocks: EventBlocks;
  /** The segment files holding the blocks' payloads (`<broker>.segments/`). */
  private readonly log: SegmentLog;
  private readonly deadLetters: EmbeddedDeadLetters;
  private readonly cursors: EmbeddedCursors;
  private readonly subscriptions: EmbeddedSubscriptions;
  /** Builds the blocks of the group being prepared. */
  private readonly encoder = new BlockEncoder();
  /** Highest sequence assigned; ahead of `committedSequence` while a group is being written. */
  private lastSequence: number;
  /** Highest sequence durably written: what readers and waiters may see. */
  private committedSequence: number;
  /** Recently committed events, read from memory. */
  private readonly recent: RecentEvents;
  private readonly counts: LogCounts;
  private closed = false;
  /** Transactions committed by appends: with group commit, far fewer than append calls. */
  commits = 0;
  /** Of `commits`, those made on the writer thread. */
  threadCommits = 0;
  /** Retention, dedupe pruning and saving the counts (`maintenance.ts`). */
  private readonly maintenance: LogMaintenance;
  private readonly maintenanceTimer: NodeJS.Timeout | undefined;
  /** Checkpoints the WAL on a thread of its own (`checkpointer.ts`). */
  private readonly checkpointer: Checkpointer;

  constructor(options: EmbeddedStoreOptions) {
    this.now = options.now ?? Date.now;
    const dedupeWindowMs = options.dedupeWindowMs ?? 120_000;
    const retention = {
      maxAgeMs: options.retention?.maxAgeMs ?? 0,
      maxEvents: options.retention?.maxEvents ?? 0,
      maxBytes: options.retention?.maxBytes ?? 0,
    };
    const opened = openDatabase(options);
    const { db, durable } = opened;
    ({ file: this.file, db: this.db, log: this.log, blocks: this.blocks } = opened);
    ({ deadLetters: this.deadLetters, cursors: this.cursors, subscriptions: this.subscriptions } = opened);
    const { retired } = opened;
    this.lastSequence = opened.lastSequence;
    this.committedSequence = this.lastSequence;
    this.recent = new RecentEvents(this.lastSequence + 1);
    const writer = options.writer ?? 'inline';
    const threaded =
      writer === 'thread' || (writer === 'auto' && (options.cores ?? availableParallelism()) > 1);
    this.threadWriter = threaded
      ? threadWriter({
          file: this.file,
          sync: durable,
          busyTimeoutMs: options.busyTimeoutMs ?? 2000,
          ...(options.writerScript === undefined ? {} : { script: options.writerScript }),
        })
      : undefined;
    this.inlineWriter = writer === 'thread' ? undefined : inlineWriter(this.log, this.blocks, durable);
    this.counts = new LogCounts(db, this.blocks, this.lastSequence);
    this.dedupe = new DedupeIndex(
      dedupeWindowMs,
      (sequence) => this.keyOfSequence(sequence),
      (sequence, key) => retired.matches(sequence, key),
    );
    rebuildDedupeWindow(this.blocks, retired, this.dedupe, this.now() - dedupeWindowMs);
    this.checkpointer = startCheckpointer(db, {
      file: this.file,
      ...(options.checkpointScript === undefined ? {} : { script: options.checkpointScript }),
    });
    this.maintenance = new LogMaintenance({
      db,
      blocks: this.blocks,
      counts: this.counts,
      recent: this.recent,
      dedupe: this.dedupe,
      dedupeWindowMs,
      retired,
      retention,
      now: this.now,
      committedSequence: () => this.committedSequence,
      settled: () => this.flushing === undefined && this.committedSequence === this.lastSequence,
      closed: () => this.closed,
    });
    const interval = options.maintenanceIntervalMs ?? 5_000;
    if (interval > 0) {
      this.maintenanceTimer = setInterval(() => this.runMaintenance(), interval);
      this.maintenanceTimer.unref();
    }
  }

  isReady(): boolean {
    return !this.closed;
  }

  append(inputs: readonly AppendInput[]): Promise<AppendOutcome[]> {
    if (this.closed) return Promise.reject(new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed'));
    if (inputs.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.pending.push({ inputs, resolve, reject });
      if (inputs.length >= THREAD_GROUP_EVENTS) this.pendingBatch = true;
      if (this.threadWriter !== undefined && this.flushing === undefined && this.pendingBatch) {
        this.flush(false);
      } else {
        this.scheduleFlush();
      }
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing !== undefined) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Writes every append queued since the last flush in one transaction (group commit). */
  private flush(waitForMore = true): void {
    this.flushScheduled = false;
    if (this.flushing !== undefined) return;
    const queued = this.pending.length;
    if (
      waitForMore &&
      queued > this.pendingSeen &&
      queued < GROUP_FULL_REQUESTS &&
      this.groupWaits < GROUP_WAIT_TURNS
    ) {
      this.pendingSeen = queued;
      this.groupWaits++;
      this.flushScheduled = true;
      setImmediate(() => this.flush());
      return;
    }
    this.pendingSeen = 0;
    this.groupWaits = 0;
    const batch = this.pending;
    this.pending = [];
    const holdsBatch = this.pendingBatch;
    this.pendingBatch = false;
    if (batch.length === 0) return;
    const startSequence = this.lastSequence;
    const startBytes = this.counts.bytes;
    const startCount = this.counts.events;
    const now = this.now();
    const appended: StoredEvent[] = [];
    this.preparing = appended;
    const undo = () => {
      this.lastSequence = startSequence;
      this.counts.bytes = startBytes;
      this.counts.events = startCount;
      this.dedupe.rollback(startSequence);
    };
    let results: AppendOutcome[][];
    try {
      results = batch.map((request) => this.prepareRequest(request.inputs, now, appended));
    } catch (cause) {
      // Confirming a duplicate can read the index, which commits the rows waiting first: another
      // process holding the database locked, or a full disk, fails that here, before anything is
      // placed. The group is forgotten and its requests refused as a failed write's are; thrown from
      // this turn of the event loop, it ended the broker (test/durability/locked-database.test.ts).
      this.preparing = [];
      this.encoder.reset();
      undo();
      for (const request of batch) request.reject(storeError(cause));
      if (this.pending.length > 0) this.scheduleFlush();
      return;
    }
    this.preparing = [];
    const blocks = this.encoder.finish();
    const writer = this.writerFor(holdsBatch);
    let group: PlacedGroup | undefined;
    let written: Promise<void>;
    try {
      // The thread's index commit would put its rows after rows still waiting on this connection: the
      // last indexed block is where recovery starts reading the segment.
      if (writer === this.threadWriter) this.blocks.commitWaiting();
      else this.blocks.commitWhenFull();
      group = blocks.length === 0 ? undefined : this.log.place(blocks);
      written =
        group === undefined
          ? Promise.resolve()
          : writer.write(group, holdsBatch || batch.length < OVERLAP_BELOW_REQUESTS || this.waiters.size > 0);
    } catch (error) {
      written = Promise.reject(error);
    }
    this.flushing = written
      .then(
        () => {
          if (group !== undefined) this.commits++;
          if (group !== undefined && writer === this.threadWriter) this.threadCommits++;
          this.committedSequence = this.lastSequence;
          this.recent.remember(appended);
          batch.forEach((request, i) => request.resolve(results[i] ?? []));
          if (this.committedSequence > startSequence) this.waiters.notify(this.committedSequence);
        },
        (cause: unknown) => {
          if (group !== undefined) {
            if ((cause as { outcomeUnknown?: boolean }).outcomeUnknown === true)
              this.log.fail(cause as Error);
            else this.log.rewind(group);
          }
          undo();
          const error = storeError(cause);
          for (const request of batch) request.reject(error);
        },
      )
      .finally(() => {
        this.flushing = undefined;
        if (this.pending.length > 0) this.scheduleFlush();
      });
  }

  /** The thread for a group holding a batch when there is one; otherwise inline. */
  private writerFor(holdsBatch: boolean): EventWriter {
    const inline = this.inlineWriter;
    const thread = this.threadWriter;
    if (thread === undefined) return inline as EventWriter;
    return inline === undefined || holdsBatch ? thread : inline;
  }

  /** Dedupes and assigns sequences on the event loop; the rows are written by the writer. */
  private prepareRequest(
    inputs: readonly AppendInput[],
    now: number,
    appended: StoredEvent[],
  ): AppendOutcome[] {
    const outcomes: AppendOutcome[] = [];
    const count = inputs.length;
    if (this.hashes.length < count) {
      this.hashes = new Int32Array(2 ** Math.ceil(Math.log2(count)));
      this.requestTags = new Int32Array(2 * this.hashes.length);
    }
    const hashes = this.hashes;
    for (let i = 0; i < count; i++) {
      const input = inputs[i] as AppendInput;
      const attributes = input.event.attributes;
      // The principal is in the hash only (blocks keep no principal): see `DedupeIndex.hashOf`.
      hashes[i] = DedupeIndex.hashOf(
        attributes['source'] as string,
        attributes['id'] as string,
        input.principal,
      );
    }
    // All looked up at once first, overlapping their cache misses; the lookups below then hit the cache.
    // None known: only a copy earlier in this request can make an event a duplicate, and only one
    // whose hash repeats in the request.
    const known = this.dedupe.countKnown(hashes, count);
    const repeats = count > 1 && repeatsAHash(hashes, count, this.requestTags);
    for (let i = 0; i < count; i++) {
      const { event, trace } = inputs[i] as AppendInput;
      const hash = hashes[i] as number;
      // The key string is built only when the hash was seen (a duplicate, or a rare collision).
      if ((known > 0 || (repeats && i > 0)) && this.dedupe.has(hash)) {
        const source = event.attributes['source'] as string;
        const id = event.attributes['id'] as string;
        const seen = this.dedupe.find(DedupeWindow.key(source, id), hash, now);
        if (seen !== undefined) {
          outcomes.push({ sequence: seen, duplicate: true });
          continue;
        }
      }
      const sequence = ++this.lastSequence;
      // The producer's own JSON text of the attributes when the decoder kept it, else serialised.
      const attrs = attributesJsonOf(event) ?? JSON.stringify(event.attributes);
      const traceJson = trace === undefined ? null : JSON.stringify(trace);
      const size = this.encoder.add(sequence, now, attrs, event.data, event.dataKind, traceJson, hash);
      this.dedupe.add(hash, sequence, now);
      this.counts.bytes += size;
      this.counts.events++;
      appended.push({ sequence, storedAt: now, event: retainable(event), trace });
      outcomes.push({ sequence, duplicate: false });
    }
    // The high-water mark is not written here: the blocks hold it (the last block's last_seq) until
    // retention deletes the newest events, and deleteBefore persists it first.
    return outcomes;
  }

  /** The (source, id) key of a stored (or being prepared) sequence, to confirm a dedupe hash hit. */
  private keyOfSequence(sequence: number): string | undefined {
    const inMemory =
      sequence > this.committedSequence
        ? this.preparing[sequence - this.committedSequence - 1]
        : this.recent.at(sequence);
    if (inMemory !== undefined) {
      const attributes = inMemory.event.attributes;
      return DedupeWindow.key(attributes['source'] as string, attributes['id'] as string);
    }
    return this.blocks.keyAt(sequence);
  }

  read(from: number, limit: number): Promise<StoredEvent[]> {
    if (this.closed) return Promise.reject(new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed'));
    // A read that fails (a damaged record, a database another process holds locked) rejects: callers
    // handle a rejection, not a throw from a function that returns a promise.
    try {
      return Promise.resolve(this.recent.read(from, limit) ?? this.blocks.read(from, limit));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  waitForAppend(after: number, signal?: AbortSignal): Promise<void> {
    return this.waiters.wait(after, this.committedSequence, signal);
  }

  stats(): Promise<LogStats> {
    const first = this.blocks.first() ?? this.committedSequence + 1;
    return Promise.resolve({
      first,
      last: this.committedSequence,
      events: this.counts.events,
      bytes: this.counts.bytes,
    });
  }

  sequenceAt(time: number): Promise<number> {
    return Promise.resolve(this.blocks.sequenceAt(time) ?? this.committedSequence + 1);
  }

  getCursor(subscription: string): Promise<number | undefined> {
    return Promise.resolve(this.cursors.get(subscription));
  }

  commitCursor(subscription: string, next: number): Promise<void> {
    return this.cursors.commit([[subscription, next]]);
  }

  /** Durable when the promise resolves; the event loop goes on while the WAL syncs (`EmbeddedCursors`). */
  commitCursors(cursors: ReadonlyArray<readonly [string, number]>): Promise<void> {
    return this.cursors.commit(cursors);
  }

  deleteCursor(subscription: string): Promise<void> {
    this.cursors.delete(subscription);
    return Promise.resolve();
  }

  /** Group-committed: see `EmbeddedDeadLetters`. */
  addDeadLetter(letter: NewDeadLetter): Promise<AddedDeadLetter> {
    if (this.closed) return Promise.reject(new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed'));
    return this.deadLetters.add(letter);
  }

  listDeadLetters(
    subscription: string,
    limit: number,
    after?: string,
    maxBytes?: number,
  ): Promise<DeadLetter[]> {
    return Promise.resolve(this.deadLetters.list(subscription, limit, after, maxBytes));
  }

  countDeadLetters(subscription: string): Promise<number> {
    return Promise.resolve(this.deadLetters.count(subscription));
  }

  deleteDeadLetters(subscription: string, ids: readonly string[]): Promise<void> {
    this.deadLetters.delete(subscription, ids);
    return Promise.resolve();
  }

  deleteAllDeadLetters(subscription: string): Promise<void> {
    return this.deadLetters.deleteAll(subscription, () => !this.closed);
  }

  trimDeadLetters(limits: DeadLetterLimits, now: number): Promise<DroppedDeadLetters[]> {
    if (this.closed) return Promise.reject(new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed'));
    return Promise.resolve(this.deadLetters.trim(limits, now));
  }

  putSubscription(record: SubscriptionRecord): Promise<void> {
    this.subscriptions.put(record);
    return Promise.resolve();
  }

  putSubscriptions(
    records: readonly SubscriptionRecord[],
    cursors: ReadonlyArray<readonly [string, number]> = [],
  ): Promise<void> {
    if (records.length > 0 || cursors.length > 0) {
      this.db.transaction(() => {
        for (const [subscription, next] of cursors) this.cursors.write(subscription, next);
        for (const record of records) this.subscriptions.put(record);
      })();
    }
    return Promise.resolve();
  }

  replaceSubscription(record: SubscriptionRecord, stillThis?: (stored: string) => boolean): Promise<boolean> {
    return Promise.resolve(this.subscriptions.replace(record, stillThis));
  }

  deleteSubscription(id: string): Promise<boolean> {
    return Promise.resolve(this.subscriptions.delete(id));
  }

  listSubscriptions(): Promise<SubscriptionRecord[]> {
    return Promise.resolve(this.subscriptions.list());
  }

  /** One process owns the database file, so every claim is granted and never lost. */
  claim(_subscription: string, _onLost: () => void): Promise<boolean> {
    return Promise.resolve(!this.closed);
  }

  holdsClaim(_subscription: string): boolean {
    return true;
  }

  release(_subscription: string): Promise<void> {
    return Promise.resolve();
  }

  watchSubscriptions(_listener: (id: string, record: SubscriptionRecord | undefined) => void): () => void {
    return () => undefined;
  }

  /** One process holds every definition: nothing written elsewhere to wait for. */
  syncSubscriptions(): Promise<void> {
    return Promise.resolve();
  }

  /** Applies retention and forgets dedupe keys older than the window. Safe to call at any time. */
  runMaintenance(): void {
    this.maintenance.run();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Acknowledged appends are durable already; queued ones are written before closing.
    while (this.flushing !== undefined || this.pending.length > 0) {
      if (this.flushing === undefined) this.flush(false);
      await this.flushing;
    }
    this.deadLetters.flush();
    try {
      this.blocks.commitWaiting();
      this.maintenance.saveCounts();
    } catch {
      // The next open counts the log instead.
    }
    this.closed = true;
    this.blocks.close();
    await this.threadWriter?.close();
    await this.inlineWriter?.close();
    await this.log.close();
    await this.cursors.close();
    await this.checkpointer.close();
    if (this.maintenanceTimer !== undefined) clearInterval(this.maintenanceTimer);
    this.waiters.abortAll();
    this.db.close();
  }
}
