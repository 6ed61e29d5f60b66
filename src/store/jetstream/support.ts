import { JetStreamApiError } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { HeraldError } from '../../errors/index.js';
import type { EncodedRecord } from './codec.js';

/** The part of a pino logger the store uses. */
export interface StoreLogger {
  info(object: Record<string, unknown>, message: string): void;
  warn(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

/** What the store holds once NATS answered and the stream and buckets exist. */
export interface Handles {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly js: JetStreamClient;
  readonly cursors: KV;
  readonly subscriptions: KV;
  readonly claims: KV;
}

/** Names derived from the broker name: the stream, its subjects, the buckets. */
export interface StoreNames {
  /** `HERALD_<broker>`: the event log. */
  readonly stream: string;
  /** `herald.<broker>.events`: what events are published to. */
  readonly subject: string;
  /** `herald.<broker>.appended`: appending processes announce the last sequence they stored. */
  readonly notifySubject: string;
  readonly deadLetterStream: string;
  readonly deadLetterPrefix: string;
  /** `herald_<broker>`: the KV buckets are `<prefix>_cursors`, `_subscriptions`, `_claims`. */
  readonly bucketPrefix: string;
}

export function storeNames(broker: string): StoreNames {
  return {
    stream: `HERALD_${broker}`,
    subject: `herald.${broker}.events`,
    notifySubject: `herald.${broker}.appended`,
    deadLetterStream: `HERALD_${broker}_deadletters`,
    deadLetterPrefix: `herald.${broker}.deadletters`,
    bucketPrefix: `herald_${broker}`,
  };
}

/** What the parts of the store (log, definitions, claims, dead letters) share. */
export interface StoreContext {
  readonly names: StoreNames;
  readonly logger: StoreLogger | undefined;
  /** Waits for the set-up; rejects once the store is closed. */
  use(): Promise<Handles>;
  /** Sleeps, cut short when the store closes. */
  pause(ms: number): Promise<void>;
  isClosed(): boolean;
}

export function unavailable(detail: string, cause?: unknown): HeraldError {
  return new HeraldError('HERALD_STORE_UNAVAILABLE', detail, {
    retryAfter: 1,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** JetStream API errors that refuse a message for its size: sending it again cannot succeed. */
export const PERMANENT_TOO_LARGE: ReadonlySet<number> = new Set([
  10054, // JSStreamMessageExceedsMaximumErr
  10097, // JSStreamHeaderExceedsMaximumErr
  10199, // JSAtomicPublishTooLargeBatchErrF
]);

export function apiCode(error: unknown): number | undefined {
  return error instanceof JetStreamApiError ? error.code : undefined;
}

/** Why `retryPublish` stopped trying: the message can never fit, the store closed, or the budget is spent. */
export type PublishGiveUp = 'too-large' | 'closed' | 'spent';

export interface PublishRetryLimits {
  /** How long attempts may go on after the first starts. */
  readonly budgetMs: number;
  /** The stream's `duplicate_window` (ms), when attempts must also stay within half of it (see below). */
  readonly duplicateWindowMs?: number;
}

/**
 * Runs one publish attempt until it succeeds, waiting 50 ms doubling to 1 s between attempts, within
 * `budgetMs`; stops at once on an error `isFinal` names, a size refusal, or a closed store, and throws
 * what `giveUp` makes of the last error. Retrying is safe because every attempt carries the same
 * `Nats-Msg-Id`: a message stored by an attempt whose acknowledgement was lost is recognised by the next
 * one as a duplicate, as long as the next one reaches the stream within its duplicate window of the
 * first. So with `duplicateWindowMs`, after an attempt that may have stored (no answer in time, a lost
 * connection; not a refusal by the stream), none starts later than half that window after it (a window
 * shorter than the budget: `--dedupe-window`, `max_age`).
 */
export async function retryPublish<T>(
  context: StoreContext,
  limits: PublishRetryLimits,
  attempt: () => Promise<T>,
  giveUp: (error: unknown, why: PublishGiveUp) => unknown,
  isFinal: (error: unknown) => boolean = () => false,
): Promise<T> {
  let deadline = Date.now() + limits.budgetMs;
  for (let wait = 50; ; wait = Math.min(wait * 2, 1_000)) {
    const sentAt = Date.now();
    try {
      return await attempt();
    } catch (error) {
      if (limits.duplicateWindowMs !== undefined && !(error instanceof JetStreamApiError))
        deadline = Math.min(deadline, sentAt + limits.duplicateWindowMs / 2);
      if (isFinal(error)) throw error;
      const code = apiCode(error);
      if (code !== undefined && PERMANENT_TOO_LARGE.has(code)) throw giveUp(error, 'too-large');
      if (context.isClosed()) throw giveUp(error, 'closed');
      if (Date.now() + wait > deadline) throw giveUp(error, 'spent');
      await context.pause(wait);
    }
  }
}

export function isNotFound(error: unknown): boolean {
  const e = error as { name?: unknown; code?: unknown; message?: unknown };
  return (
    (e.name === 'JetStreamStatusError' && e.code === 404) ||
    apiCode(error) === 10037 ||
    e.message === 'message not found'
  );
}

export function isStreamNotFound(error: unknown): boolean {
  return apiCode(error) === 10059 || (error as Error).message === 'stream not found';
}

export function buildHeaders(pairs: EncodedRecord['headers'], msgId: string | undefined): MsgHdrs {
  const h = natsHeaders();
  for (const [name, value] of pairs) h.set(name, value);
  if (msgId !== undefined) h.set('Nats-Msg-Id', msgId);
  return h;
}

/**
 * A direct-get batch: any replica may answer (`allow_direct`), so the answer can lag behind the
 * leader; it never skips a message, it may only end early. Callback mode, because only then does the
 * client unsubscribe the reply inbox when the batch ends (iterator mode leaves it for its 5 s timeout).
 */
export function directBatch(
  handles: Handles,
  stream: string,
  options: { seq: number; batch: number; next_by_subj?: string },
): Promise<StoredMsg[]> {
  return new Promise<StoredMsg[]>((resolve, reject) => {
    const out: StoredMsg[] = [];
    handles.jsm.direct
      .getBatch(stream, {
        ...options,
        callback: (done, msg) => {
          if (done === null) {
            out.push(msg);
            return;
          }
          if (done.err !== undefined && !isNotFound(done.err)) reject(done.err);
          else resolve(out);
        },
      })
      .catch((error: unknown) => (isNotFound(error) ? resolve(out) : reject(error)));
  });
}

/** At most `size` tasks at a time; the rest queue in order. */
export class Semaphore {
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
