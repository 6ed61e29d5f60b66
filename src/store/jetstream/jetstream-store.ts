import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy as JsRetentionPolicy,
  StorageType,
  jetstreamManager,
} from '@nats-io/jetstream';
import type {
  JetStreamClient,
  JetStreamManager,
  MsgRequest,
  StoredMsg,
  StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, KvWatchInclude } from '@nats-io/kv';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { connect, headers as natsHeaders, nanos, nuid } from '@nats-io/transport-node';
import type { Msg, MsgHdrs, NatsConnection, QueuedIterator, Subscription } from '@nats-io/transport-node';
import { HeraldError } from '../../errors/index.js';
import type {
  AppendInput,
  AppendOutcome,
  DeadLetter,
  EventStore,
  LogStats,
  NewDeadLetter,
  RetentionPolicy,
  StoredEvent,
  StoreNotReady,
  SubscriptionRecord,
} from '../types.js';
import { KeyedSerial } from '../keyed-serial.js';
import { AppendWaiters } from '../waiters.js';
import {
  decodeDeadLetter,
  decodeEvent,
  decodeToken,
  encodeDeadLetter,
  encodeEvent,
  encodeToken,
} from './codec.js';
import type { EncodedRecord } from './codec.js';
import { natsConnectOptions } from './nats-connect-options.js';
import type { NatsConnectionSecurity } from './nats-connect-options.js';
import { connectFailure, setUpFailure } from './not-ready.js';
import type { JetStreamNotReady } from './not-ready.js';

/** The part of a pino logger the store uses. */
export interface StoreLogger {
  info(object: Record<string, unknown>, message: string): void;
  warn(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

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
  /** While readers wait for appends, how often the stream's last sequence is re-read in case a notification was lost. Default 1 s. */
  readonly notificationCheckMs?: number;
  readonly logger?: StoreLogger;
}

/** Oldest nats-server this adapter runs on: atomic batch publish arrived in 2.12. */
export const MIN_SERVER_VERSION = [2, 12] as const;

const ATOMIC_DUPLICATE = 10201; // JSAtomicPublishContainsDuplicateMessageErr
const INCOMPLETE_BATCH = 10176; // JSAtomicPublishIncompleteBatchErr
const PERMANENT_TOO_LARGE = new Set([
  10054, // JSStreamMessageExceedsMaximumErr
  10097, // JSStreamHeaderExceedsMaximumErr
  10199, // JSAtomicPublishTooLargeBatchErrF
]);
const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);
const BATCH_ACK_EVERY = 64;

type Listener = (id: string, record: SubscriptionRecord | undefined) => void;

interface Handles {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly js: JetStreamClient;
  readonly cursors: KV;
  readonly subscriptions: KV;
  readonly claims: KV;
}

interface HeldClaim {
  revision: number;
  onLost: () => void;
  readonly timer: NodeJS.Timeout;
  /** When the request behind the current lease was sent: the lease runs until this plus the TTL. */
  leaseFrom: number;
  renewal: Promise<void> | undefined;
}

/** An atomic batch that named an event already stored: it stored nothing. */
class DuplicateInBatch extends Error {}

class Semaphore {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  constructor(private readonly size: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

function unavailable(detail: string, cause?: unknown): HeraldError {
  return new HeraldError('HERALD_STORE_UNAVAILABLE', detail, {
    retryAfter: 1,
    ...(cause === undefined ? {} : { cause }),
  });
}

function apiCode(error: unknown): number | undefined {
  return error instanceof JetStreamApiError ? error.code : undefined;
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: unknown; code?: unknown; message?: unknown };
  return (
    (e.name === 'JetStreamStatusError' && e.code === 404) ||
    apiCode(error) === 10037 ||
    e.message === 'message not found'
  );
}

function isStreamNotFound(error: unknown): boolean {
  return apiCode(error) === 10059 || (error as Error).message === 'stream not found';
}

function versionAtLeast(version: string | undefined, [major, minor]: readonly [number, number]): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(version ?? '');
  if (m === null) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

function buildHeaders(pairs: EncodedRecord['headers'], msgId: string | undefined): MsgHdrs {
  const h = natsHeaders();
  for (const [name, value] of pairs) h.set(name, value);
  if (msgId !== undefined) h.set('Nats-Msg-Id', msgId);
  return h;
}

/**
 * The NATS JetStream event store: one stream per broker whose sequence is Herald's sequence, cursors,
 * subscription definitions and claims in KV buckets, dead letters in a second stream. Several broker
 * processes may share it; clustering, replication and failover are JetStream's.
 *
 * @remarks
 * - `append` resolves only after JetStream acknowledged every message. Several distinct events go in one
 *   atomic batch (ADR-50, server 2.12+), so a request is stored whole or not at all and its sequences are
 *   contiguous. A batch naming an event already stored within the dedupe window is rejected by the
 *   server as a whole; it is then stored event by event (see `docs/jetstream.md` for what that means).
 * - Readers are woken by the stream's headers-only republish of every stored message (cheap: no
 *   payload), so appends by other processes wake them too; a slow re-check covers notifications lost
 *   while a stream leader changes.
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
  private readonly deadLetterPrefix: string;
  private readonly servers: string[];
  private readonly security: NatsConnectionSecurity;
  private notReady: JetStreamNotReady = { cause: 'nats-connecting', detail: 'connecting to NATS' };
  private readonly dedupeWindowMs: number;
  private readonly retention: RetentionPolicy;
  private readonly replicas: number;
  private readonly claimTtlMs: number;
  private readonly requestTimeoutMs: number;
  private readonly publishRetryMs: number;
  private readonly maxAtomicBatch: number;
  private readonly notificationCheckMs: number;
  private readonly logger: StoreLogger | undefined;
  private readonly batches: Semaphore;
  private readonly owner = randomUUID();
  private readonly stopController = new AbortController();
  private readonly waiters = new AppendWaiters();
  private readonly listeners = new Set<Listener>();
  private readonly held = new Map<string, HeldClaim>();
  private readonly claiming = new KeyedSerial();
  private handles: Handles | undefined;
  private readonly started: Promise<Handles>;
  private resolveStarted!: (handles: Handles) => void;
  private rejectStarted!: (error: unknown) => void;
  private notifications: Subscription | undefined;
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  private watchRevision = 0;
  private connected = false;
  private closed = false;
  private lastSequence = 0;
  private maxPayload = 1024 * 1024;
  private waiting = 0;
  private checkTimer: NodeJS.Timeout | undefined;

  constructor(options: JetStreamStoreOptions) {
    const broker = options.brokerName ?? 'default';
    this.streamName = `HERALD_${broker}`;
    this.subject = `herald.${broker}.events`;
    this.notifySubject = `herald.${broker}.appended`;
    this.deadLetterStream = `HERALD_${broker}_deadletters`;
    this.deadLetterPrefix = `herald.${broker}.deadletters`;
    this.bucketPrefix = `herald_${broker}`;
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
    this.maxAtomicBatch = options.maxAtomicBatch ?? 1000;
    this.notificationCheckMs = options.notificationCheckMs ?? 1_000;
    this.logger = options.logger;
    this.batches = new Semaphore(options.maxConcurrentBatches ?? 8);
    this.started = new Promise<Handles>((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    // Callers that never wait must not see an unhandled rejection when the store closes first.
    this.started.catch(() => undefined);
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
        nc = await connect({
          ...target.options,
          servers: target.servers,
          name: `herald ${this.streamName}`,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1_000,
          reconnectJitter: 500,
          timeout: 5_000,
          pingInterval: 10_000,
          maxPingOut: 3,
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
          { stream: this.streamName, server: nc.info?.version, last: this.lastSequence },
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
          void this.refreshLast();
          break;
        case 'close':
          this.connected = false;
          break;
        default:
          break;
      }
    }
  }

  private eventStreamConfig(): Partial<StreamConfig> & { name: string } {
    const { maxAgeMs, maxEvents, maxBytes } = this.retention;
    const maxAge = maxAgeMs > 0 ? Math.max(maxAgeMs, 100) : 0;
    let window = Math.max(this.dedupeWindowMs, 100);
    if (maxAge > 0) window = Math.min(window, maxAge);
    return {
      name: this.streamName,
      description: 'Herald event log',
      subjects: [this.subject],
      retention: JsRetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: this.replicas,
      discard: DiscardPolicy.Old,
      max_age: nanos(maxAge),
      max_msgs: maxEvents > 0 ? maxEvents : -1,
      max_bytes: maxBytes > 0 ? maxBytes : -1,
      duplicate_window: nanos(window),
      allow_direct: true,
      allow_atomic: true,
      republish: { src: this.subject, dest: this.notifySubject, headers_only: true },
    };
  }

  private deadLetterStreamConfig(): Partial<StreamConfig> & { name: string } {
    return {
      name: this.deadLetterStream,
      description: 'Herald dead letters, one subject per subscription',
      subjects: [`${this.deadLetterPrefix}.>`],
      retention: JsRetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: this.replicas,
      discard: DiscardPolicy.Old,
      allow_direct: true,
    };
  }

  /** Creates the stream, or brings the settings Herald owns in line with the configuration. */
  private async ensureStream(jsm: JetStreamManager, wanted: Partial<StreamConfig> & { name: string }) {
    let current: StreamConfig;
    try {
      current = (await jsm.streams.info(wanted.name)).config;
    } catch (error) {
      if (!isStreamNotFound(error)) throw error;
      return (await jsm.streams.add(wanted)).state.last_seq;
    }
    const differs = (Object.keys(wanted) as Array<keyof StreamConfig>).some(
      (key) => key !== 'description' && JSON.stringify(current[key]) !== JSON.stringify(wanted[key]),
    );
    if (differs) {
      this.logger?.info({ stream: wanted.name }, 'updating the JetStream stream configuration');
      return (await jsm.streams.update(wanted.name, { ...current, ...wanted })).state.last_seq;
    }
    return (await jsm.streams.info(wanted.name)).state.last_seq;
  }

  private async setUp(nc: NatsConnection): Promise<Handles> {
    const version = nc.info?.version;
    if (!versionAtLeast(version, MIN_SERVER_VERSION)) {
      throw new Error(
        `nats-server ${version ?? 'unknown'} is too old: the jetstream store needs ${MIN_SERVER_VERSION.join('.')} or later (atomic batch publish)`,
      );
    }
    this.maxPayload = nc.info?.max_payload ?? this.maxPayload;
    const jsm = await jetstreamManager(nc, { timeout: this.requestTimeoutMs });
    const js = jsm.jetstream();
    const last = await this.ensureStream(jsm, this.eventStreamConfig());
    await this.ensureStream(jsm, this.deadLetterStreamConfig());
    const kvm = new Kvm(js);
    const bucket = async (name: string, ttl?: number) => {
      const kv = await kvm.create(`${this.bucketPrefix}_${name}`, {
        history: 1,
        replicas: this.replicas,
        storage: StorageType.File,
        // Reads go to the stream leader: a replica that lags must never hand out an old cursor or claim.
        allow_direct: false,
        timeout: this.requestTimeoutMs,
        ...(ttl === undefined ? {} : { ttl }),
      });
      // `create` opens an existing bucket as it is: bring replicas and TTL in line with the configuration.
      await this.ensureStream(jsm, {
        name: `KV_${this.bucketPrefix}_${name}`,
        num_replicas: this.replicas,
        // JetStream requires duplicate_window <= max_age; a new bucket gets exactly that.
        ...(ttl === undefined ? {} : { max_age: nanos(ttl), duplicate_window: nanos(ttl) }),
      });
      return kv;
    };
    const cursors = await bucket('cursors');
    const subscriptions = await bucket('subscriptions');
    const claims = await bucket('claims', this.claimTtlMs);
    this.notifications ??= nc.subscribe(this.notifySubject, {
      callback: (error, msg) => {
        if (error === null) this.onNotification(msg);
      },
    });
    await this.watchDefinitions(subscriptions);
    this.bump(last);
    return { nc, jsm, js, cursors, subscriptions, claims };
  }

  /** Waits for the set-up; rejects once the store is closed. */
  private async use(): Promise<Handles> {
    if (this.closed) throw new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed');
    return this.handles ?? this.started;
  }

  // ---- appends ---------------------------------------------------------------------------------

  private onNotification(msg: Msg): void {
    const sequence = Number(msg.headers?.get('Nats-Sequence'));
    if (Number.isFinite(sequence)) this.bump(sequence);
  }

  private bump(sequence: number): void {
    if (sequence > this.lastSequence) {
      this.lastSequence = sequence;
      this.waiters.notify(sequence);
    }
  }

  private async refreshLast(): Promise<void> {
    try {
      const { jsm } = await this.use();
      this.bump((await jsm.streams.info(this.streamName)).state.last_seq);
    } catch {
      // The next check (or notification) will do.
    }
  }

  async append(inputs: readonly AppendInput[]): Promise<AppendOutcome[]> {
    if (this.closed) throw new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed');
    const handles = this.handles;
    if (handles === undefined || !this.isReady())
      throw unavailable('the jetstream store is not connected to NATS');
    if (inputs.length === 0) return [];
    const dedupe = this.dedupeWindowMs > 0;
    const records = inputs.map(({ event, trace }) => encodeEvent(event, trace, dedupe));
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
    // The same (source, id) twice in one request: the second is a duplicate of the first.
    const first = new Map<string, number>();
    const unique: number[] = [];
    records.forEach((record, index) => {
      if (record.msgId === undefined) unique.push(index);
      else if (!first.has(record.msgId)) {
        first.set(record.msgId, index);
        unique.push(index);
      }
    });
    if (unique.length > this.maxAtomicBatch) {
      throw new HeraldError(
        'HERALD_PAYLOAD_TOO_LARGE',
        `a batch of ${unique.length} events cannot be stored atomically: the jetstream store takes at most ${this.maxAtomicBatch} per request`,
      );
    }
    const stored = await this.store(
      handles,
      unique.map((index) => records[index] as EncodedRecord),
    );
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
      return [await this.retrying(() => this.publishOne(handles, records[0] as EncodedRecord))];
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
    for (const record of records) outcomes.push(await this.retrying(() => this.publishOne(handles, record)));
    return outcomes;
  }

  /**
   * Runs one publish attempt until it succeeds, a permanent error occurs, or the retry budget is spent.
   * Retrying is safe: every message carries its `Nats-Msg-Id`, so a message stored by an attempt whose
   * acknowledgement was lost is recognised as a duplicate by the next one.
   */
  private async retrying<T>(attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.publishRetryMs;
    let wait = 50;
    for (;;) {
      try {
        return await attempt();
      } catch (error) {
        if (error instanceof DuplicateInBatch || error instanceof HeraldError) throw error;
        const code = apiCode(error);
        if (code !== undefined && PERMANENT_TOO_LARGE.has(code)) {
          throw new HeraldError('HERALD_PAYLOAD_TOO_LARGE', (error as Error).message, { cause: error });
        }
        if (this.closed)
          throw new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed', { cause: error });
        if (Date.now() + wait > deadline) {
          throw unavailable(`JetStream did not acknowledge the append: ${(error as Error).message}`, error);
        }
        await this.pause(wait);
        wait = Math.min(wait * 2, 1_000);
      }
    }
  }

  private async publishOne(handles: Handles, record: EncodedRecord): Promise<AppendOutcome> {
    const ack = await handles.js.publish(this.subject, record.body, {
      headers: buildHeaders(record.headers, record.msgId),
      timeout: this.requestTimeoutMs,
    });
    return { sequence: ack.seq, duplicate: ack.duplicate };
  }

  /** One ADR-50 atomic batch: the first and every `ackEvery`th message and the commit are requests. */
  private async publishBatch(
    handles: Handles,
    records: readonly EncodedRecord[],
    ackEvery: number,
  ): Promise<AppendOutcome[]> {
    const { nc } = handles;
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
        reply = await nc.request(this.subject, record.body, { headers, timeout: this.requestTimeoutMs });
        if (!commit && reply.data.byteLength > 0) parsePubAck(reply); // an error stops the batch
      } else {
        nc.publish(this.subject, record.body, { headers });
      }
    }
    const ack = parsePubAck(reply as Msg);
    if (ack.count !== count)
      throw new Error(`the batch ack counts ${String(ack.count)} messages, not ${count}`);
    return records.map((_, i) => ({ sequence: ack.seq - count + 1 + i, duplicate: false }));
  }

  // ---- reads -----------------------------------------------------------------------------------

  /**
   * A direct-get batch: any replica may answer (`allow_direct`), so the answer can lag behind the
   * leader; it never skips a message, it may only end early.
   */
  private async directBatch(
    handles: Handles,
    stream: string,
    options: { seq: number; batch: number; next_by_subj?: string },
  ): Promise<StoredMsg[]> {
    const out: StoredMsg[] = [];
    try {
      const iterator = await handles.jsm.direct.getBatch(stream, options);
      for await (const msg of iterator) out.push(msg);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    return out;
  }

  /**
   * Events from `from` on. An empty answer means there is nothing at or after `from` (the caller takes
   * it as "retention removed them"), so it is never given on the word of a lagging replica: when the
   * replica that answered has nothing but the leader's log goes further, the page comes from the leader.
   */
  async read(from: number, limit: number): Promise<StoredEvent[]> {
    const handles = await this.use();
    const start = Math.max(1, Math.floor(from));
    if (limit <= 0) return [];
    try {
      for (let attempt = 0; ; attempt++) {
        const page = await this.directBatch(handles, this.streamName, {
          seq: start,
          batch: Math.min(limit, 1024),
        });
        if (page.length > 0 || start > this.lastSequence) return this.toEvents(page);
        const { state } = await handles.jsm.streams.info(this.streamName);
        this.bump(state.last_seq);
        if (state.messages === 0 || state.last_seq < start) return [];
        if (attempt >= 2) return this.toEvents(await this.leaderPage(handles, start, limit));
        await this.pause(25 * 2 ** attempt);
      }
    } catch (error) {
      if (error instanceof HeraldError) throw error;
      throw unavailable(`reading the stream failed: ${(error as Error).message}`, error);
    }
  }

  /** Up to 32 messages from `start` on, one at a time from the stream leader (`STREAM.MSG.GET`). */
  private async leaderPage(handles: Handles, start: number, limit: number): Promise<StoredMsg[]> {
    const page: StoredMsg[] = [];
    let seq = start;
    while (page.length < Math.min(limit, 32)) {
      // The server's JSApiMsgGetRequest takes `next_by_subj` (the next message at or after `seq`);
      // the client's MsgRequest type leaves it out.
      const query = { seq, next_by_subj: this.subject } as unknown as MsgRequest;
      const msg = await handles.jsm.streams.getMessage(this.streamName, query);
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
        this.logger?.warn(
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

  waitForAppend(after: number, signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.waiting++;
    if (this.checkTimer === undefined && this.notificationCheckMs > 0) {
      this.checkTimer = setInterval(() => void this.refreshLast(), this.notificationCheckMs);
      this.checkTimer.unref();
    }
    return this.waiters.wait(after, this.lastSequence, signal).finally(() => {
      if (--this.waiting === 0 && this.checkTimer !== undefined) {
        clearInterval(this.checkTimer);
        this.checkTimer = undefined;
      }
    });
  }

  async stats(): Promise<LogStats> {
    const { jsm } = await this.use();
    const { state } = await jsm.streams.info(this.streamName);
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
    const { jsm } = await this.use();
    for (let attempt = 0; ; attempt++) {
      const msg = await jsm.direct.getMessage(this.streamName, { start_time: new Date(time) });
      if (msg !== null) return msg.seq;
      // None on the replica that answered; the leader says whether a later message exists at all.
      const { state } = await jsm.streams.info(this.streamName);
      this.bump(state.last_seq);
      if (state.messages === 0 || Date.parse(state.last_ts) < time || attempt >= 5) return state.last_seq + 1;
      await this.pause(20 * 2 ** attempt);
    }
  }

  /**
   * Removes events older than the retention age now. JetStream enforces `max_age` itself, but checks it
   * at most every 250 ms or so; this is for tests and operators who want it exact.
   */
  async applyRetention(): Promise<void> {
    if (this.retention.maxAgeMs <= 0) return;
    const { jsm } = await this.use();
    const keep = await this.sequenceAt(Date.now() - this.retention.maxAgeMs);
    await jsm.streams.purge(this.streamName, { seq: keep });
  }

  // ---- cursors ---------------------------------------------------------------------------------

  async getCursor(subscription: string): Promise<number | undefined> {
    const { cursors } = await this.use();
    const entry = await cursors.get(encodeToken(subscription));
    return entry === null || entry.operation !== 'PUT' ? undefined : Number(entry.string());
  }

  async commitCursor(subscription: string, next: number): Promise<void> {
    const { cursors } = await this.use();
    await cursors.put(encodeToken(subscription), String(next));
  }

  async commitCursors(list: ReadonlyArray<readonly [string, number]>): Promise<void> {
    const { cursors } = await this.use();
    await Promise.all(
      list.map(([subscription, next]) => cursors.put(encodeToken(subscription), String(next))),
    );
  }

  async deleteCursor(subscription: string): Promise<void> {
    const { cursors } = await this.use();
    await cursors.purge(encodeToken(subscription));
  }

  // ---- dead letters ----------------------------------------------------------------------------

  private deadLetterSubject(subscription: string): string {
    return `${this.deadLetterPrefix}.${encodeToken(subscription)}`;
  }

  async addDeadLetter(letter: NewDeadLetter): Promise<DeadLetter> {
    const { js } = await this.use();
    const record = encodeDeadLetter(letter);
    const ack = await js.publish(this.deadLetterSubject(letter.subscription), record.body, {
      headers: buildHeaders(record.headers, undefined),
      timeout: this.requestTimeoutMs,
    });
    return { ...letter, id: String(ack.seq) };
  }

  async listDeadLetters(subscription: string, limit: number, after?: string): Promise<DeadLetter[]> {
    const handles = await this.use();
    const subject = this.deadLetterSubject(subscription);
    const letters: DeadLetter[] = [];
    // Dead-letter ids are stream sequences, so `after` is where the next page starts.
    const start = after === undefined ? 1 : Number(after) + 1;
    let seq = Number.isSafeInteger(start) && start > 0 ? start : 1;
    while (letters.length < limit) {
      const page = await this.directBatch(handles, this.deadLetterStream, {
        seq,
        batch: Math.min(limit - letters.length, 256),
        next_by_subj: subject,
      });
      for (const msg of page) {
        const letter = decodeDeadLetter(String(msg.seq), subscription, msg.header, msg.data);
        if (letter !== undefined) letters.push(letter);
      }
      const last = page[page.length - 1];
      if (last === undefined || last.pending === 0) break;
      seq = last.seq + 1;
    }
    return letters.slice(0, limit);
  }

  async countDeadLetters(subscription: string): Promise<number> {
    const { jsm } = await this.use();
    const subject = this.deadLetterSubject(subscription);
    const info = await jsm.streams.info(this.deadLetterStream, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  async deleteDeadLetters(subscription: string, ids: readonly string[]): Promise<void> {
    const { jsm } = await this.use();
    const subject = this.deadLetterSubject(subscription);
    await Promise.all(
      ids.map(async (id) => {
        const seq = Number(id);
        if (!Number.isSafeInteger(seq) || seq <= 0) return;
        try {
          const msg = await jsm.streams.getMessage(this.deadLetterStream, { seq });
          if (msg?.subject === subject) await jsm.streams.deleteMessage(this.deadLetterStream, seq, false);
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      }),
    );
  }

  // ---- subscription definitions ----------------------------------------------------------------

  async putSubscription(record: SubscriptionRecord): Promise<void> {
    const { subscriptions } = await this.use();
    await subscriptions.put(encodeToken(record.id), record.document);
  }

  /**
   * JetStream KV has no multi-key transaction: the cursors, then the definitions, are each issued
   * together (two round trips' wait, not two per subscription). A failure part-way may leave some.
   */
  async putSubscriptions(
    records: readonly SubscriptionRecord[],
    cursors: ReadonlyArray<readonly [string, number]> = [],
  ): Promise<void> {
    if (cursors.length > 0) await this.commitCursors(cursors);
    const { subscriptions } = await this.use();
    await Promise.all(records.map((record) => subscriptions.put(encodeToken(record.id), record.document)));
  }

  async deleteSubscription(id: string): Promise<boolean> {
    const { subscriptions } = await this.use();
    const key = encodeToken(id);
    const entry = await subscriptions.get(key);
    if (entry === null || entry.operation !== 'PUT') return false;
    await subscriptions.delete(key);
    return true;
  }

  async listSubscriptions(): Promise<SubscriptionRecord[]> {
    const { subscriptions } = await this.use();
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

  watchSubscriptions(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** One KV watch (updates only) for all listeners; resumed after the last revision if it ends. */
  private async watchDefinitions(bucket: KV): Promise<void> {
    if (this.watcher !== undefined || this.closed) return;
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
              this.logger?.error({ err: error, subscription: id }, 'a subscription watcher failed');
            }
          }
        }
      } catch (error) {
        this.logger?.warn({ err: error }, 'the subscription watch ended; resuming');
      }
      this.watcher = undefined;
      while (!this.closed && this.watcher === undefined) {
        await this.pause(1_000);
        await this.watchDefinitions(bucket).catch(() => undefined);
      }
    })();
  }

  // ---- claims ----------------------------------------------------------------------------------

  /**
   * A claim is the KV key of the subscription holding this process's owner id. `create` succeeds only
   * when nobody holds it (or the last holder stopped renewing and the bucket's TTL removed it); it is
   * renewed every third of the TTL with a compare-and-set `update`. A renewal that fails, or a lease
   * that ran out locally, calls `onLost` at once.
   */
  claim(subscription: string, onLost: () => void): Promise<boolean> {
    // One attempt per subscription at a time, so that two callers never hold two leases for one key.
    return this.claiming.run(subscription, () => this.tryClaim(subscription, onLost));
  }

  private async tryClaim(subscription: string, onLost: () => void): Promise<boolean> {
    if (this.closed) return false;
    const { claims } = await this.use();
    const current = this.held.get(subscription);
    if (current !== undefined) {
      current.onLost = onLost;
      return true;
    }
    const key = encodeToken(subscription);
    const sentAt = Date.now();
    let revision: number;
    try {
      revision = await claims.create(key, this.owner);
    } catch (error) {
      if (!WRONG_LAST_SEQUENCE.has(apiCode(error) ?? 0)) {
        this.logger?.warn({ err: error, subscription }, 'claiming a subscription failed; will retry');
        return false;
      }
      // Held: by another replica, or by this process before a reconnect.
      const entry = await claims.get(key).catch(() => null);
      if (entry === null || entry.operation !== 'PUT' || entry.string() !== this.owner) return false;
      try {
        revision = await claims.update(key, this.owner, entry.revision, this.claimTtlMs / 3);
      } catch {
        return false;
      }
    }
    if (this.closed) return false;
    const timer = setInterval(() => this.renew(subscription), Math.max(this.claimTtlMs / 3, 50));
    timer.unref();
    this.held.set(subscription, { revision, onLost, timer, leaseFrom: sentAt, renewal: undefined });
    return true;
  }

  private renew(subscription: string): void {
    const claim = this.held.get(subscription);
    if (claim === undefined || claim.renewal !== undefined) return;
    if (Date.now() - claim.leaseFrom >= this.claimTtlMs) {
      // The event loop stalled past the lease: another replica may hold it already.
      this.lose(subscription, claim, new Error('the claim lease ran out before it could be renewed'));
      return;
    }
    const sentAt = Date.now();
    claim.renewal = (async () => {
      try {
        const { claims } = await this.use();
        claim.revision = await claims.update(
          encodeToken(subscription),
          this.owner,
          claim.revision,
          this.claimTtlMs / 3,
        );
        claim.leaseFrom = sentAt;
      } catch (error) {
        if (this.held.get(subscription) === claim) this.lose(subscription, claim, error);
      } finally {
        claim.renewal = undefined;
      }
    })();
  }

  private lose(subscription: string, claim: HeldClaim, cause: unknown): void {
    clearInterval(claim.timer);
    if (this.held.get(subscription) !== claim) return;
    this.held.delete(subscription);
    this.logger?.warn({ err: cause, subscription }, 'lost the claim on a subscription');
    try {
      claim.onLost();
    } catch (error) {
      this.logger?.error({ err: error, subscription }, 'onLost failed');
    }
  }

  async release(subscription: string): Promise<void> {
    const claim = this.held.get(subscription);
    if (claim === undefined) return;
    clearInterval(claim.timer);
    this.held.delete(subscription);
    await claim.renewal;
    if (this.handles === undefined) return;
    try {
      await this.handles.claims.delete(encodeToken(subscription), { previousSeq: claim.revision });
    } catch {
      // Someone else holds it already, or NATS is away: the TTL frees it.
    }
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.held.keys()].map((id) => this.release(id)));
    this.closed = true;
    this.stopController.abort();
    this.rejectStarted(new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed'));
    if (this.checkTimer !== undefined) clearInterval(this.checkTimer);
    this.waiters.abortAll();
    this.watcher?.stop();
    const nc = this.handles?.nc;
    this.handles = undefined;
    this.connected = false;
    if (nc !== undefined) {
      await Promise.race([nc.drain(), delay(2_000)]).catch(() => undefined);
      await nc.close().catch(() => undefined);
    }
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

/** Opens the JetStream store without waiting for NATS: `isReady()` turns true once it answers. */
export function createJetStreamStore(options: JetStreamStoreOptions): JetStreamEventStore {
  return new JetStreamEventStore(options);
}
