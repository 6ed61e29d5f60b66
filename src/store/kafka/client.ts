import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { Admin, Consumer, ProduceAcks, Producer, kGetApi, kGetConnection } from '@platformatic/kafka';
import type { BaseOptions, ClusterMetadata, Connection, RecordsBatch } from '@platformatic/kafka';
import type { BootstrapBrokers } from './bootstrap.js';
import { batchedRecordSize } from './codec.js';
import type { IncomingRecord, OutgoingRecord } from './codec.js';

/** SASL and TLS settings for every connection the store opens. */
export interface KafkaSecurity {
  readonly sasl?:
    | {
        readonly mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
        readonly username: string;
        readonly password: string;
      }
    | undefined;
  /** TLS on every connection; `ca` is a PEM file that replaces the system trust store. */
  readonly tls?: { readonly ca?: string | undefined; readonly serverName?: string | undefined } | undefined;
}

export interface ClientSettings {
  readonly brokers: BootstrapBrokers;
  readonly clientId: string;
  readonly security: KafkaSecurity;
  /** Timeout of one Kafka request. */
  readonly requestTimeoutMs: number;
}

/** The options every client of the store shares: bootstrap brokers, timeouts, SASL, TLS. */
export function baseOptions(settings: ClientSettings, role: string): BaseOptions {
  const { sasl, tls } = settings.security;
  return {
    clientId: `${settings.clientId}-${role}`,
    bootstrapBrokers: settings.brokers.list(),
    timeout: settings.requestTimeoutMs,
    connectTimeout: Math.min(settings.requestTimeoutMs, 5_000),
    retries: 2,
    retryDelay: 100,
    metadataMaxAge: 30_000,
    ...(sasl === undefined ? {} : { sasl: { ...sasl } }),
    ...(tls === undefined
      ? {}
      : {
          tls: tls.ca === undefined ? {} : { ca: readFileSync(tls.ca, 'utf8') },
          ...(tls.serverName === undefined ? {} : { tlsServerName: tls.serverName }),
        }),
  };
}

/** A request the store stopped waiting for (`withTimeout`). */
export class Unanswered extends Error {
  override readonly name = 'Unanswered';
}

/** Rejects when `task` has not settled after `ms`: the client library may wait on a dead node for long. */
export function withTimeout<T>(task: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Unanswered(`${what} did not answer within ${ms} ms`)), ms);
  });
  task.catch(() => undefined);
  return Promise.race([task, timeout]).finally(() => clearTimeout(timer));
}

/** Kafka's error ids (e.g. `OFFSET_OUT_OF_RANGE`) anywhere inside an error the client threw. */
export function kafkaErrorIds(error: unknown, into = new Set<string>(), depth = 0): Set<string> {
  if (error === null || typeof error !== 'object' || depth > 6) return into;
  const e = error as { apiId?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.apiId === 'string') into.add(e.apiId);
  if (Array.isArray(e.errors)) for (const inner of e.errors) kafkaErrorIds(inner, into, depth + 1);
  if (e.cause !== undefined) kafkaErrorIds(e.cause, into, depth + 1);
  return into;
}

export function describeError(error: unknown): string {
  const ids = [...kafkaErrorIds(error)];
  const message = error instanceof Error ? error.message : String(error);
  return ids.length === 0 ? message : `${message} (${ids.join(', ')})`;
}

/** Creates a single-partition topic, or brings the configuration Herald owns in line. */
export async function ensureTopic(
  admin: Admin,
  name: string,
  replicas: number,
  configs: Readonly<Record<string, string>>,
): Promise<void> {
  try {
    await admin.createTopics({
      topics: [name],
      partitions: 1,
      replicas,
      configs: Object.entries(configs).map(([key, value]) => ({ name: key, value })),
    });
    return;
  } catch (error) {
    if (!kafkaErrorIds(error).has('TOPIC_ALREADY_EXISTS')) throw error;
  }
  await admin.incrementalAlterConfigs({
    resources: [
      {
        resourceType: 2, // TOPIC
        resourceName: name,
        configs: Object.entries(configs).map(([key, value]) => ({
          name: key,
          configOperation: 0, // SET
          value,
        })),
      },
    ],
  });
}

export interface FetchedPage {
  readonly records: IncomingRecord[];
  /** The offset after the last record the fetch covered (control records included). */
  readonly next: number;
  readonly highWatermark: number;
  readonly logStartOffset: number;
}

interface PartitionInfo {
  readonly topicId: string;
  readonly leader: number;
  /** The leader's address, for a request the client library has no call for. */
  readonly broker: { readonly host: string; readonly port: number };
}

/** ListOffsets' replica id for a tool, not a consumer: Kafka then answers the log end, not the high watermark. */
const DEBUGGING_REPLICA_ID = -2;

interface ListOffsetsAnswer {
  readonly topics: ReadonlyArray<{
    readonly partitions: ReadonlyArray<{ readonly offset: bigint }>;
  }>;
}

/** ListOffsets for the end of partition 0 of `topic`, sent to `broker` as a debugging tool (see `logEnd`). */
function listOffsetsAsTool(
  consumer: Consumer,
  broker: PartitionInfo['broker'],
  topic: string,
): Promise<ListOffsetsAnswer> {
  return new Promise((resolve, reject) => {
    consumer[kGetConnection](broker, (error: Error | null | undefined, connection?: Connection) => {
      if (error || connection === undefined) return reject(error ?? new Error('no connection'));
      consumer[kGetApi]<[number, number, unknown[]], ListOffsetsAnswer>('ListOffsets', (error, api) => {
        if (error || api === undefined) return reject(error ?? new Error('no ListOffsets api'));
        api(
          connection,
          DEBUGGING_REPLICA_ID,
          0,
          [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp: -1n }] }],
          (error, response) => (error || response === undefined ? reject(error) : resolve(response)),
        );
      });
    });
  });
}

const STALE = new Set([
  'NOT_LEADER_OR_FOLLOWER',
  'LEADER_NOT_AVAILABLE',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'UNKNOWN_TOPIC_ID',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
  'OFFSET_NOT_AVAILABLE',
  'REPLICA_NOT_AVAILABLE',
]);

/**
 * Reads partition 0 of single-partition topics from its leader with plain Fetch requests (no consumer
 * group): each call names the offset to read from. One instance holds one connection pool, so a
 * long-polling reader must have its own instance, or its waits would delay everyone's requests.
 */
export class PartitionReader {
  private consumer: Consumer;
  private readonly partitions = new Map<string, PartitionInfo>();
  private generation = 0;
  private closed = false;

  constructor(
    private readonly settings: ClientSettings,
    private readonly role: string,
  ) {
    this.consumer = this.create();
  }

  private create(): Consumer {
    return new Consumer({
      ...baseOptions(this.settings, `${this.role}-${this.generation++}`),
      groupId: `${this.settings.clientId}-${this.role}`,
    });
  }

  /**
   * Forgets every leader and replaces the client (and its connections) after a failure that was not
   * Kafka answering "ask someone else": a node that died may leave the old client waiting on it. Calls
   * run concurrently on one reader: when the client that failed was replaced already (by another call
   * that failed with it), its successor is left alone, or a healthy bootstrap broker would be moved last.
   */
  private reset(failed: Consumer, error: unknown): void {
    if (failed !== this.consumer) return;
    this.partitions.clear();
    if (this.closed) return;
    this.settings.brokers.demoteAfter(failed, error);
    this.consumer = this.create();
    void closeQuietly(failed);
  }

  private get limit(): number {
    return this.settings.requestTimeoutMs * 2;
  }

  /** Forgets the leader known for `topic`: the next request asks for metadata first. */
  forgetLeader(topic: string): void {
    this.partitions.delete(topic);
  }

  private async partition(consumer: Consumer, topic: string, refresh: boolean): Promise<PartitionInfo> {
    const known = this.partitions.get(topic);
    if (known !== undefined && !refresh) return known;
    const metadata: ClusterMetadata = await withTimeout(
      consumer.metadata({ topics: [topic], forceUpdate: true }),
      this.limit,
      'a metadata request',
    );
    const info = metadata.topics.get(topic);
    const leader = info?.partitions[0]?.leader;
    const broker = leader === undefined ? undefined : metadata.brokers.get(leader);
    if (info === undefined || leader === undefined || leader < 0 || broker === undefined) {
      throw new Error(`topic ${topic} has no partition leader yet`);
    }
    const found = { topicId: info.id, leader, broker };
    this.partitions.set(topic, found);
    return found;
  }

  /**
   * Records at and after `offset` (up to about `maxBytes`), waiting up to `maxWaitMs` for the first.
   * An offset below the log start reads from the log start; one above the end returns nothing.
   */
  async fetch(topic: string, offset: number, maxWaitMs: number, maxBytes = 1 << 20): Promise<FetchedPage> {
    let from = offset;
    for (let attempt = 0; ; attempt++) {
      const consumer = this.consumer;
      const { topicId, leader } = await this.partition(consumer, topic, attempt > 0);
      try {
        const response = await withTimeout(
          consumer.fetch({
            node: leader,
            maxWaitTime: maxWaitMs,
            minBytes: 1,
            maxBytes,
            isolationLevel: 0,
            topics: [
              {
                topicId,
                partitions: [
                  {
                    partition: 0,
                    currentLeaderEpoch: -1,
                    fetchOffset: BigInt(from),
                    lastFetchedEpoch: -1,
                    partitionMaxBytes: maxBytes,
                  },
                ],
              },
            ],
          }),
          maxWaitMs + this.limit,
          'a fetch',
        );
        const part = response.responses[0]?.partitions[0];
        if (part === undefined) throw new Error(`no fetch answer for ${topic}`);
        return toPage(part.records ?? [], from, Number(part.highWatermark), Number(part.logStartOffset));
      } catch (error) {
        const ids = kafkaErrorIds(error);
        if (ids.has('OFFSET_OUT_OF_RANGE')) {
          const [start, end] = await Promise.all([this.offset(topic, -2), this.offset(topic, -1)]);
          if (from < start) {
            from = start;
            continue;
          }
          return { records: [], next: from, highWatermark: end, logStartOffset: start };
        }
        // Not Kafka answering "ask someone else" (say, a connection to a node that died): start over
        // with a new client, whose first request fetches fresh metadata.
        if (![...ids].some((id) => STALE.has(id))) this.reset(consumer, error);
        if (attempt >= 2) throw error;
        await delay(50 * 2 ** attempt);
      }
    }
  }

  /**
   * Runs a request on the current client, up to three times: a failure that is not Kafka answering "ask
   * someone else" replaces the client first (`reset`), and each attempt after the first knows its number.
   */
  private async withRetries<T>(request: (consumer: Consumer, attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const consumer = this.consumer;
      try {
        return await request(consumer, attempt);
      } catch (error) {
        if (![...kafkaErrorIds(error)].some((id) => STALE.has(id))) this.reset(consumer, error);
        if (attempt >= 2) throw error;
        await delay(50 * 2 ** attempt);
      }
    }
  }

  /** ListOffsets: -1 = the end (high watermark), -2 = the log start, else the first offset at or after that time (-1 if none). */
  offset(topic: string, timestamp: number): Promise<number> {
    return this.withRetries(async (consumer, attempt) => {
      if (attempt > 0) {
        await withTimeout(
          consumer.metadata({ topics: [topic], forceUpdate: true }),
          this.limit,
          'a metadata request',
        ).catch(() => undefined);
      }
      const offsets = await withTimeout(
        consumer.listOffsetsWithTimestamps({ topics: [topic], timestamp: BigInt(timestamp) }),
        this.limit,
        'a ListOffsets request',
      );
      const found = offsets.get(topic)?.get(0);
      if (found === undefined) throw new Error(`no offset answer for ${topic}`);
      return Number(found.offset);
    });
  }

  /**
   * The partition leader's log end offset: past the high watermark when the leader holds records its
   * in-sync replicas have not all copied yet (a produce that is not acknowledged yet, or one whose caller
   * gave up on it). They are committed (and then readable) or truncated by a leader change later; until
   * then, whether such a record exists cannot be read. ListOffsets as a debugging tool asks for it: the
   * client library has no call for that, so this speaks the request on the library's own connection.
   */
  logEnd(topic: string): Promise<number> {
    return this.withRetries(async (consumer, attempt) => {
      const { broker } = await this.partition(consumer, topic, attempt > 0);
      const answer = await withTimeout(
        listOffsetsAsTool(consumer, broker, topic),
        this.limit,
        'a ListOffsets request for the log end',
      );
      const found = answer.topics[0]?.partitions[0];
      if (found === undefined) throw new Error(`no offset answer for ${topic}`);
      return Number(found.offset);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await closeQuietly(this.consumer);
  }
}

function toPage(
  batches: readonly RecordsBatch[],
  from: number,
  highWatermark: number,
  logStartOffset: number,
) {
  const records: IncomingRecord[] = [];
  let next = from;
  for (const batch of batches) {
    const first = Number(batch.firstOffset);
    next = Math.max(next, first + batch.lastOffsetDelta + 1);
    // Bit 5: a control batch (transaction markers), never one of Herald's records.
    if ((batch.attributes & 0x20) !== 0) continue;
    const logAppendTime = (batch.attributes & 0x08) !== 0;
    for (const record of batch.records) {
      const offset = first + record.offsetDelta;
      if (offset < from) continue;
      let size = (record.key?.byteLength ?? 0) + (record.value?.byteLength ?? 0);
      for (const [k, v] of record.headers) size += (k?.byteLength ?? 0) + (v?.byteLength ?? 0);
      records.push({
        offset,
        timestamp: Number(logAppendTime ? batch.maxTimestamp : batch.firstTimestamp + record.timestampDelta),
        key: record.key,
        value: record.value,
        headers: record.headers,
        size,
      });
    }
  }
  return { records, next, highWatermark, logStartOffset };
}

interface Pending {
  readonly records: ReadonlyArray<{ readonly topic: string; readonly record: OutgoingRecord }>;
  readonly resolve: (offsets: number[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * An idempotent producer (acks=all) that sends one request at a time: the client library numbers an
 * idempotent producer's batches only when an answer arrives, so two requests in flight would share a
 * sequence number and Kafka would drop the second as a duplicate. Appends that arrive while a request is
 * in flight are grouped into the next one (group commit), so throughput does not suffer. Each caller's
 * records stay contiguous and in order inside the one record batch a request carries per partition.
 * After a failed request the producer is replaced: a new producer id, so that nothing sent later can be
 * taken for a retry of what failed.
 *
 * A group is bounded by `maxGroupBytes`, counted by `batchedRecordSize`: Kafka refuses a whole record
 * batch larger than the topic's `max.message.bytes`, so callers that each fit would otherwise be refused
 * together as too large. A caller larger than the bound alone still goes out alone (and Kafka decides).
 */
export class SerialProducer {
  private producer: Producer;
  private readonly queue: Pending[] = [];
  private sending = false;
  private generation = 0;

  constructor(
    private readonly settings: ClientSettings,
    private readonly role: string,
    private readonly maxGroupBytes: number,
  ) {
    this.producer = this.create();
  }

  private create(): Producer {
    return new Producer({
      ...baseOptions(this.settings, `${this.role}-${this.generation++}`),
      idempotent: true,
      acks: ProduceAcks.ALL,
      retries: 1,
      retryDelay: 200,
      autocreateTopics: false,
    });
  }

  /** Resolves with each record's offset once Kafka acknowledged all of them (acks=all). */
  send(records: Pending['records']): Promise<number[]> {
    if (records.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      if (!this.sending) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.sending = true;
    while (this.queue.length > 0) {
      const group: Pending[] = [];
      let bytes = 0;
      while (this.queue.length > 0) {
        const next = this.queue[0] as Pending;
        let size = 0;
        for (const { record } of next.records) size += batchedRecordSize(record);
        if (group.length > 0 && bytes + size > this.maxGroupBytes) break;
        group.push(next);
        bytes += size;
        this.queue.shift();
      }
      const messages = group.flatMap((p) =>
        p.records.map(({ topic, record }) => ({
          topic,
          partition: 0,
          ...(record.key === undefined ? {} : { key: record.key }),
          ...(record.value === undefined ? {} : { value: record.value }),
          headers: record.headers,
        })),
      );
      try {
        // Bounded: the library retries a dead leader for long. A send given up on may still have been
        // written; its caller answers "unavailable", the publisher retries, and dedupe applies.
        const result = await withTimeout(
          this.producer.send({ messages }),
          this.settings.requestTimeoutMs + 1_000,
          'a produce request',
        );
        const base = new Map<string, number>();
        for (const { topic, offset } of result.offsets ?? []) base.set(topic, Number(offset));
        const used = new Map<string, number>();
        for (const pending of group) {
          const offsets = pending.records.map(({ topic }) => {
            const start = base.get(topic);
            if (start === undefined) throw new Error(`Kafka did not acknowledge ${topic}`);
            const index = used.get(topic) ?? 0;
            used.set(topic, index + 1);
            return start + index;
          });
          pending.resolve(offsets);
        }
      } catch (error) {
        // What waits behind a failed request would most likely fail the same way, one timeout at a
        // time: fail it now, so that callers answer (and their clients retry) at once.
        for (const pending of [...group, ...this.queue.splice(0)]) pending.reject(error);
        const old = this.producer;
        this.settings.brokers.demoteAfter(old, error);
        this.producer = this.create();
        void closeQuietly(old);
      }
    }
    this.sending = false;
  }

  async close(): Promise<void> {
    await closeQuietly(this.producer);
  }
}

/** Closes a client at once (in-flight requests fail) and never throws. */
export function closeQuietly(client: {
  close(force: boolean, callback: (error?: Error | null) => void): void;
}): Promise<void> {
  return new Promise((resolve) => {
    try {
      client.close(true, () => resolve());
    } catch {
      resolve();
    }
  });
}

/**
 * The admin client (topic set-up, record deletion), replaced after a failure as the readers and the
 * producers are: one left waiting on a node that stopped answering would fail every later call alike.
 * Each task is bounded as a reader's request is: the library sends the requests that name no node to its
 * first bootstrap broker and waits 30 s for an answer (its connections' own timeout, not `timeout`), so
 * a store starting while that node hung became ready only after it, however short its request timeout.
 */
export class AdminClient {
  private admin: Admin;
  private generation = 0;
  private closed = false;

  constructor(private readonly settings: ClientSettings) {
    this.admin = this.create();
  }

  private create(): Admin {
    return new Admin(baseOptions(this.settings, `admin-${this.generation++}`));
  }

  /** Runs `task` (`what` names it in the error when it gets no answer) on the current client. */
  async run<T>(what: string, task: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = this.admin;
    try {
      // Twice the request timeout, as a reader's requests: Kafka itself may take up to one (`timeout`)
      // to create a topic or delete records before it answers.
      return await withTimeout(task(admin), this.settings.requestTimeoutMs * 2, what);
    } catch (error) {
      if (!this.closed && admin === this.admin) {
        this.settings.brokers.demoteAfter(admin, error);
        this.admin = this.create();
        void admin.close().catch(() => undefined);
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.admin.close().catch(() => undefined);
  }
}
