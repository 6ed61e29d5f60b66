import { JetStreamApiError } from '@nats-io/jetstream';
import { createInbox } from '@nats-io/transport-node';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { AppendOutcome } from '../types.js';
import type { EncodedRecord } from './codec.js';
import { buildHeaders } from './support.js';

const decoder = new TextDecoder();

interface Queued {
  readonly record: EncodedRecord;
  resolve(outcome: AppendOutcome): void;
  reject(error: unknown): void;
}

interface Awaited {
  readonly deadline: number;
  readonly record: EncodedRecord;
  resolve(outcome: AppendOutcome): void;
  reject(error: unknown): void;
}

/** Counters of the grouped publishes; for tests and diagnosis. */
export interface GroupCounters {
  /** Groups of single-event publishes issued together. */
  publishGroups: number;
  /** Single-event publishes issued in those groups. */
  groupedPublishes: number;
}

/** A PubAck, or a publish refused by the stream. */
interface PubAck {
  readonly seq?: number;
  readonly duplicate?: boolean;
  readonly error?: { code: number; err_code: number; description: string };
}

/**
 * Group commit of single-event appends: publishes asked for in one turn of the event loop (typically
 * one per HTTP request read in that turn) are issued together once the turn ends, so they leave in one
 * socket write and the server reads them at once. Their PubAcks come back to one reply subscription
 * and are awaited together: one deadline per group, checked by one timer, instead of a request object,
 * a timer and two errors built per publish as `js.publish` does. Each caller still resolves only with
 * its own PubAck, so a 202 still means "stored"; what is not acknowledged in time is rejected and the
 * caller retries it (its `Nats-Msg-Id` makes that safe).
 */
export class GroupPublisher {
  readonly counters: GroupCounters = { publishGroups: 0, groupedPublishes: 0 };
  private queued: Queued[] = [];
  private readonly awaited = new Map<string, Awaited>();
  private nc: NatsConnection | undefined;
  private replies: Subscription | undefined;
  private inbox = '';
  private next = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly subject: string,
    private readonly timeoutMs: number,
    /** Called with each newly stored record, before its caller hears of it. */
    private readonly onStored: (record: EncodedRecord, sequence: number) => void = () => undefined,
  ) {}

  /** Subscribes the reply inbox on the connection (the client resubscribes it after a reconnect). */
  attach(nc: NatsConnection): void {
    if (this.nc === nc) return;
    this.replies?.unsubscribe();
    this.nc = nc;
    this.inbox = createInbox();
    this.replies = nc.subscribe(`${this.inbox}.*`, {
      callback: (error, msg) => {
        if (error === null) this.onReply(msg);
      },
    });
  }

  publish(record: EncodedRecord): Promise<AppendOutcome> {
    return new Promise<AppendOutcome>((resolve, reject) => {
      if (this.queued.push({ record, resolve, reject }) === 1) setImmediate(this.issue);
    });
  }

  private readonly issue = (): void => {
    const group = this.queued;
    this.queued = [];
    const nc = this.nc;
    if (nc === undefined) {
      for (const item of group) item.reject(new Error('not connected to NATS'));
      return;
    }
    this.counters.publishGroups++;
    this.counters.groupedPublishes += group.length;
    const deadline = Date.now() + this.timeoutMs;
    for (const { record, resolve, reject } of group) {
      const token = (++this.next).toString(36);
      try {
        nc.publish(this.subject, record.body, {
          headers: buildHeaders(record.headers, record.msgId),
          reply: `${this.inbox}.${token}`,
        });
      } catch (error) {
        reject(error);
        continue;
      }
      this.awaited.set(token, { deadline, record, resolve, reject });
    }
    if (this.sweeper === undefined && this.awaited.size > 0) {
      this.sweeper = setInterval(this.sweep, Math.min(this.timeoutMs, 250));
      this.sweeper.unref();
    }
  };

  private onReply(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const waiter = this.awaited.get(token);
    if (waiter === undefined) return; // timed out already
    this.awaited.delete(token);
    this.settle(waiter, msg);
  }

  private settle(waiter: Awaited, msg: Msg): void {
    if (msg.data.byteLength === 0 && msg.headers?.hasError === true) {
      // 503: no stream answers the subject (yet): a leader election, a stream being created.
      waiter.reject(
        new Error(`JetStream did not answer the publish: ${msg.headers.code} ${msg.headers.description}`),
      );
      return;
    }
    let ack: PubAck;
    try {
      ack = JSON.parse(decoder.decode(msg.data)) as PubAck;
    } catch (error) {
      waiter.reject(error);
      return;
    }
    if (ack.error !== undefined) waiter.reject(new JetStreamApiError(ack.error));
    else if (typeof ack.seq !== 'number') waiter.reject(new Error('invalid PubAck'));
    else {
      const duplicate = ack.duplicate === true;
      if (!duplicate) this.onStored(waiter.record, ack.seq);
      waiter.resolve({ sequence: ack.seq, duplicate });
    }
  }

  private readonly sweep = (): void => {
    const now = Date.now();
    for (const [token, waiter] of this.awaited) {
      if (waiter.deadline > now) continue;
      this.awaited.delete(token);
      waiter.reject(new Error(`no PubAck within ${this.timeoutMs} ms`));
    }
    if (this.awaited.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  };

  /** Rejects what is still waiting; the connection is closing. */
  close(): void {
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const item of this.queued) item.reject(new Error('the store is closed'));
    this.queued = [];
    for (const waiter of this.awaited.values()) waiter.reject(new Error('the store is closed'));
    this.awaited.clear();
  }
}
