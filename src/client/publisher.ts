// SPDX-License-Identifier: Apache-2.0
import type { Connection } from './http.js';
import { HeraldProblemError, isHeraldConnectionError, isHeraldProblemError } from './http.js';
import type { EncodedEvent, EventInput } from './events.js';
import { encodeEvent } from './events.js';

export interface PublisherOptions {
  /** Most events in one request (default 500). */
  readonly maxBatchEvents?: number;
  /** Most bytes of JSON in one request (default 1 MiB; the broker's `--max-request-size` is 16 MiB). */
  readonly maxBatchBytes?: number;
  /** How long a batch that is not full waits for more events, in ms (default 5). */
  readonly lingerMs?: number;
  /** Events held in memory at most, waiting or in flight (default 10,000). */
  readonly maxBufferedEvents?: number;
  /** Bytes held in memory at most, waiting or in flight (default 32 MiB). */
  readonly maxBufferedBytes?: number;
  /** Requests in flight at once (default 4; 1 keeps batches in order). */
  readonly maxInFlight?: number;
  /** Attempts per batch on 429, 503 and network errors, the first included (default 8). */
  readonly maxAttempts?: number;
  /** Longest wait between attempts, in ms, whatever `Retry-After` says (default 30,000). */
  readonly maxRetryDelayMs?: number;
  /** Called for every event that failed for good (also reported by `flush()`). */
  readonly onError?: (error: Error, event: { readonly id: string; readonly source: string }) => void;
}

/** `flush()` after some queued events failed for good: every failure, with the event it belongs to. */
export class PublishError extends Error {
  readonly failures: ReadonlyArray<{ readonly id: string; readonly source: string; readonly error: Error }>;

  constructor(failures: PublishError['failures']) {
    const first = failures[0];
    super(
      `${failures.length} event(s) were not published` +
        (first === undefined ? '' : `; first: ${first.source} ${first.id}: ${first.error.message}`),
    );
    this.name = 'PublishError';
    this.failures = failures;
  }
}

/** One `publish`/`enqueue` call: settles when all of its events are accepted, or at the first failure. */
interface Ticket {
  remaining: number;
  settled: boolean;
  /** Failures of `enqueue`d events are also reported by `flush()`; `publish` callers get them directly. */
  readonly reportOnFlush: boolean;
  resolve(): void;
  reject(error: Error): void;
}

interface Item {
  readonly event: EncodedEvent;
  readonly ticket: Ticket;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Batches events into `application/cloudevents-batch+json` requests: a batch leaves when it is full
 * (events or bytes) or when the linger time is over. Memory is bounded: when the buffer is full, a
 * call waits for room (backpressure), so a fast producer slows to the broker's pace.
 */
export class Publisher {
  /**
   * Most events in one batch: `maxBatchEvents`, lowered when the broker refused a batch as too big (see
   * `send`), so that later batches are not refused first too.
   */
  private maxBatchEvents: number;
  private readonly maxBatchBytes: number;
  private readonly lingerMs: number;
  private readonly maxBufferedEvents: number;
  private readonly maxBufferedBytes: number;
  private readonly maxInFlight: number;
  private readonly maxAttempts: number;
  private readonly maxRetryDelayMs: number;
  private readonly queue: Item[] = [];
  private queuedBytes = 0;
  /** Held = queued + in flight; what the bounds apply to. */
  private heldEvents = 0;
  private heldBytes = 0;
  private inFlight = 0;
  private linger: NodeJS.Timeout | undefined;
  private readonly roomWaiters: Array<{ events: number; bytes: number; wake(): void }> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private failures: Array<{ id: string; source: string; error: Error }> = [];
  private closed = false;

  constructor(
    private readonly connection: Connection,
    private readonly options: PublisherOptions = {},
  ) {
    this.maxBatchEvents = Math.max(1, options.maxBatchEvents ?? 500);
    this.maxBatchBytes = Math.max(1, options.maxBatchBytes ?? 1024 * 1024);
    this.lingerMs = Math.max(0, options.lingerMs ?? 5);
    this.maxBufferedEvents = Math.max(1, options.maxBufferedEvents ?? 10_000);
    this.maxBufferedBytes = Math.max(1, options.maxBufferedBytes ?? 32 * 1024 * 1024);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 4);
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 8);
    this.maxRetryDelayMs = Math.max(0, options.maxRetryDelayMs ?? 30_000);
  }

  /** Events waiting or in flight. */
  get buffered(): number {
    return this.heldEvents;
  }

  /**
   * Validates and buffers events; resolves once they are in the buffer (waiting while it is full).
   * The returned `accepted` promise settles when the broker accepted all of them.
   */
  enqueue(input: EventInput | readonly EventInput[]): Promise<{ accepted: Promise<void> }> {
    return this.buffer(input, true);
  }

  private async buffer(
    input: EventInput | readonly EventInput[],
    reportOnFlush: boolean,
  ): Promise<{ accepted: Promise<void> }> {
    if (this.closed) throw new Error('the publisher is closed');
    const inputs = Array.isArray(input) ? (input as readonly EventInput[]) : [input as EventInput];
    // Every event is validated before any is buffered: a call is published whole or not at all.
    const events = inputs.map((event) => encodeEvent(event));
    let ticket!: Ticket;
    const accepted = new Promise<void>((resolve, reject) => {
      ticket = { remaining: events.length, settled: false, reportOnFlush, resolve, reject };
    });
    // Rejections are also reported by flush(); nobody has to await `accepted`.
    accepted.catch(() => undefined);
    if (events.length === 0) {
      ticket.resolve();
      return { accepted };
    }
    const bytes = events.reduce((sum, event) => sum + event.bytes, 0);
    // `room` counts the events as held before it resolves: see there.
    await this.room(events.length, bytes);
    for (const event of events) {
      this.queue.push({ event, ticket });
      this.queuedBytes += event.bytes;
    }
    this.pump();
    return { accepted };
  }

  /** Buffers events and resolves once the broker durably accepted all of them. */
  async publish(input: EventInput | readonly EventInput[]): Promise<void> {
    const { accepted } = await this.buffer(input, false);
    await accepted;
  }

  /**
   * Sends whatever waits and resolves when nothing is buffered; rejects with a `PublishError` listing
   * the events that failed for good since the previous flush.
   */
  async flush(): Promise<void> {
    if (this.linger !== undefined) {
      clearTimeout(this.linger);
      this.linger = undefined;
    }
    this.pump(true);
    if (this.heldEvents > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const failures = this.failures;
    this.failures = [];
    if (failures.length > 0) throw new PublishError(failures);
  }

  /** Flushes, then refuses further events. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private fits(events: number, bytes: number): boolean {
    return (
      this.heldEvents === 0 ||
      (this.heldEvents + events <= this.maxBufferedEvents && this.heldBytes + bytes <= this.maxBufferedBytes)
    );
  }

  /**
   * Resolves when the events fit, having already counted them as held. Counting them here, before the
   * caller resumes, is what makes the bound hold for calls made without awaiting the previous one: each
   * sees what the calls before it reserved, not a count that only grows a microtask later.
   */
  private room(events: number, bytes: number): Promise<void> {
    if (this.roomWaiters.length === 0 && this.fits(events, bytes)) {
      this.heldEvents += events;
      this.heldBytes += bytes;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.roomWaiters.push({ events, bytes, wake: resolve });
      // Something may be flushable that has not been sent yet: make sure room is being made.
      this.pump(true);
    });
  }

  private wakeWaiters(): void {
    // In order, as many as now fit: each is reserved before the next is measured.
    while (this.roomWaiters.length > 0) {
      const first = this.roomWaiters[0] as (typeof this.roomWaiters)[number];
      if (!this.fits(first.events, first.bytes)) break;
      this.roomWaiters.shift();
      this.heldEvents += first.events;
      this.heldBytes += first.bytes;
      first.wake();
    }
    if (this.heldEvents === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Starts as many batches as the in-flight limit allows; `now` sends partial batches too. */
  private pump(now = false): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const full = this.queue.length >= this.maxBatchEvents || this.queuedBytes >= this.maxBatchBytes;
      const starving = this.roomWaiters.length > 0;
      if (!full && !now && !starving) {
        this.linger ??= setTimeout(() => {
          this.linger = undefined;
          this.pump(true);
        }, this.lingerMs);
        return;
      }
      const batch: Item[] = [];
      let bytes = 0;
      while (this.queue.length > 0 && batch.length < this.maxBatchEvents) {
        const next = this.queue[0] as Item;
        if (batch.length > 0 && bytes + next.event.bytes + 1 > this.maxBatchBytes) break;
        this.queue.shift();
        batch.push(next);
        bytes += next.event.bytes + 1;
        this.queuedBytes -= next.event.bytes;
      }
      this.inFlight++;
      void this.send(batch).finally(() => {
        this.inFlight--;
        this.pump(this.roomWaiters.length > 0 || this.idleWaiters.length > 0);
      });
    }
  }

  private async send(batch: Item[]): Promise<void> {
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const body = `[${pending.map((item) => item.event.json).join(',')}]`;
      let error: Error;
      try {
        await this.connection.request('POST', '/', {
          body,
          contentType: 'application/cloudevents-batch+json',
        });
        this.settle(pending, undefined);
        return;
      } catch (caught) {
        error = caught as Error;
      }
      const retryable =
        isHeraldConnectionError(error) ||
        (isHeraldProblemError(error) && (error.status === 429 || error.status === 503));
      if (retryable && attempt < this.maxAttempts) {
        const hinted = isHeraldProblemError(error) ? error.retryAfter : undefined;
        const backoff = Math.min(100 * 2 ** (attempt - 1), 5_000);
        await sleep(Math.min(hinted === undefined ? backoff : hinted * 1000, this.maxRetryDelayMs));
        continue;
      }
      // A 413 that names no event refuses the request, not an event: more events than
      // --max-batch-events or --ingress-rate-burst, more bytes than --max-request-size. Smaller batches of
      // the same events (same ids: anything stored is deduplicated) can pass, so it is split in two.
      if (
        isHeraldProblemError(error) &&
        error.status === 413 &&
        error.problem.index === undefined &&
        pending.length > 1
      ) {
        const half = Math.ceil(pending.length / 2);
        this.maxBatchEvents = Math.min(this.maxBatchEvents, half);
        // In order, one after the other: with maxInFlight 1 the batches stay in order.
        await this.send(pending.slice(0, half));
        await this.send(pending.slice(half));
        return;
      }
      // One bad event rejects a whole batch (the broker names its index): fail that one, resend the rest.
      const index = error instanceof HeraldProblemError ? error.problem.index : undefined;
      if (!retryable && index !== undefined && pending.length > 1 && index >= 0 && index < pending.length) {
        const culprit = pending[index] as Item;
        this.settle([culprit], error);
        pending = pending.filter((_, i) => i !== index);
        attempt = 0;
        continue;
      }
      this.settle(pending, error);
      return;
    }
  }

  private settle(items: readonly Item[], error: Error | undefined): void {
    for (const { event, ticket } of items) {
      this.heldEvents--;
      this.heldBytes -= event.bytes;
      if (error !== undefined) {
        if (ticket.reportOnFlush) this.failures.push({ id: event.id, source: event.source, error });
        this.options.onError?.(error, { id: event.id, source: event.source });
        if (!ticket.settled) {
          ticket.settled = true;
          ticket.reject(error);
        }
      } else if (--ticket.remaining === 0 && !ticket.settled) {
        ticket.settled = true;
        ticket.resolve();
      }
    }
    this.wakeWaiters();
  }
}
