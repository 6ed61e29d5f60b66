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

/** A group issued and not yet answered in full. */
interface Group {
  /** Publishes of the group still waiting for their PubAck or their deadline. */
  unanswered: number;
  /** The connection's generation when it was issued: a reconnect frees its slot (see `reconnected`). */
  readonly generation: number;
}

interface Awaited {
  readonly group: Group;
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
 *
 * At most `maxGroupsInFlight` groups wait for their PubAcks at once; what is asked for meanwhile joins
 * the next group, issued as soon as one of them is answered in full. Under load the groups grow with
 * the server's round trip instead of staying at what one turn of the event loop read, and nats-server,
 * this process and the publishers each wake up once per group (bench/PROFILE.md, twentieth round). A
 * lone publish finds no group in flight and leaves at the end of its turn, as before.
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
  private inFlight = 0;
  private generation = 0;
  private issueScheduled = false;

  constructor(
    private readonly subject: string,
    private readonly timeoutMs: number,
    private readonly maxGroupsInFlight: number,
    /** Called with each newly stored record, before its caller hears of it. */
    private readonly onStored: (record: EncodedRecord, sequence: number) => void = () => undefined,
  ) {}

  /** Subscribes the reply inbox on the connection (the client resubscribes it after a reconnect). */
  attach(nc: NatsConnection): void {
    if (this.nc === nc) return;
    this.reconnected();
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
      this.queued.push({ record, resolve, reject });
      this.scheduleIssue();
    });
  }

  /**
   * The groups in flight were written on a connection that was lost: their PubAcks may never come (they
   * end at their deadline), and what is asked for now must not wait for that.
   */
  reconnected(): void {
    this.generation++;
    this.inFlight = 0;
    this.scheduleIssue();
  }

  private scheduleIssue(): void {
    if (this.issueScheduled || this.queued.length === 0 || this.inFlight >= this.maxGroupsInFlight) return;
    this.issueScheduled = true;
    setImmediate(this.issue);
  }

  private answered(group: Group): void {
    if (--group.unanswered > 0 || group.generation !== this.generation) return;
    this.inFlight--;
    this.scheduleIssue();
  }

  private readonly issue = (): void => {
    this.issueScheduled = false;
    const group = this.queued;
    if (group.length === 0) return; // closed meanwhile
    this.queued = [];
    const nc = this.nc;
    if (nc === undefined) {
      for (const item of group) item.reject(new Error('not connected to NATS'));
      return;
    }
    this.counters.publishGroups++;
    this.counters.groupedPublishes += group.length;
    const deadline = Date.now() + this.timeoutMs;
    // One extra count while the loop runs, so a publish refused synchronously cannot end the group early.
    const issued: Group = { unanswered: 1, generation: this.generation };
    this.inFlight++;
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
      issued.unanswered++;
      this.awaited.set(token, { group: issued, deadline, record, resolve, reject });
    }
    this.answered(issued);
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
    this.answered(waiter.group);
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
      this.answered(waiter.group);
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
    this.inFlight = 0;
  }
}
