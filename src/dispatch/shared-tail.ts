/**
 * The shared tail, apart from the dispatcher that composes it: the one read of the log that feeds every
 * caught-up (live) worker, with its position, its joiners and its slicing of filter work. It is the
 * dispatcher's per-event hot path; the dispatcher's other concerns (claims, changes, cursor commits,
 * redrives) only start it, stop it, wake it and take workers off its list of joiners.
 */

import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { INDEXED_ATTRIBUTES } from '../filters/index.js';
import type { BrokerMetrics, Logger } from '../observability/index.js';
import type { EventStore, StoredEvent } from '../store/index.js';
import type { SubscriptionIndex } from './subscription-index.js';
import type { SubscriptionWorker } from './worker.js';

const TAIL_PAGE = 512;
/**
 * Filtering runs in slices of at most about this long, then yields to the event loop, so that costly
 * filters or large events delay requests by one slice at most.
 */
export const DISPATCH_SLICE_MS = 10;
/** Events without a filter evaluation between two reads of the clock in the shared tail. */
const CLOCK_EVERY_EVENTS = 64;
/**
 * Filter evaluations of one event between two reads of the clock, unless they did more string work than
 * CLOCK_EVERY_WORK first: each may spend a whole `--filter-eval-budget` (milliseconds), and one event
 * may have `--max-subscriptions-total` candidates. Cheap filters (exact, prefix, …: no string work
 * counted) cost ~100 ns each, so the clock (~60 ns) is read after a run of them only.
 */
const CLOCK_EVERY_EVALUATIONS = 64;
/** String work (budget units) after which the tail reads the clock within one event. */
const CLOCK_EVERY_WORK = 100_000;

/** What the tail reads and feeds: the store, and the dispatcher's workers and their index (read, never changed). */
export interface SharedTailOptions {
  readonly store: EventStore;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  /** Every worker this process delivers (the dispatcher's map: the tail idles while it is empty). */
  readonly workers: ReadonlyMap<string, SubscriptionWorker>;
  readonly index: SubscriptionIndex;
  /** Logs that the tail's read failed (it tries again in a second): throttled with the workers' failures. */
  readonly readFailed: (error: unknown) => void;
}

/**
 * Reads the log once for all caught-up subscriptions; candidates for an event come from an index of
 * exact `type`/`source`/`subject` constraints, so an event costs work only for subscriptions that can
 * match it (plus the unindexable ones).
 */
export class SharedTail {
  private readonly store: EventStore;
  private readonly metrics: BrokerMetrics;
  private readonly logger: Logger;
  private readonly workers: ReadonlyMap<string, SubscriptionWorker>;
  private readonly index: SubscriptionIndex;
  private readonly readFailed: (error: unknown) => void;

  /** Workers read up to (or past) the tail's position: they join it once it reaches them (`admitJoiners`). */
  private readonly joiners = new Set<SubscriptionWorker>();
  private position = 1;
  private last = 0;
  private running = false;
  /** When the shared tail's current slice of filtering began. */
  private sliceStart = 0;
  /** Candidates of the tail's current event that the slice ran out before (see `offerToMatching`). */
  private unoffered: SubscriptionWorker[] | undefined;
  /** The tail yields between the candidates of one event: nobody joins it until the event is offered. */
  private midEvent = false;
  private readonly stopController = new AbortController();
  private tailLoop: Promise<void> | undefined;
  /** Set while the shared tail idles without subscriptions: wakes it. */
  private wakeTail: (() => void) | undefined;
  /** Filter evaluations done by the shared tail (exported as a metric; tests use it to show indexing works). */
  filterEvaluations = 0;

  constructor(options: SharedTailOptions) {
    this.store = options.store;
    this.metrics = options.metrics;
    this.logger = options.logger;
    this.workers = options.workers;
    this.index = options.index;
    this.readFailed = options.readFailed;
  }

  /** Starts reading after `last`, the log's last sequence when delivery starts. */
  start(last: number): void {
    this.position = last + 1;
    this.last = last;
    this.running = true;
    this.tailLoop = this.runTail();
  }

  /** Stops reading: resolves once the tail's loop has ended. */
  stop(): Promise<void> {
    this.running = false;
    this.stopController.abort();
    return this.tailLoop ?? Promise.resolve();
  }

  /** A worker was added: the tail, idling without any, reads again. */
  wake(): void {
    this.wakeTail?.();
  }

  /** A worker stops or seeks: it no longer waits to join the tail. */
  leave(worker: SubscriptionWorker | undefined): void {
    if (worker !== undefined) this.joiners.delete(worker);
  }

  tailPosition(): number {
    return this.position;
  }

  lastSequence(): number {
    return this.last;
  }

  tryJoin(worker: SubscriptionWorker): boolean {
    // Mid-event a joiner at the position might not be offered the event (its candidates were taken
    // before the yield): it waits as a joiner and, once the tail moved on, reads the event itself.
    if (worker.readPos === this.position && !this.midEvent) {
      worker.live = true;
      this.joiners.delete(worker);
      return true;
    }
    if (worker.readPos >= this.position) this.joiners.add(worker);
    return false;
  }

  /**
   * Resolves when the dispatcher has a subscription to feed again (or stops). Until then the shared tail
   * neither reads the log nor waits on the store for appends: a store takes a reader waiting for appends
   * as work its event loop must stay free for (the embedded store then syncs a large group on libuv's
   * pool instead of in place), and a broker that only stores has none.
   */
  private workersAppeared(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.wakeTail = undefined;
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.wakeTail = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * After idling, the tail starts at the end of the log: nobody needed what was appended meanwhile (a
   * worker that does reads it on its own). Not while a worker is live: it joined at the tail's position,
   * and the tail must read on from exactly there.
   */
  private async skipIdleAppends(): Promise<void> {
    const end = (await this.store.stats()).last + 1;
    let live = false;
    for (const worker of this.workers.values()) if (worker.live) live = true;
    if (live || end <= this.position) return;
    this.position = end;
    if (end - 1 > this.last) this.last = end - 1;
    this.admitJoiners();
  }

  /** Joiners the tail has reached join it, or catch up on their own. */
  private admitJoiners(): void {
    for (const worker of this.joiners) {
      if (worker.readPos <= this.position) {
        this.joiners.delete(worker);
        if (!this.tryJoin(worker)) void worker.fill();
      }
    }
  }

  private async runTail(): Promise<void> {
    const signal = this.stopController.signal;
    while (this.running) {
      if (this.workers.size === 0) {
        await this.workersAppeared(signal);
        if (!this.running) return;
        try {
          await this.skipIdleAppends();
        } catch (error) {
          this.logger.error({ err: error }, 'shared tail could not find the end of the log; reading on');
        }
        continue;
      }
      // Waiting first (it resolves at once while the store knows of later events) saves a read of
      // nothing after every page: for a distributed store that read is a request to the server.
      await this.store.waitForAppend(this.position - 1, signal);
      if (!this.running) return;
      let page;
      try {
        page = await this.store.read(this.position, TAIL_PAGE);
      } catch (error) {
        if (!this.running) return;
        this.readFailed(error);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      if (page.length === 0) continue;
      this.metrics.logReads.inc({ reader: 'tail' });
      const touched = new Set<SubscriptionWorker>();
      this.sliceStart = performance.now();
      let unclocked = 0;
      // Without indexed subscriptions the indexed attributes are not looked up at all (three misses per
      // event on a broker that only stores, or whose subscriptions all filter otherwise).
      let indexed = this.index.hasIndexed();
      for (const stored of page) {
        let evaluated = false;
        if (indexed) {
          const attributes = stored.event.attributes;
          for (const attribute of INDEXED_ATTRIBUTES) {
            const value = attributes[attribute];
            if (typeof value !== 'string') continue;
            const bucket = this.index.bucket(attribute, value);
            if (bucket !== undefined && this.offerToMatching(bucket, stored, touched)) evaluated = true;
            if (this.unoffered !== undefined && !(await this.offerUnoffered(stored, touched))) return;
          }
        }
        if (this.index.unindexed.size > 0 && this.offerToMatching(this.index.unindexed, stored, touched))
          evaluated = true;
        if (this.unoffered !== undefined && !(await this.offerUnoffered(stored, touched))) return;
        // The position moves event by event, so a worker joining during a yield starts exactly here.
        this.position = stored.sequence + 1;
        if (stored.sequence > this.last) this.last = stored.sequence;
        // Reading the clock costs ~60 ns, more than an event no filter looked at: such events read it
        // every CLOCK_EVERY_EVENTS only.
        if (!evaluated && ++unclocked < CLOCK_EVERY_EVENTS) continue;
        unclocked = 0;
        if (performance.now() - this.sliceStart >= DISPATCH_SLICE_MS) {
          for (const worker of touched) worker.afterTailPage();
          touched.clear();
          await yieldToEventLoop();
          if (!this.running) return;
          indexed = this.index.hasIndexed();
          this.sliceStart = performance.now();
        }
      }
      for (const worker of touched) worker.afterTailPage();
      this.admitJoiners();
    }
  }

  /**
   * Offers an event to each live worker whose filter matches it; true when some filter was evaluated.
   * When the slice runs out first, the workers not reached are left in `unoffered` (a snapshot) for
   * `offerUnoffered`: a thousand subscriptions each spending its whole --filter-eval-budget on one event
   * held the event loop for seconds, every request and probe waiting.
   */
  private offerToMatching(
    workers: Set<SubscriptionWorker> | SubscriptionWorker[],
    stored: StoredEvent,
    touched: Set<SubscriptionWorker>,
  ): boolean {
    let evaluated = false;
    let unclocked = 0;
    let work = 0;
    const iterator = workers.values();
    for (const worker of iterator) {
      if (!worker.live) continue;
      this.filterEvaluations++;
      evaluated = true;
      if (worker.matches(stored)) {
        worker.offer(stored);
        touched.add(worker);
      }
      work += worker.compiled.filter.lastCost();
      if (++unclocked < CLOCK_EVERY_EVALUATIONS && work < CLOCK_EVERY_WORK) continue;
      unclocked = 0;
      work = 0;
      if (performance.now() - this.sliceStart < DISPATCH_SLICE_MS) continue;
      // Built-in iterators have no return(): the loop leaves the rest of this one to take.
      const rest = [...iterator];
      if (rest.length > 0) this.unoffered = rest;
      break;
    }
    return evaluated;
  }

  /**
   * Offers the tail's event to the `unoffered` workers, a slice per turn of the event loop; false when the
   * dispatcher stopped meanwhile. The position stays at the event (so no cursor passes it), workers that
   * fall behind stay live until it is offered to all (`afterTailPage` would have them read it again), and
   * nobody joins meanwhile (`tryJoin`).
   */
  private async offerUnoffered(stored: StoredEvent, touched: Set<SubscriptionWorker>): Promise<boolean> {
    this.midEvent = true;
    try {
      for (let rest = this.unoffered; rest !== undefined; rest = this.unoffered) {
        this.unoffered = undefined;
        await yieldToEventLoop();
        if (!this.running) return false;
        this.sliceStart = performance.now();
        this.offerToMatching(rest, stored, touched);
      }
      return true;
    } finally {
      this.unoffered = undefined;
      this.midEvent = false;
    }
  }
}
