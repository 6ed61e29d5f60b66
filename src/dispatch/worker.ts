import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import { tracing } from '../observability/index.js';
import type { Logger } from '../observability/index.js';
import type { DeadLetter, EventStore, StoredEvent } from '../store/index.js';
import { cursorKeyOf } from '../subscriptions/cursor-key.js';
import type { RedriveSelection } from '../subscriptions/delivery-port.js';
import type { CompiledSubscription, SubscriptionStatus } from '../subscriptions/types.js';
import type { AttemptError } from './attempt-error.js';
import { attemptError } from './attempt-error.js';
import { DeadLetters } from './dead-lettering.js';
import { Lane } from './lane.js';
import { backoffDelay, classifyStatus, parseRetryAfter } from './retry.js';
import type { SinkAccessHost } from './sink-access.js';
import { SinkAccess } from './sink-access.js';
import { attemptRequest } from './attempt-request.js';
import { AttemptGate } from './attempt-gate.js';
import { startCursor, startTimeAhead } from './start-position.js';
import { EarliestTimer, timerDelay } from './timers.js';

/** What a worker needs from its dispatcher: the store, the transport and the shared tail's position. */
export interface WorkerHost extends SinkAccessHost {
  readonly store: EventStore;
  readonly logger: Logger;
  /** The next sequence the shared tail will read. */
  tailPosition(): number;
  /** The highest sequence known to exist. */
  lastSequence(): number;
  /** Joins the shared tail if the worker's read position is the tail's; otherwise waits for it. */
  tryJoin(worker: SubscriptionWorker): boolean;
  /** True while this process still holds its claim on the subscription (`EventStore.holdsClaim`). */
  holdsClaim(id: string): boolean;
  /** Logs that reading the log for `subscription` failed (it is tried again in a second). */
  logReadFailure(subscription: string, error: unknown): void;
}

type LastError = NonNullable<SubscriptionStatus['lastError']>;

/** Caught-up workers get events from the shared tail; above this many queued events a worker reads on its own. */
const HIGH_WATER = 2048;
const LOW_WATER = 512;
const PAGE = 256;
/** As the shared tail's (`shared-tail.ts`): catching up filters for about this long, then yields. */
const DISPATCH_SLICE_MS = 10;

function partitionKey(event: StoredEvent): string | undefined {
  const key = event.event.attributes['partitionkey'];
  return key === undefined ? undefined : String(key);
}

/**
 * Delivers one subscription's events: at least once, in the configured order, with retries, rate
 * limit and dead letters. Its cursor (the first sequence not yet delivered or dead-lettered) is
 * committed by the dispatcher, so after a crash delivery resumes there.
 */
export class SubscriptionWorker {
  /** True while the shared tail feeds this worker; its read position is then the tail's. */
  live = false;
  /** Next sequence to read from the store while not live. */
  readPos = 0;
  private lane: Lane;
  private stopped = false;
  /** The next pump a wait needs (a partial batch's, the rate limit's, a hold's): the earliest asked for. */
  private readonly pumpTimer = new EarliestTimer(() => this.pump());
  /** The subscription's pause, and the rate limit's tokens for retries and redriven letters. */
  private readonly gate: AttemptGate;
  private lastDeliveredAt: number | undefined;
  private lastError: LastError | undefined;
  private consecutiveFailures = 0;
  private readonly deadLetters: DeadLetters;
  /**
   * `startAt: {time}` still ahead when the worker started: the store's `sequenceAt` answers the log's end
   * for a time to come, and events stored until then are not this subscription's ("the first event stored
   * at or after that instant"); skipped until one stored at or after it comes by.
   */
  private storedFrom: number | undefined;
  /** The credential and handshake headers, the sink's consent and the rate limit. */
  private readonly access: SinkAccess;
  committed = 0;
  /** Events this worker delivered since it started (the dashboard's per-subscription delivery rate). */
  deliveredEvents = 0;
  /** Something was delivered or dead-lettered since the dispatcher last asked. */
  private delivered = false;
  /**
   * Set by `start`. A worker made only to redrive (another replica delivers the subscription) never reads or
   * delivers the log: once its sink consented in the handshake, it delivered the log from its start.
   */
  private started = false;

  constructor(
    public compiled: CompiledSubscription,
    private readonly host: WorkerHost,
  ) {
    this.lane = new Lane(compiled.definition.seek?.epoch);
    this.deadLetters = new DeadLetters(compiled, host);
    this.access = new SinkAccess(compiled, host);
    this.storedFrom = startTimeAhead(compiled.definition);
    this.gate = new AttemptGate(compiled.definition.paused, this.access);
  }

  /**
   * Runs the Web Hook handshake (`SinkAccess.validate`), its failures shown as lastError meanwhile; on
   * consent the queued events start.
   */
  private async validate(maxAttempts = Number.POSITIVE_INFINITY): Promise<boolean> {
    const valid = await this.access.validate(maxAttempts, (error) => {
      this.lastError = error;
    });
    if (valid) this.pump();
    return valid;
  }

  get id(): string {
    return this.compiled.definition.id;
  }

  /** Where this subscription's cursor is stored (its id and incarnation). */
  get cursorKey(): string {
    return cursorKeyOf(this.compiled.definition);
  }

  /** Whether `stored` is this subscription's: its filter, and `startAt: {time}` while that time is ahead. */
  matches(stored: StoredEvent): boolean {
    if (this.storedFrom !== undefined) {
      if (stored.storedAt < this.storedFrom) return false;
      // From here on the log is past the start time: the check ends (a clock set back later must not
      // make the subscription skip events).
      this.storedFrom = undefined;
    }
    return this.compiled.filter.matches(stored.event);
  }

  async start(initialCursor: number): Promise<void> {
    // Before anything is read: a subscription whose credential cannot be resolved does not start
    // (the dispatcher retries), rather than deliver without it.
    await this.access.resolveSecretRef();
    const cursor = await startCursor(this.host.store, this.cursorKey, this.id, initialCursor);
    this.readPos = cursor;
    this.committed = cursor;
    this.started = true;
    this.deadLetters.count = await this.host.store.countDeadLetters(this.id);
    if (this.access.state === 'validating') void this.validate();
    void this.fill();
  }

  /** True once after anything was delivered or dead-lettered (the dispatcher commits those cursors first). */
  takeDelivered(): boolean {
    const delivered = this.delivered;
    this.delivered = false;
    return delivered;
  }

  /** The sequence below which everything is delivered or dead-lettered. */
  position(): number {
    const lane = this.lane;
    let position = this.live ? this.host.tailPosition() : this.readPos;
    const head = lane.queue[0];
    if (head !== undefined && head.sequence < position) position = head.sequence;
    return lane.lowestInFlight(position);
  }

  /** Called by the shared tail for a matching event while live. */
  offer(stored: StoredEvent): void {
    const lane = this.lane;
    if (lane.queue.length === 0) lane.firstQueuedAt = performance.now();
    lane.queue.push(stored);
    this.pump();
  }

  /** Called by the shared tail after a page: a worker that fell behind leaves the tail and reads on its own. */
  afterTailPage(): void {
    if (this.live && this.lane.queue.length > HIGH_WATER) {
      this.live = false;
      this.readPos = this.host.tailPosition();
    }
  }

  /** Reads from the store while not live, until caught up with the shared tail. */
  async fill(): Promise<void> {
    // One reader per lane: a seek starts a new lane whose reader starts at once, while the old lane's
    // reader (perhaps waiting for its turn of the event loop) sees the change and stops.
    const lane = this.lane;
    if (lane.reading || this.live || this.stopped) return;
    lane.reading = true;
    try {
      while (!this.stopped && !this.live && lane === this.lane && lane.queue.length < LOW_WATER) {
        const tail = this.host.tailPosition();
        if (this.readPos >= tail) {
          this.host.tryJoin(this);
          break;
        }
        // Catching up runs in slices on later turns of the event loop, never in one synchronous run
        // (a store read may resolve at once): requests, probes and other subscriptions go between.
        await yieldToEventLoop();
        if (lane !== this.lane || this.stopped || this.live) return;
        const page = await this.host.store.read(this.readPos, Math.min(PAGE, tail - this.readPos));
        if (lane !== this.lane || this.stopped) return;
        this.host.metrics.logReads.inc({ reader: 'subscription' });
        if (page.length === 0) {
          // Retention removed everything up to the tail (a store answers empty only where the log holds
          // no event from here on: `EventStore.read`).
          this.readPos = tail;
          continue;
        }
        const sliceStart = performance.now();
        for (const stored of page) {
          this.readPos = stored.sequence + 1;
          if (this.matches(stored)) {
            if (lane.queue.length === 0) lane.firstQueuedAt = performance.now();
            lane.queue.push(stored);
          }
          if (performance.now() - sliceStart >= DISPATCH_SLICE_MS) break;
        }
        this.pump();
      }
    } catch (error) {
      if (!this.stopped) this.host.logReadFailure(this.id, error);
      if (!this.stopped) setTimeout(() => void this.fill(), 1000).unref();
    } finally {
      lane.reading = false;
    }
  }

  /** Index of the next queued event that ordering allows to start now, or -1. */
  private selectIndex(lane: Lane): number {
    const plan = this.compiled.plan;
    if (lane.previous !== undefined) {
      if (!lane.previous.idle) return -1;
      lane.previous = undefined;
    }
    if (lane.queue.length === 0 || lane.active >= plan.maxInFlight) return -1;
    if (plan.contentMode === 'batch') return lane.active === 0 ? 0 : -1;
    if (plan.ordering !== 'partitionkey') return 0;
    const limit = Math.min(lane.queue.length, 4096);
    for (let i = 0; i < limit; i++) {
      const key = partitionKey(lane.queue[i] as StoredEvent);
      if (key === undefined || !lane.isBusy(key)) return i;
    }
    return -1;
  }

  /** Starts as many deliveries as ordering, maxInFlight and the rate limit allow. */
  private pump(): void {
    if (this.stopped || !this.started) return;
    const lane = this.lane;
    const plan = this.compiled.plan;
    if (lane.holdUntil > 0) {
      const wait = lane.holdUntil - performance.now();
      if (wait > 0) {
        this.pumpTimer.schedule(wait);
        return;
      }
      lane.holdUntil = 0;
    }
    while (!this.gate.paused && this.access.state === 'valid') {
      const index = this.selectIndex(lane);
      if (index < 0) break;
      let count = 1;
      if (plan.contentMode === 'batch') {
        count = Math.min(plan.batchMaxEvents, lane.queue.length);
        const waited = performance.now() - lane.firstQueuedAt;
        if (
          count < plan.batchMaxEvents &&
          waited < plan.batchMaxWaitMs &&
          (this.live || this.readPos >= this.host.tailPosition())
        ) {
          this.pumpTimer.schedule(plan.batchMaxWaitMs - waited);
          break;
        }
      }
      if (this.access.bucket !== undefined && !this.access.bucket.tryTake(count)) {
        this.pumpTimer.schedule(this.access.bucket.waitTime(count));
        break;
      }
      const events = lane.queue.splice(index, count);
      if (lane.queue.length > 0) lane.firstQueuedAt = performance.now();
      void this.deliver(lane, events);
    }
    if (!this.live && lane.queue.length < LOW_WATER) void this.fill();
  }

  private async deliver(lane: Lane, events: StoredEvent[]): Promise<void> {
    lane.active++;
    const ordered = this.compiled.plan.ordering === 'partitionkey';
    for (const stored of events) lane.start(stored.sequence, partitionKey(stored), ordered);
    let outcome: Awaited<ReturnType<SubscriptionWorker['deliverWithRetries']>> | undefined;
    try {
      outcome = await this.deliverWithRetries(events, lane, true);
    } catch (error) {
      // Neither delivered nor dead-lettered: the events go back to the queue (below) and are tried again
      // later, so the cursor never passes them.
      this.host.logger.error(
        { err: error, subscription: this.id, sequences: events.map((e) => e.sequence) },
        'delivery failed unexpectedly; the events will be tried again',
      );
    } finally {
      if (outcome !== undefined) this.delivered = true;
      lane.active--;
      if (outcome === undefined) {
        if (lane === this.lane && !this.stopped) this.requeue(lane, events);
      } else if (!(outcome === 'aborted' && this.stopped)) {
        // Abandoned at shutdown (or a change): the events stay "in flight", so the committed cursor stays
        // before them and they are delivered again after a restart (or by the worker that replaces this one).
        for (const stored of events) lane.finish(stored.sequence);
      }
      lane.deliveryEnded();
      // The current lane's next delivery; or, when a lane a seek replaced went quiet, the current one's
      // first (selectIndex holds it until every lane it replaced is idle).
      if (lane === this.lane || lane.active === 0) this.pump();
    }
  }

  /**
   * Puts events whose delivery failed unexpectedly back in the queue, in log order, and tries again
   * after the subscription's first backoff: they stay before the cursor meanwhile.
   */
  private requeue(lane: Lane, events: readonly StoredEvent[]): void {
    for (const stored of events) lane.finish(stored.sequence);
    const queue = lane.queue;
    for (let i = events.length - 1; i >= 0; i--) {
      const stored = events[i] as StoredEvent;
      let at = 0;
      while (at < queue.length && (queue[at] as StoredEvent).sequence < stored.sequence) at++;
      queue.splice(at, 0, stored);
    }
    lane.firstQueuedAt = performance.now();
    lane.holdUntil = performance.now() + backoffDelay(this.compiled.plan, 1);
  }

  /**
   * True once this process's claim on the subscription ran out: the worker stops at once (the store told
   * the dispatcher, which retires it), the asking attempt's events left in flight, before the cursor.
   * Live deliveries only: a redrive runs under the redrive claim, perhaps on a replica not holding this one.
   */
  private claimRanOut(): boolean {
    if (this.host.holdsClaim(this.id)) return false;
    this.stopped = true;
    this.lane.abandon();
    return true;
  }

  /**
   * Attempts delivery until delivered, rejected, out of retries (then dead-lettered), or aborted by
   * a stop or seek (then nothing is recorded and the cursor stays before these events).
   */
  private async deliverWithRetries(
    events: StoredEvent[],
    lane: Lane,
    pausable: boolean,
    /** The letter a redrive delivers `events` (then one) from. */
    redriven?: DeadLetter,
  ): Promise<'delivered' | 'deadlettered' | 'aborted'> {
    const { plan, definition } = this.compiled;
    const { metrics, client } = this.host;
    const settings = definition.protocolsettings;
    const signal = lane.signal;
    let error: AttemptError | undefined;
    let attempt = 0;
    for (;;) {
      attempt++;
      if (!(await this.gate.mayStart(events.length, attempt, pausable, signal))) return 'aborted';
      if (pausable && this.claimRanOut()) return 'aborted';
      // A redrive (the one caller that cannot be paused) redelivers, as a retry does.
      const redelivered = attempt > 1 || !pausable;
      const { headers, body } = attemptRequest(
        this.compiled,
        events,
        attempt,
        redelivered,
        this.access.headers,
      );
      const method = settings?.method ?? 'POST';
      const span = tracing().delivery(events, {
        subscription: definition.id,
        sink: definition.sink,
        method,
        attempt,
        contentMode: plan.contentMode,
      });
      span.inject(headers);
      const started = performance.now();
      const response = await client.send({
        url: definition.sink,
        method,
        headers,
        body,
        timeoutMs: plan.timeoutMs,
        group: lane.attempts,
      });
      metrics.deliverySeconds.observe((performance.now() - started) / 1000);
      span.end(response.status, response.failure, response.detail);
      if (response.failure === 'shutdown' || response.failure === 'abandoned') return 'aborted';
      // An answer read after the claim ran out is another replica's to act on (it delivers these events
      // again): not recorded here, neither delivered nor dead-lettered.
      if (pausable && this.claimRanOut()) return 'aborted';
      const outcome = response.status === 0 ? 'retry' : classifyStatus(response.status);
      if (outcome === 'delivered') {
        metrics.deliveries.inc({ outcome: 'delivered' }, events.length);
        this.deliveredEvents += events.length;
        this.lastDeliveredAt = Date.now();
        this.consecutiveFailures = 0;
        return 'delivered';
      }
      error = attemptError(response);
      this.lastError = { ...error, at: new Date().toISOString() };
      this.consecutiveFailures++;
      if (outcome === 'reject' || attempt > plan.retry) break;
      metrics.deliveries.inc({ outcome: 'retried' }, events.length);
      try {
        const delay = backoffDelay(plan, attempt, parseRetryAfter(response.retryAfter));
        await sleep(delay, undefined, { signal });
      } catch {
        return 'aborted';
      }
      if (signal.aborted) return 'aborted';
    }
    return (await this.deadLetters.add(
      events,
      error,
      attempt,
      signal,
      (failures, cause) => {
        this.lastError = {
          code: 'HERALD_STORE_UNAVAILABLE',
          message: `storing the dead letter failed (${(cause as Error).message}); retrying`,
          at: new Date().toISOString(),
        };
        return backoffDelay(plan, Math.min(failures, 30));
      },
      lane.attempts,
      redriven === undefined ? { seekEpoch: lane.seekEpoch } : { redriven },
    ))
      ? 'deadlettered'
      : 'aborted';
  }

  /** Re-delivers dead letters with the subscription's policy; a delivered one leaves the dead-letter store. */
  async redrive(selection: RedriveSelection): Promise<void> {
    // With --sink-handshake required a redrive waits for consent too (bounded by the retry count);
    // without it the dead letters stay where they are.
    if (this.access.state !== 'valid' && !(await this.validate(this.compiled.plan.retry + 1))) {
      this.host.logger.warn({ subscription: this.id }, 'redrive skipped: the sink did not validate');
      return;
    }
    await this.deadLetters.redrive(
      selection,
      // The lane at each letter: a seek during a long redrive ends the letter in flight, not the rest.
      (stored, letter) => this.deliverWithRetries([stored], this.lane, false, letter),
      () => this.stopped,
    );
  }

  /** The store removed `letters` of this subscription's dead letters (`--dead-letter-max-*`). */
  deadLettersRemoved(letters: number): void {
    this.deadLetters.count = Math.max(0, this.deadLetters.count - letters);
  }

  /** True while a redrive of this worker runs. */
  get redriving(): boolean {
    return this.deadLetters.redriving;
  }

  pause(): void {
    this.gate.pause();
  }

  resume(): void {
    this.gate.resume();
    this.pump();
  }

  /**
   * Replays from `next`: drops what is queued, ends the attempts and retries in progress, and reads from
   * there; the new lane starts delivering once the old one's attempts have ended (never both at once).
   */
  async seek(next: number, epoch: number): Promise<void> {
    // A seek says where delivery goes on, start time or not.
    this.storedFrom = undefined;
    const old = this.lane;
    old.abandon();
    old.abortAttempts();
    this.lane = new Lane(epoch);
    if (!old.idle) this.lane.previous = old;
    this.live = false;
    this.readPos = next;
    this.committed = next;
    await this.host.store.commitCursor(this.cursorKey, next);
    void this.fill();
  }

  status(): SubscriptionStatus {
    const cursor = this.position();
    return {
      state: this.gate.paused
        ? 'paused'
        : this.access.state === 'validating'
          ? 'validating'
          : this.consecutiveFailures > 0
            ? 'failing'
            : 'active',
      cursor,
      lag: Math.max(0, this.host.lastSequence() - cursor + 1),
      lastDeliveredAt:
        this.lastDeliveredAt === undefined ? null : new Date(this.lastDeliveredAt).toISOString(),
      lastError: this.lastError ?? null,
      deadLettered: this.deadLetters.count,
    };
  }

  /**
   * Stops: no new deliveries; in-flight HTTP attempts finish (up to `timeoutMs`), pending retries are
   * abandoned and stay before the cursor, so they are delivered again after a restart.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    // Where the shared tail stands now is where this worker stops reading: the dispatcher took it out
    // of the tail's index just before, so the tail offers it nothing after this position. (Left live,
    // its position would follow the tail on past events never offered to it, and the cursor committed
    // for its replacement would skip them.)
    if (this.live) {
      this.live = false;
      this.readPos = this.host.tailPosition();
    }
    this.access.stop();
    this.pumpTimer.clear();
    const lane = this.lane;
    lane.abandon();
    if (await this.settle(timeoutMs)) return;
    // Still in flight at the deadline: ended now (their events stay before the cursor), so that whoever
    // delivers next (a replacement worker, another replica, a restart) never overlaps them.
    lane.abortAttempts();
    await this.settle(1_000);
  }

  /**
   * True once no attempt of the current lane (`Lane.whenIdle`) nor redriven letter is in flight, false after
   * `timeoutMs`: a DELETE retiring this worker must not end before its redrive's letter (refused, it was
   * stored after the DELETE as a dead letter of the deleted subscription, for one made again under its id).
   */
  async settle(timeoutMs: number): Promise<boolean> {
    const lane = this.lane;
    if (lane.active === 0 && !this.deadLetters.redriving) return true;
    const timeout = new AbortController();
    const idle = await Promise.race([
      Promise.all([lane.whenIdle(), this.deadLetters.whenIdle()]).then(() => true),
      sleep(timerDelay(timeoutMs), undefined, { signal: timeout.signal }).then(
        () => false,
        () => false,
      ),
    ]);
    timeout.abort();
    return idle;
  }
}
