import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
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
  StoreNotReady,
  SubscriptionRecord,
} from '../types.js';
import { JetStreamClaims } from './claims.js';
import { MIN_SERVER_VERSION, connectToNats, versionAtLeast } from './connection.js';
import { JetStreamDeadLetters } from './dead-letters.js';
import { JetStreamDefinitions } from './definitions.js';
import { JetStreamEventLog } from './event-log.js';
import type { EventLogCounters } from './event-log.js';
import { natsConnectOptions } from './nats-connect-options.js';
import type { NatsConnectionSecurity } from './nats-connect-options.js';
import { connectFailure, setUpFailure } from './not-ready.js';
import type { JetStreamNotReady } from './not-ready.js';
import {
  deadLetterStreamConfig,
  duplicateWindowMs,
  ensureStream,
  eventStreamConfig,
  openBuckets,
} from './streams.js';
import type { Handles, StoreContext, StoreLogger, StoreNames } from './support.js';
import { storeNames } from './support.js';

export { MIN_SERVER_VERSION } from './connection.js';
export type { StoreLogger } from './support.js';

export interface JetStreamStoreOptions {
  /** NATS server URL(s): a list, or one string with comma-separated URLs (nats://, tls://, user info). */
  readonly servers: string | readonly string[];
  /** Credentials and TLS for the NATS connection. */
  readonly security?: NatsConnectionSecurity;
  /** Names the stream (`HERALD_<broker>`), its subjects (`herald.<broker>.…`) and the KV buckets. */
  readonly brokerName?: string;
  /** Stream `duplicate_window`; 0 turns deduplication off. Default 2 minutes. */
  readonly dedupeWindowMs?: number;
  /** Stream limits: `max_age`, `max_msgs`, `max_bytes` (discard old). */
  readonly retention?: Partial<RetentionPolicy>;
  /** `num_replicas` of the stream, the dead-letter stream and the KV buckets (1, 3 or 5). Default 1. */
  readonly replicas?: number;
  /** How long a subscription claim outlives a replica that stopped renewing it. Default 6 s. */
  readonly claimTtlMs?: number;
  /** Timeout of one JetStream request (publish, API call). Default 2 s. */
  readonly requestTimeoutMs?: number;
  /** How long one append retries transient failures before answering "store unavailable". Default 6 s. */
  readonly publishRetryMs?: number;
  /** Most distinct events one append may carry: the server's atomic batch limit. Default 1000. */
  readonly maxAtomicBatch?: number;
  /** Atomic batches this process keeps open at once (the server allows 50 per stream). Default 8. */
  readonly maxConcurrentBatches?: number;
  /**
   * Groups of single-event publishes awaiting their PubAcks at once; what arrives meanwhile forms the
   * next group. Default 1 (bench/PROFILE.md, twentieth round).
   */
  readonly maxPublishGroupsInFlight?: number;
  /** While readers wait for appends, how often the stream's last sequence is re-read in case a notification was lost. Default 1 s. */
  readonly notificationCheckMs?: number;
  readonly logger?: StoreLogger;
}

/**
 * The NATS JetStream event store: one stream per broker whose sequence is Herald's sequence, cursors,
 * subscription definitions and claims in KV buckets, dead letters in a second stream. Several broker
 * processes may share it; clustering, replication and failover are JetStream's. This class connects and
 * sets up; the log (`event-log.ts`), definitions and cursors (`definitions.ts`), claims (`claims.ts`) and
 * dead letters (`dead-letters.ts`) each live in their own part.
 *
 * @remarks
 * - `append` resolves only after JetStream acknowledged every message. Single events asked for in one
 *   turn of the event loop are published together (group commit), each still answered by its own
 *   PubAck; one group awaits its acks at a time, and what arrives meanwhile forms the next one. Several distinct events go in one atomic batch (ADR-50, server 2.12+), so a request is
 *   stored whole or not at all and its sequences are contiguous. A batch naming an event already stored
 *   within the dedupe window is rejected by the server as a whole; it is then stored event by event
 *   (see `docs/jetstream.md` for what that means).
 * - Readers in this process are woken by the PubAcks and read this process's recent appends from
 *   memory; readers in other processes are woken by one headers-only announcement per turn of the
 *   event loop on `herald.<broker>.appended`, and read from the stream. A slow re-check covers an
 *   announcement that was lost (a process that died right after an ack, a leader change).
 * - Connecting never fails: until NATS answers, `isReady()` is false and appends are refused with
 *   `HERALD_STORE_UNAVAILABLE`; other calls wait for the connection.
 *
 * @example
 * ```ts
 * const store = createJetStreamStore({ servers: 'nats://127.0.0.1:4222', brokerName: 'default' });
 * await store.whenReady();
 * await store.append([{ event }]);
 * ```
 */
export class JetStreamEventStore implements EventStore {
  readonly kind = 'jetstream';
  readonly streamName: string;
  readonly subject: string;
  readonly notifySubject: string;
  readonly deadLetterStream: string;
  readonly bucketPrefix: string;
  private readonly names: StoreNames;
  private readonly servers: string[];
  private readonly security: NatsConnectionSecurity;
  private notReady: JetStreamNotReady = { cause: 'nats-connecting', detail: 'connecting to NATS' };
  private readonly dedupeWindowMs: number;
  private readonly retention: RetentionPolicy;
  private readonly replicas: number;
  private readonly claimTtlMs: number;
  private readonly requestTimeoutMs: number;
  private readonly publishRetryMs: number;
  private readonly retryWindowMs: number;
  private readonly logger: StoreLogger | undefined;
  private readonly stopController = new AbortController();
  private readonly log: JetStreamEventLog;
  private readonly definitions: JetStreamDefinitions;
  private readonly claims: JetStreamClaims;
  private readonly deadLetters: JetStreamDeadLetters;
  private handles: Handles | undefined;
  private readonly started: Promise<Handles>;
  private resolveStarted!: (handles: Handles) => void;
  private rejectStarted!: (error: unknown) => void;
  private connected = false;
  private closed = false;

  constructor(options: JetStreamStoreOptions) {
    this.names = storeNames(options.brokerName ?? 'default');
    this.streamName = this.names.stream;
    this.subject = this.names.subject;
    this.notifySubject = this.names.notifySubject;
    this.deadLetterStream = this.names.deadLetterStream;
    this.bucketPrefix = this.names.bucketPrefix;
    const servers = typeof options.servers === 'string' ? options.servers.split(',') : options.servers;
    this.servers = servers.map((s) => s.trim()).filter((s) => s !== '');
    this.security = options.security ?? {};
    this.dedupeWindowMs = options.dedupeWindowMs ?? 120_000;
    this.retention = {
      maxAgeMs: options.retention?.maxAgeMs ?? 0,
      maxEvents: options.retention?.maxEvents ?? 0,
      maxBytes: options.retention?.maxBytes ?? 0,
    };
    this.replicas = options.replicas ?? 1;
    this.claimTtlMs = options.claimTtlMs ?? 6_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 2_000;
    this.publishRetryMs = options.publishRetryMs ?? 6_000;
    // Within this time of its first attempt a publish may be sent again; doubled, as attempts stop at
    // half the duplicate window (event-log.ts).
    this.retryWindowMs = 2 * (this.publishRetryMs + this.requestTimeoutMs);
    this.logger = options.logger;
    this.started = new Promise<Handles>((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    // Callers that never wait must not see an unhandled rejection when the store closes first.
    this.started.catch(() => undefined);
    const context: StoreContext = {
      names: this.names,
      logger: this.logger,
      use: () => this.use(),
      pause: (ms) => this.pause(ms),
      isClosed: () => this.closed,
    };
    this.log = new JetStreamEventLog(
      context,
      {
        dedupeWindowMs: this.dedupeWindowMs,
        duplicateWindowMs: duplicateWindowMs(this.retention, this.dedupeWindowMs, this.retryWindowMs),
        requestTimeoutMs: this.requestTimeoutMs,
        publishRetryMs: this.publishRetryMs,
        maxAtomicBatch: options.maxAtomicBatch ?? 1000,
        maxConcurrentBatches: options.maxConcurrentBatches ?? 8,
        maxPublishGroupsInFlight: options.maxPublishGroupsInFlight ?? 1,
        notificationCheckMs: options.notificationCheckMs ?? 1_000,
        retention: this.retention,
      },
      () => (this.isReady() ? this.handles : undefined),
    );
    this.definitions = new JetStreamDefinitions(context, (ids) => this.claims.holdsAny(ids));
    this.claims = new JetStreamClaims(context, randomUUID(), this.claimTtlMs);
    this.deadLetters = new JetStreamDeadLetters(context, this.requestTimeoutMs, this.publishRetryMs);
    void this.run();
  }

  // ---- connection and set-up -------------------------------------------------------------------

  /** Resolves once NATS answered and the stream and buckets exist; rejects if the store closes first. */
  async whenReady(): Promise<void> {
    await this.started;
  }

  isReady(): boolean {
    return !this.closed && this.connected && this.handles !== undefined;
  }

  /** Which paths the log took (group commits, lagging-replica reads): for tests and diagnosis. */
  get counters(): Readonly<EventLogCounters> {
    return this.log.counters;
  }

  notReadyReason(): StoreNotReady | undefined {
    if (this.isReady()) return undefined;
    if (this.closed) return { cause: 'closed', detail: 'the store is closed' };
    return this.notReady;
  }

  /** Records why the store is not ready; logs when the cause changes, and every tenth attempt. */
  private failed(reason: JetStreamNotReady, error: unknown, attempt: number, servers?: string[]): void {
    const changed = reason.cause !== this.notReady.cause;
    this.notReady = reason;
    if (changed || attempt % 10 === 0) {
      this.logger?.warn(
        { cause: reason.cause, detail: reason.detail, err: error, attempt, servers },
        `the jetstream store is not ready: ${reason.detail}; retrying`,
      );
    }
  }

  private async pause(ms: number): Promise<void> {
    await delay(ms, undefined, { signal: this.stopController.signal }).catch(() => undefined);
  }

  /** Connects (retrying forever with backoff), then creates or updates the stream and buckets. */
  private async run(): Promise<void> {
    let nc: NatsConnection | undefined;
    const target = natsConnectOptions(this.servers, this.security);
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        nc = await connectToNats({
          servers: target.servers,
          name: `herald ${this.streamName}`,
          security: target.options,
        });
        break;
      } catch (error) {
        this.failed(connectFailure(error, target.security), error, attempt, target.redacted);
        await this.pause(Math.min(250 * 2 ** attempt, 5_000));
      }
    }
    if (nc === undefined) return;
    if (this.closed) {
      await nc.close().catch(() => undefined);
      return;
    }
    this.connected = true;
    this.notReady = {
      cause: 'jetstream-setup',
      detail: 'creating or checking the JetStream stream and buckets',
    };
    void this.followStatus(nc);
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const handles = await this.setUp(nc);
        if (this.closed) break;
        this.handles = handles;
        this.logger?.info(
          { stream: this.streamName, server: nc.info?.version, last: this.log.last },
          'jetstream store ready',
        );
        this.resolveStarted(handles);
        return;
      } catch (error) {
        this.failed(setUpFailure(error, this.replicas), error, attempt);
        await this.pause(Math.min(250 * 2 ** attempt, 5_000));
      }
    }
    await nc.close().catch(() => undefined);
  }

  private async followStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      switch (status.type) {
        case 'disconnect':
          this.connected = false;
          this.notReady = {
            cause: 'nats-disconnected',
            detail: 'the connection to NATS was lost; reconnecting',
          };
          this.logger?.warn({ server: status.server }, 'disconnected from NATS; reconnecting');
          break;
        case 'reconnect':
          this.connected = true;
          this.logger?.info({ server: status.server }, 'reconnected to NATS');
          this.log.reconnected();
          void this.log.refreshLast();
          break;
        case 'close':
          this.connected = false;
          break;
        default:
          break;
      }
    }
  }

  private async setUp(nc: NatsConnection): Promise<Handles> {
    const version = nc.info?.version;
    if (!versionAtLeast(version, MIN_SERVER_VERSION)) {
      throw new Error(
        `nats-server ${version ?? 'unknown'} is too old: the jetstream store needs ${MIN_SERVER_VERSION.join('.')} or later (atomic batch publish)`,
      );
    }
    const jsm = await jetstreamManager(nc, { timeout: this.requestTimeoutMs });
    const js = jsm.jetstream();
    const last = await ensureStream(
      jsm,
      eventStreamConfig(this.names, this.retention, this.dedupeWindowMs, this.replicas, this.retryWindowMs),
      this.logger,
    );
    await ensureStream(jsm, deadLetterStreamConfig(this.names, this.replicas), this.logger);
    const buckets = await openBuckets(jsm, {
      names: this.names,
      replicas: this.replicas,
      claimTtlMs: this.claimTtlMs,
      requestTimeoutMs: this.requestTimeoutMs,
      logger: this.logger,
    });
    this.log.attach(nc, last);
    await this.definitions.follow(buckets.subscriptions);
    return { nc, jsm, js, ...buckets };
  }

  /** Waits for the set-up; rejects once the store is closed. */
  private async use(): Promise<Handles> {
    if (this.closed) throw new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed');
    return this.handles ?? this.started;
  }

  // ---- the log ---------------------------------------------------------------------------------

  append(inputs: readonly AppendInput[]): Promise<AppendOutcome[]> {
    return this.log.append(inputs);
  }

  read(from: number, limit: number): Promise<StoredEvent[]> {
    return this.log.read(from, limit);
  }

  waitForAppend(after: number, signal?: AbortSignal): Promise<void> {
    return this.log.waitForAppend(after, signal);
  }

  stats(): Promise<LogStats> {
    return this.log.stats();
  }

  sequenceAt(time: number): Promise<number> {
    return this.log.sequenceAt(time);
  }

  /**
   * Removes events older than the retention age now. JetStream enforces `max_age` itself, but checks it
   * at most every 250 ms or so; this is for tests and operators who want it exact.
   */
  applyRetention(): Promise<void> {
    return this.log.applyRetention(this.retention.maxAgeMs);
  }

  // ---- cursors and subscription definitions ----------------------------------------------------

  getCursor(subscription: string): Promise<number | undefined> {
    return this.definitions.getCursor(subscription);
  }

  commitCursor(subscription: string, next: number): Promise<void> {
    return this.definitions.commitCursor(subscription, next);
  }

  commitCursors(list: ReadonlyArray<readonly [string, number]>): Promise<void> {
    return this.definitions.commitCursors(list);
  }

  deleteCursor(subscription: string): Promise<void> {
    return this.definitions.deleteCursor(subscription);
  }

  putSubscription(record: SubscriptionRecord): Promise<void> {
    return this.definitions.put(record);
  }

  putSubscriptions(
    records: readonly SubscriptionRecord[],
    cursors: ReadonlyArray<readonly [string, number]> = [],
  ): Promise<void> {
    return this.definitions.putMany(records, cursors);
  }

  replaceSubscription(record: SubscriptionRecord, stillThis?: (stored: string) => boolean): Promise<boolean> {
    return this.definitions.replace(record, stillThis);
  }

  deleteSubscription(id: string): Promise<boolean> {
    return this.definitions.delete(id);
  }

  listSubscriptions(): Promise<SubscriptionRecord[]> {
    return this.definitions.list();
  }

  watchSubscriptions(listener: (id: string, record: SubscriptionRecord | undefined) => void): () => void {
    return this.definitions.watch(listener);
  }

  syncSubscriptions(): Promise<void> {
    return this.definitions.sync();
  }

  // ---- dead letters ----------------------------------------------------------------------------

  addDeadLetter(letter: NewDeadLetter): Promise<AddedDeadLetter> {
    return this.deadLetters.add(letter);
  }

  listDeadLetters(
    subscription: string,
    limit: number,
    after?: string,
    maxBytes?: number,
  ): Promise<DeadLetter[]> {
    return this.deadLetters.list(subscription, limit, after, maxBytes);
  }

  countDeadLetters(subscription: string): Promise<number> {
    return this.deadLetters.count(subscription);
  }

  deleteDeadLetters(subscription: string, ids: readonly string[]): Promise<void> {
    return this.deadLetters.delete(subscription, ids);
  }

  deleteAllDeadLetters(subscription: string): Promise<void> {
    return this.deadLetters.deleteAll(subscription);
  }

  trimDeadLetters(limits: DeadLetterLimits, now: number): Promise<DroppedDeadLetters[]> {
    return this.deadLetters.trim(limits, now);
  }

  // ---- claims ----------------------------------------------------------------------------------

  /**
   * A claim is a KV key holding this process's owner id, renewed every third of the TTL with a
   * compare-and-set; a renewal that fails, or a lease that ran out locally, calls `onLost` at once.
   */
  claim(subscription: string, onLost: () => void): Promise<boolean> {
    return this.claims.claim(subscription, onLost);
  }

  holdsClaim(subscription: string): boolean {
    return this.claims.holds(subscription);
  }

  release(subscription: string): Promise<void> {
    return this.claims.release(subscription);
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  async close(): Promise<void> {
    if (this.closed) return;
    await this.claims.close();
    this.closed = true;
    this.stopController.abort();
    this.rejectStarted(new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed'));
    this.log.close();
    this.definitions.stop();
    const nc = this.handles?.nc;
    this.handles = undefined;
    this.connected = false;
    if (nc !== undefined) {
      await Promise.race([nc.drain(), delay(2_000)]).catch(() => undefined);
      await nc.close().catch(() => undefined);
    }
    this.log.abandon();
  }
}

/** Opens the JetStream store without waiting for NATS: `isReady()` turns true once it answers. */
export function createJetStreamStore(options: JetStreamStoreOptions): JetStreamEventStore {
  return new JetStreamEventStore(options);
}
