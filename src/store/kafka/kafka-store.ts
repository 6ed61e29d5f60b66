import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
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
  RetentionPolicy,
  StoredEvent,
  SubscriptionRecord,
} from '../types.js';
import { claimIdsOfCursor } from '../lease-keeper.js';
import { Claims } from './claims.js';
import type { ClientSettings, KafkaSecurity } from './client.js';
import { BootstrapBrokers } from './bootstrap.js';
import { AdminClient, PartitionReader, SerialProducer, describeError, ensureTopic } from './client.js';
import { CompactedView } from './compacted-view.js';
import type { TrackedRecord } from './compacted-view.js';
import { DeadLetters } from './dead-letters.js';
import { CURSOR, Definitions, SUBSCRIPTION } from './definitions.js';
import { EventLog, unavailable } from './event-log.js';
import type { StoreLogger } from './follower.js';

/** The value of a key just before the record at `offset`: the last tracked record before it, else `initial`. */
function lastBefore(
  seen: readonly TrackedRecord[],
  offset: number,
  initial: Buffer | undefined,
): Buffer | undefined {
  const earlier = seen.filter((r) => r.offset < offset);
  const last = earlier[earlier.length - 1];
  return last === undefined ? initial : (last.value ?? undefined);
}

/** A cursor record written without the claim: its key, the value it landed on, its offset, its tracker. */
interface StaleCursor {
  readonly key: string;
  /** Undefined: a delete, written back as one. */
  readonly value: Buffer | undefined;
  readonly offset: number;
  readonly tracker: { readonly seen: readonly TrackedRecord[] } | undefined;
}

export interface KafkaStoreOptions {
  /** Bootstrap brokers: a list, or one string of comma-separated `host:port`. */
  readonly brokers: string | readonly string[];
  /** Names the topics: `herald.<broker>.events`, `.state`, `.deadletters`, `.retired`. */
  readonly brokerName?: string;
  readonly security?: KafkaSecurity;
  /** Replication factor of the topics Herald creates (1 or at most the number of Kafka nodes). Default 1. */
  readonly replicationFactor?: number;
  /** Dedupe window; 0 turns deduplication off. Default 2 minutes. */
  readonly dedupeWindowMs?: number;
  readonly retention?: Partial<RetentionPolicy>;
  /** How long a subscription claim outlives a replica that stopped renewing it. Default 6 s. */
  readonly claimTtlMs?: number;
  /** Timeout of one Kafka request. Default 5 s. */
  readonly requestTimeoutMs?: number;
  /** Largest record batch one append (or a group of concurrent appends) may produce. Default 17 MiB. */
  readonly maxBatchBytes?: number;
  /** How often retention runs (any replica may run it). Default 30 s. */
  readonly retentionCheckMs?: number;
  /** How long a follower's fetch waits on the server for new records. Default 500 ms. */
  readonly followWaitMs?: number;
  readonly logger?: StoreLogger;
}

interface Parts {
  readonly admin: AdminClient;
  readonly reader: PartitionReader;
  readonly log: EventLog;
  readonly state: CompactedView;
  readonly claims: Claims;
  readonly definitions: Definitions;
  readonly deadLetters: DeadLetters;
}

/**
 * The Apache Kafka event store: per broker, a single-partition events topic whose offset plus one is
 * Herald's sequence, a compacted state topic (cursors, subscription definitions, claim leases) and a
 * compacted dead-letter topic. Several broker processes may share it; replication and failover of the
 * partitions are Kafka's. See `docs/kafka.md` for the design and its guarantees.
 *
 * @remarks
 * - `append` resolves only after Kafka acknowledged the records with acks=all from an idempotent
 *   producer; one append is one record batch on one partition, so it is stored whole or not at all with
 *   contiguous sequences.
 * - Connecting never fails: until Kafka answers and the topics exist, `isReady()` is false and appends
 *   are refused with `HERALD_STORE_UNAVAILABLE`; other calls wait for the set-up.
 */
export class KafkaEventStore implements EventStore {
  readonly kind = 'kafka';
  readonly eventsTopic: string;
  readonly stateTopic: string;
  readonly deadLetterTopic: string;
  /** The dedupe keys of events retention deleted inside the window (see `EventLog.retire`). */
  readonly retiredTopic: string;
  private readonly settings: ClientSettings;
  private readonly replicationFactor: number;
  private readonly dedupeWindowMs: number;
  private readonly retention: RetentionPolicy;
  private readonly claimTtlMs: number;
  private readonly maxBatchBytes: number;
  private readonly retentionCheckMs: number;
  private readonly followWaitMs: number;
  private readonly logger: StoreLogger | undefined;
  private readonly owner = randomUUID();
  private readonly stopController = new AbortController();
  private readonly eventProducer: SerialProducer;
  private readonly stateProducer: SerialProducer;
  private parts: Parts | undefined;
  private readonly started: Promise<Parts>;
  private resolveStarted!: (parts: Parts) => void;
  private rejectStarted!: (error: unknown) => void;
  private retentionTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(options: KafkaStoreOptions) {
    const broker = options.brokerName ?? 'default';
    this.eventsTopic = `herald.${broker}.events`;
    this.stateTopic = `herald.${broker}.state`;
    this.deadLetterTopic = `herald.${broker}.deadletters`;
    this.retiredTopic = `herald.${broker}.retired`;
    const brokers = typeof options.brokers === 'string' ? options.brokers.split(',') : options.brokers;
    this.settings = {
      brokers: new BootstrapBrokers(brokers.map((b) => b.trim()).filter((b) => b !== '')),
      clientId: `herald-${broker}-${this.owner.slice(0, 8)}`,
      security: options.security ?? {},
      requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
    };
    this.replicationFactor = options.replicationFactor ?? 1;
    this.dedupeWindowMs = options.dedupeWindowMs ?? 120_000;
    this.retention = {
      maxAgeMs: options.retention?.maxAgeMs ?? 0,
      maxEvents: options.retention?.maxEvents ?? 0,
      maxBytes: options.retention?.maxBytes ?? 0,
    };
    // The dedupe window is rebuilt on start from the retained log: an event the age limit deleted
    // inside the window would be stored again when re-sent after a restart. (Kafka deletes by age
    // itself, segment by segment, and notes no keys; the count and size limits are Herald's own, and
    // note the keys they delete inside the window in the retired topic.)
    const { maxAgeMs } = this.retention;
    if (this.dedupeWindowMs > 0 && maxAgeMs > 0 && maxAgeMs < this.dedupeWindowMs) {
      throw new HeraldError(
        'HERALD_INVALID_CONFIG',
        `--retention-max-age (${maxAgeMs} ms) must be at least --dedupe-window (${this.dedupeWindowMs} ms) with --store kafka`,
      );
    }
    this.claimTtlMs = options.claimTtlMs ?? 6_000;
    this.maxBatchBytes = options.maxBatchBytes ?? 17 * 1024 * 1024;
    this.retentionCheckMs = options.retentionCheckMs ?? 30_000;
    this.followWaitMs = options.followWaitMs ?? 500;
    this.logger = options.logger;
    this.eventProducer = new SerialProducer(this.settings, 'events', this.maxBatchBytes);
    this.stateProducer = new SerialProducer(this.settings, 'state', this.maxBatchBytes);
    this.started = new Promise<Parts>((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    // Callers that never wait must not see an unhandled rejection when the store closes first.
    this.started.catch(() => undefined);
    void this.run();
  }

  // ---- set-up ----------------------------------------------------------------------------------

  /** Resolves once Kafka answered, the topics exist and the views are loaded; rejects if closed first. */
  async whenReady(): Promise<void> {
    await this.started;
  }

  isReady(): boolean {
    return !this.closed && this.parts !== undefined && this.parts.log.healthy;
  }

  private async run(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      let admin: AdminClient | undefined;
      let reader: PartitionReader | undefined;
      try {
        admin = new AdminClient(this.settings);
        reader = new PartitionReader(this.settings, 'read');
        const parts = await this.setUp(admin, reader);
        if (this.closed) {
          await this.stopParts(parts);
          return;
        }
        this.parts = parts;
        if (this.retentionTimer === undefined && this.hasRetention()) {
          this.retentionTimer = setInterval(() => void this.retentionPass(), this.retentionCheckMs);
          this.retentionTimer.unref();
        }
        this.logger?.info(
          { topic: this.eventsTopic, brokers: this.settings.brokers.configured },
          'kafka store ready',
        );
        this.resolveStarted(parts);
        return;
      } catch (error) {
        if (admin !== undefined) await admin.close();
        if (reader !== undefined) await reader.close();
        if (attempt % 10 === 0) {
          this.logger?.warn(
            { err: describeError(error), brokers: this.settings.brokers.configured, attempt },
            'Kafka is not reachable yet or the topics could not be set up; retrying',
          );
        }
        await delay(Math.min(250 * 2 ** attempt, 5_000), undefined, {
          signal: this.stopController.signal,
        }).catch(() => undefined);
      }
    }
  }

  private topicConfig(compacted: boolean, retentionMs?: number): Record<string, string> {
    return {
      'cleanup.policy': compacted ? 'compact' : 'delete',
      // The leader's clock stamps every record: storedAt is non-decreasing with the offset, and
      // claim leases are judged on one clock.
      'message.timestamp.type': 'LogAppendTime',
      'min.insync.replicas': String(Math.min(2, this.replicationFactor)),
      'unclean.leader.election.enable': 'false',
      'max.message.bytes': String(this.maxBatchBytes),
      ...(compacted
        ? {}
        : {
            'retention.ms': String(
              retentionMs ?? (this.retention.maxAgeMs > 0 ? this.retention.maxAgeMs : -1),
            ),
            'retention.bytes': '-1',
          }),
    };
  }

  private async setUp(admin: AdminClient, reader: PartitionReader): Promise<Parts> {
    const dedupe = this.dedupeWindowMs > 0;
    for (const [topic, config] of [
      [this.eventsTopic, this.topicConfig(false)],
      [this.stateTopic, this.topicConfig(true)],
      [this.deadLetterTopic, this.topicConfig(true)],
      // A retired key matters for one window after its event was stored, and is written later still.
      ...(dedupe ? [[this.retiredTopic, this.topicConfig(false, this.dedupeWindowMs)] as const] : []),
    ] as const) {
      await admin.run(`setting up topic ${topic}`, (a) =>
        ensureTopic(a, topic, this.replicationFactor, config),
      );
    }
    const common = { settings: this.settings, reader, followWaitMs: this.followWaitMs, logger: this.logger };
    const log = new EventLog({
      ...common,
      topic: this.eventsTopic,
      producer: this.eventProducer,
      admin,
      dedupeWindowMs: this.dedupeWindowMs,
      ...(dedupe ? { retiredTopic: this.retiredTopic, retiredProducer: this.stateProducer } : {}),
      retention: this.retention,
      maxBatchBytes: this.maxBatchBytes,
    });
    const state = new CompactedView({ ...common, topic: this.stateTopic, producer: this.stateProducer });
    const deadLetterView = new CompactedView({
      ...common,
      topic: this.deadLetterTopic,
      producer: this.stateProducer,
    });
    try {
      await Promise.all([log.start(), state.start(), deadLetterView.start()]);
    } catch (error) {
      await Promise.all([log.stop(), state.stop(), deadLetterView.stop()]);
      throw error;
    }
    const claims = new Claims(state, this.owner, this.claimTtlMs, this.logger);
    const definitions = new Definitions(state, this.owner, this.claimTtlMs, this.logger);
    return { admin, reader, log, state, claims, definitions, deadLetters: new DeadLetters(deadLetterView) };
  }

  /** Waits for the set-up; rejects once the store is closed. */
  private async use(): Promise<Parts> {
    if (this.closed) throw new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed');
    return this.parts ?? this.started;
  }

  /** Runs a call that reaches Kafka; a failure of Kafka itself answers "store unavailable". */
  private async guard<T>(what: string, task: (parts: Parts) => Promise<T>): Promise<T> {
    const parts = await this.use();
    try {
      return await task(parts);
    } catch (error) {
      if (error instanceof HeraldError) throw error;
      throw unavailable(`${what} failed: ${describeError(error)}`, error);
    }
  }

  // ---- the log ---------------------------------------------------------------------------------

  async append(inputs: readonly AppendInput[]): Promise<AppendOutcome[]> {
    if (this.closed) throw new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed');
    const parts = this.parts;
    if (parts === undefined || !this.isReady())
      throw unavailable('the kafka store is not connected to Kafka');
    if (inputs.length === 0) return [];
    return parts.log.append(inputs);
  }

  read(from: number, limit: number): Promise<StoredEvent[]> {
    return this.guard('reading the event topic', (parts) => parts.log.read(from, limit));
  }

  waitForAppend(after: number, signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.resolve();
    const parts = this.parts;
    if (parts !== undefined) return parts.log.waitForAppend(after, signal);
    return this.started.then(
      (p) => p.log.waitForAppend(after, signal),
      () => undefined,
    );
  }

  stats(): Promise<LogStats> {
    return this.guard('reading the event topic offsets', (parts) => parts.log.stats());
  }

  sequenceAt(time: number): Promise<number> {
    return this.guard('looking up an offset by time', (parts) => parts.log.sequenceAt(time));
  }

  private hasRetention(): boolean {
    const { maxAgeMs, maxEvents, maxBytes } = this.retention;
    return maxAgeMs > 0 || maxEvents > 0 || maxBytes > 0;
  }

  /** Deletes the events beyond the retention limits now (also runs every `retentionCheckMs`). */
  applyRetention(): Promise<void> {
    return this.guard('applying retention', (parts) => parts.log.applyRetention());
  }

  private async retentionPass(): Promise<void> {
    try {
      await this.applyRetention();
    } catch (error) {
      this.logger?.warn({ err: describeError(error) }, 'applying retention failed; will retry');
    }
  }

  // ---- cursors ---------------------------------------------------------------------------------

  getCursor(subscription: string): Promise<number | undefined> {
    return this.guard('reading a cursor', async ({ state }) => {
      await state.sync();
      const record = state.get(`${CURSOR}${subscription}`);
      return record?.value == null ? undefined : Number(record.value.toString('utf8'));
    });
  }

  commitCursor(subscription: string, next: number): Promise<void> {
    return this.guard('committing a cursor', async ({ state }) => {
      await state.write([{ key: `${CURSOR}${subscription}`, value: Buffer.from(String(next)) }]);
    });
  }

  /**
   * The holder's commits (see `EventStore.commitCursors`). Kafka has no compare-and-set, so each is judged
   * where it landed, as claims are: once the view has read the records back, a cursor record written over
   * a stored cursor at a time this process did not hold the claim (judged from the log up to the record,
   * as every process judges it) is taken back — the value it landed on is written again. Without that a
   * replica that stalled past its claim and woke to commit before it noticed the loss wrote its old
   * position over the new holder's, and the replica taking over after the new holder died delivered again
   * what had been delivered and committed. A cursor written again after the record needs nothing: it is
   * no longer the one read.
   */
  commitCursors(list: ReadonlyArray<readonly [string, number]>): Promise<void> {
    if (list.length === 0) return Promise.resolve();
    return this.guard('committing cursors', async ({ state, claims }) => {
      const keys = list.map(([subscription]) => `${CURSOR}${subscription}`);
      // Read and start tracking at one moment: the tracker and this tell what each record landed on.
      const before = keys.map((key) => state.get(key)?.value ?? undefined);
      const trackers = keys.map((key) => state.track(key));
      try {
        const offsets = await state.write(
          list.map(([, next], i) => ({ key: keys[i] as string, value: Buffer.from(String(next)) })),
        );
        const undo: StaleCursor[] = [];
        list.forEach(([subscription], i) => {
          const key = keys[i] as string;
          const offset = offsets[i] as number;
          const written = state.get(key);
          if (written?.offset !== offset) return;
          const landedOn = lastBefore(trackers[i]?.seen ?? [], offset, before[i]);
          // None stored before (a subscription being created): nothing to move back.
          if (landedOn === undefined) return;
          if (claims.heldAt(claimIdsOfCursor(subscription), written.timestamp, offset)) return;
          this.logger?.warn({ subscription }, 'took back a cursor commit of a claim this process had lost');
          undo.push({ key, value: landedOn, offset, tracker: trackers[i] });
        });
        if (undo.length > 0) await this.restoreCursors(state, undo);
      } finally {
        for (const tracker of trackers) tracker.stop();
      }
    });
  }

  /**
   * Writes back what stale cursor records landed on. A record of the key between the stale one and the
   * write back (the holder committed, or the cursor was deleted, meanwhile) is the newer value: written back
   * in turn, a few times at
   * most — the holder commits at most every commit round, so this settles at once in practice.
   */
  private async restoreCursors(state: CompactedView, undo: readonly StaleCursor[]): Promise<void> {
    let pending = undo;
    for (let round = 0; round < 5 && pending.length > 0; round++) {
      const offsets = await state.write(pending.map(({ key, value }) => ({ key, value })));
      const next: StaleCursor[] = [];
      pending.forEach((item, i) => {
        const offset = offsets[i] as number;
        const between = (item.tracker?.seen ?? []).filter((r) => r.offset > item.offset && r.offset < offset);
        const newer = between[between.length - 1];
        if (newer !== undefined) next.push({ ...item, value: newer.value ?? undefined, offset });
      });
      pending = next;
    }
  }

  deleteCursor(subscription: string): Promise<void> {
    return this.guard('deleting a cursor', async ({ state }) => {
      await state.write([{ key: `${CURSOR}${subscription}`, value: undefined }]);
    });
  }

  // ---- dead letters ----------------------------------------------------------------------------

  addDeadLetter(letter: NewDeadLetter): Promise<AddedDeadLetter> {
    return this.guard('storing a dead letter', ({ deadLetters }) => deadLetters.add(letter));
  }

  listDeadLetters(
    subscription: string,
    limit: number,
    after?: string,
    maxBytes?: number,
  ): Promise<DeadLetter[]> {
    return this.guard('listing dead letters', ({ deadLetters }) =>
      deadLetters.list(subscription, limit, after, maxBytes),
    );
  }

  countDeadLetters(subscription: string): Promise<number> {
    return this.guard('counting dead letters', ({ deadLetters }) => deadLetters.count(subscription));
  }

  deleteAllDeadLetters(subscription: string): Promise<void> {
    return this.guard('deleting dead letters', ({ deadLetters }) => deadLetters.deleteAll(subscription));
  }

  deleteDeadLetters(subscription: string, ids: readonly string[]): Promise<void> {
    return this.guard('deleting dead letters', ({ deadLetters }) => deadLetters.delete(subscription, ids));
  }

  trimDeadLetters(limits: DeadLetterLimits, now: number): Promise<DroppedDeadLetters[]> {
    return this.guard('trimming dead letters', ({ deadLetters }) => deadLetters.trim(limits, now));
  }

  // ---- subscription definitions ----------------------------------------------------------------

  // Every write of a definition holds a lease on its id among all replicas: see `Definitions`.

  putSubscription(record: SubscriptionRecord): Promise<void> {
    return this.guard('storing a subscription', ({ definitions }) => definitions.put([record], []));
  }

  /**
   * Several definitions and the initial cursors of new ones in one produce request: one record batch on
   * one partition, so all are stored or none; the cursors come first in it, never after their definition.
   */
  putSubscriptions(
    records: readonly SubscriptionRecord[],
    cursors: ReadonlyArray<readonly [subscription: string, next: number]> = [],
  ): Promise<void> {
    if (records.length === 0 && cursors.length === 0) return Promise.resolve();
    return this.guard('storing subscriptions', ({ definitions }) => definitions.put(records, cursors));
  }

  /**
   * Kafka has no compare-and-set: the check and the write hold the id's definition lease, so no other
   * replica writes the definition between them (see `Definitions` for the one window left). A change
   * never lands on a delete or a change it did not see, and nothing is written back.
   */
  replaceSubscription(record: SubscriptionRecord, stillThis?: (stored: string) => boolean): Promise<boolean> {
    return this.guard('replacing a subscription', ({ definitions }) =>
      definitions.replace(record, stillThis ?? (() => true)),
    );
  }

  deleteSubscription(id: string): Promise<boolean> {
    return this.guard('deleting a subscription', ({ definitions }) => definitions.delete(id));
  }

  listSubscriptions(): Promise<SubscriptionRecord[]> {
    return this.guard('listing subscriptions', async ({ state }) => {
      await state.sync();
      const records: SubscriptionRecord[] = [];
      for (const [key, record] of state.withPrefix(SUBSCRIPTION)) {
        records.push({ id: key.slice(SUBSCRIPTION.length), document: record.value?.toString('utf8') ?? '' });
      }
      return records.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    });
  }

  /** The view caught up to the state topic's end: its listeners were told of every record before it. */
  syncSubscriptions(): Promise<void> {
    return this.guard('reading subscriptions', ({ state }) => state.sync());
  }

  watchSubscriptions(listener: (id: string, record: SubscriptionRecord | undefined) => void): () => void {
    let stop: (() => void) | undefined;
    let stopped = false;
    const attach = (parts: Parts) => {
      if (stopped) return;
      stop = parts.state.listen((key, record) => {
        if (!key.startsWith(SUBSCRIPTION)) return;
        const id = key.slice(SUBSCRIPTION.length);
        listener(
          id,
          record === undefined ? undefined : { id, document: record.value?.toString('utf8') ?? '' },
        );
      });
    };
    if (this.parts !== undefined) attach(this.parts);
    else this.started.then(attach, () => undefined);
    return () => {
      stopped = true;
      stop?.();
    };
  }

  // ---- claims ----------------------------------------------------------------------------------

  async claim(subscription: string, onLost: () => void): Promise<boolean> {
    if (this.closed) return false;
    const { claims } = await this.use();
    return claims.claim(subscription, onLost);
  }

  /** Without its parts (not started, or stopped) the store holds no claim. */
  holdsClaim(subscription: string): boolean {
    return this.parts?.claims.holds(subscription) === true;
  }

  async release(subscription: string): Promise<void> {
    await this.parts?.claims.release(subscription);
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  private async stopParts(parts: Parts): Promise<void> {
    await Promise.all([parts.log.stop(), parts.state.stop(), parts.deadLetters.stop()]);
    await Promise.all([parts.reader.close(), parts.admin.close()]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const parts = this.parts;
    if (parts !== undefined) await parts.claims.close().catch(() => undefined);
    this.closed = true;
    this.stopController.abort();
    this.rejectStarted(new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed'));
    if (this.retentionTimer !== undefined) clearInterval(this.retentionTimer);
    this.parts = undefined;
    if (parts !== undefined) {
      parts.log.abortWaiters();
      await this.stopParts(parts);
    }
    await Promise.all([this.eventProducer.close(), this.stateProducer.close()]);
  }
}

/** Opens the Kafka store without waiting for Kafka: `isReady()` turns true once it answers. */
export function createKafkaStore(options: KafkaStoreOptions): KafkaEventStore {
  return new KafkaEventStore(options);
}
