import { DiscardPolicy, RetentionPolicy as JsRetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import { nanos } from '@nats-io/transport-node';
import { HeraldError } from '../../errors/index.js';
import type { RetentionPolicy } from '../types.js';
import type { StoreLogger, StoreNames } from './support.js';
import { isStreamNotFound } from './support.js';

type WantedStream = Partial<StreamConfig> & { name: string };

/**
 * The event stream's `duplicate_window` (ms). `retryWindowMs`: how long after its first attempt a
 * publish may still be sent again. With deduplication off (`dedupeWindowMs` 0) each append carries an
 * id of its own, and the window covers that time, or a retry of an attempt whose ack was lost would
 * store the event twice. JetStream wants at least 100 ms and at most `max_age`: the retry window is cut
 * to `max_age`, but a dedupe window longer than `max_age` is refused. Cut, it silently broke the
 * `--dedupe-window` promise; and a nats-server restart rebuilds its duplicate map from the messages
 * still stored, so even a longer window would forget the events `max_age` deleted inside it.
 */
export function duplicateWindowMs(
  retention: RetentionPolicy,
  dedupeWindowMs: number,
  retryWindowMs: number,
): number {
  if (dedupeWindowMs > 0 && retention.maxAgeMs > 0 && retention.maxAgeMs < dedupeWindowMs) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `--retention-max-age (${retention.maxAgeMs} ms) must be at least --dedupe-window (${dedupeWindowMs} ms) with --store jetstream`,
    );
  }
  const window = Math.max(dedupeWindowMs > 0 ? dedupeWindowMs : retryWindowMs, 100);
  return retention.maxAgeMs > 0 ? Math.min(window, Math.max(retention.maxAgeMs, 100)) : window;
}

export function eventStreamConfig(
  names: StoreNames,
  retention: RetentionPolicy,
  dedupeWindowMs: number,
  replicas: number,
  retryWindowMs: number,
): WantedStream {
  const { maxAgeMs, maxEvents, maxBytes } = retention;
  const maxAge = maxAgeMs > 0 ? Math.max(maxAgeMs, 100) : 0;
  const window = duplicateWindowMs(retention, dedupeWindowMs, retryWindowMs);
  return {
    name: names.stream,
    description: 'Herald event log',
    subjects: [names.subject],
    retention: JsRetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: replicas,
    discard: DiscardPolicy.Old,
    max_age: nanos(maxAge),
    max_msgs: maxEvents > 0 ? maxEvents : -1,
    max_bytes: maxBytes > 0 ? maxBytes : -1,
    duplicate_window: nanos(window),
    allow_direct: true,
    allow_atomic: true,
    // No `republish`: readers in other processes are woken by the appending process's announcements
    // on the notify subject (event-log.ts). `ensureStream` removes the one older versions set.
  };
}

export function deadLetterStreamConfig(names: StoreNames, replicas: number): WantedStream {
  return {
    name: names.deadLetterStream,
    description: 'Herald dead letters, one subject per subscription',
    subjects: [`${names.deadLetterPrefix}.>`],
    retention: JsRetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: replicas,
    discard: DiscardPolicy.Old,
    allow_direct: true,
  };
}

/**
 * Creates the stream, or brings the settings Herald owns in line with the configuration. Resolves
 * the stream's last sequence.
 */
export async function ensureStream(
  jsm: JetStreamManager,
  wanted: WantedStream,
  logger: StoreLogger | undefined,
): Promise<number> {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(wanted.name)).config;
  } catch (error) {
    if (!isStreamNotFound(error)) throw error;
    return (await jsm.streams.add(wanted)).state.last_seq;
  }
  // Herald's streams carry no republish; earlier builds put one on the event stream.
  const { republish, ...kept } = current;
  const differs =
    republish !== undefined ||
    (Object.keys(wanted) as Array<keyof StreamConfig>).some(
      (key) => key !== 'description' && JSON.stringify(current[key]) !== JSON.stringify(wanted[key]),
    );
  if (differs) {
    logger?.info({ stream: wanted.name }, 'updating the JetStream stream configuration');
    const update: Partial<StreamConfig> = { ...kept, ...wanted };
    // The client merges the update into the current configuration (`Object.assign`): only a key that
    // is present without a value removes a setting.
    Reflect.set(update, 'republish', undefined);
    return (await jsm.streams.update(wanted.name, update)).state.last_seq;
  }
  return (await jsm.streams.info(wanted.name)).state.last_seq;
}

export interface Buckets {
  readonly cursors: KV;
  readonly subscriptions: KV;
  readonly claims: KV;
}

/** Opens (creating when missing) the cursor, definition and claim buckets. */
export async function openBuckets(
  jsm: JetStreamManager,
  settings: {
    readonly names: StoreNames;
    readonly replicas: number;
    readonly claimTtlMs: number;
    readonly requestTimeoutMs: number;
    readonly logger: StoreLogger | undefined;
  },
): Promise<Buckets> {
  const { names, replicas, logger } = settings;
  const kvm = new Kvm(jsm.jetstream());
  const bucket = async (name: string, ttl?: number) => {
    const kv = await kvm.create(`${names.bucketPrefix}_${name}`, {
      history: 1,
      replicas,
      storage: StorageType.File,
      // Reads go to the stream leader: a replica that lags must never hand out an old cursor or claim.
      allow_direct: false,
      timeout: settings.requestTimeoutMs,
      ...(ttl === undefined ? {} : { ttl }),
    });
    // `create` opens an existing bucket as it is: bring replicas and TTL in line with the configuration.
    await ensureStream(
      jsm,
      {
        name: `KV_${names.bucketPrefix}_${name}`,
        num_replicas: replicas,
        // JetStream requires duplicate_window <= max_age; a new bucket gets exactly that.
        ...(ttl === undefined ? {} : { max_age: nanos(ttl), duplicate_window: nanos(ttl) }),
      },
      logger,
    );
    return kv;
  };
  const cursors = await bucket('cursors');
  const subscriptions = await bucket('subscriptions');
  const claims = await bucket('claims', settings.claimTtlMs);
  return { cursors, subscriptions, claims };
}
