import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { CloudEvent } from '../cloudevents/index.js';
import type { BrokerMetrics, Logger } from '../observability/index.js';
import type { EventStore, StoredEvent } from '../store/index.js';
import { KeyedSerial } from '../store/index.js';
import { INDEXED_ATTRIBUTES } from '../filters/index.js';
import type {
  CompiledSubscription,
  SubscriptionDefinition,
  SubscriptionStatus,
} from '../subscriptions/types.js';
import type { SinkGuard } from '../sink-guard/index.js';
import { cursorKeyOf } from '../subscriptions/cursor-key.js';
import type { RedriveSelection } from '../subscriptions/delivery-port.js';
import { SinkClient } from './sink-client.js';
import { SubscriptionIndex } from './subscription-index.js';
import type { WorkerHost } from './worker.js';
import { SubscriptionWorker } from './worker.js';

export interface DispatcherOptions {
  readonly store: EventStore;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  /** How often moved cursors are committed (one write for all subscriptions). */
  readonly commitIntervalMs?: number;
  /** How often claims held by other replicas are tried again. */
  readonly claimRetryMs?: number;
  /** Where delivery may connect (`--sink-deny`, `--sink-allow`); unguarded without one. */
  readonly guard?: SinkGuard;
  /** PEM of a private CA for https sinks (`--sink-ca`). */
  readonly sinkCa?: string;
  /** Bytes of a sink's answer read before the connection is dropped (`--sink-response-limit`). */
  readonly sinkResponseLimit?: number;
  /** With `--sink-handshake required`: the origin the Web Hook validation handshake names. */
  readonly handshakeOrigin?: string;
  /** Kubernetes mode: reads the Secret a `sinkcredential.secretRef` names. */
  readonly readSecret?: (name: string) => Promise<Record<string, string>>;
  /** Told after events were dead-lettered (the broker then trims dead letters to their bounds soon). */
  readonly onDeadLettered?: () => void;
}

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

/**
 * Pushes the log to every subscription. One shared tail read serves all caught-up subscriptions;
 * candidates for an event come from an index of exact `type`/`source`/`subject` constraints, so an
 * event costs work only for subscriptions that can match it (plus the unindexable ones).
 */
export class Dispatcher implements WorkerHost {
  readonly store: EventStore;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  readonly client: SinkClient;
  readonly handshakeOrigin: string | undefined;
  readonly readSecret: ((name: string) => Promise<Record<string, string>>) | undefined;
  readonly onDeadLettered: (() => void) | undefined;
  private readonly workers = new Map<string, SubscriptionWorker>();
  /** Workers redriving dead letters of subscriptions another replica delivers, while they run. */
  private readonly detached = new Map<string, SubscriptionWorker>();
  private readonly index = new SubscriptionIndex();
  private readonly claimed = new Set<string>();
  private readonly unclaimed = new Map<string, { compiled: CompiledSubscription; initialCursor: number }>();
  private claimTimer: NodeJS.Timeout | undefined;
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
  private commitTimer: NodeJS.Timeout | undefined;
  /** Filter evaluations done by the shared tail (exported as a metric; tests use it to show indexing works). */
  filterEvaluations = 0;
  private commitRound = 0;
  /**
   * Changes (add, remove, seek, pause) of one subscription run one after another, so a second change made
   * while the first waits for its attempts to end never starts a second worker beside the first.
   */
  private readonly changes = new KeyedSerial();
  /** A pass of `retryClaims` is running. */
  private retryingClaims = false;

  constructor(options: DispatcherOptions) {
    this.store = options.store;
    this.metrics = options.metrics;
    this.logger = options.logger;
    this.handshakeOrigin = options.handshakeOrigin;
    this.readSecret = options.readSecret;
    this.onDeadLettered = options.onDeadLettered;
    const metrics = options.metrics;
    this.client = new SinkClient({
      ...(options.guard === undefined ? {} : { guard: options.guard }),
      ...(options.sinkCa === undefined ? {} : { ca: options.sinkCa }),
      ...(options.sinkResponseLimit === undefined ? {} : { responseLimit: options.sinkResponseLimit }),
      onTruncated: () => metrics.sinkResponsesTruncated.inc(),
      onDeadline: () => metrics.sinkDeadlineAborts.inc(),
    });
    this.commitIntervalMs = options.commitIntervalMs ?? 200;
    this.claimRetryMs = options.claimRetryMs ?? 2_000;
  }

  private readonly commitIntervalMs: number;
  /** Also how often a redrive waiting for another replica's redrive asks for the redrive claim again. */
  readonly claimRetryMs: number;

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

  holdsClaim(id: string): boolean {
    return this.store.holdsClaim(id);
  }

  async start(): Promise<void> {
    const stats = await this.store.stats();
    this.position = stats.last + 1;
    this.last = stats.last;
    this.running = true;
    this.tailLoop = this.runTail();
    this.commitTimer = setInterval(() => void this.commitCursors(), this.commitIntervalMs);
    this.commitTimer.unref();
    this.claimTimer = setInterval(() => void this.retryClaims(), this.claimRetryMs);
    this.claimTimer.unref();
  }

  /** Where a new subscription starts when its definition says `latest`. */
  async latestPosition(): Promise<number> {
    return (await this.store.stats()).last + 1;
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
        this.logger.error({ err: error }, 'shared tail read failed; retrying');
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
   * Which subscriptions an event would be offered to (`POST /match`): the same
   * exact-match index and compiled filters as the shared tail, read-only (no delivery, no counters).
   * Subscriptions another replica delivers are not in this process's index; their compiled filters
   * answer for them, so the result is the same on every replica.
   */
  async match(event: CloudEvent): Promise<SubscriptionDefinition[]> {
    // Candidates first (a snapshot: subscriptions may change while the evaluation yields), then their
    // filters in slices, as the shared tail does: many subscriptions and a large event never hold the
    // event loop for longer than a slice.
    const candidates = new Set<CompiledSubscription>();
    for (const worker of this.index.candidates(event.attributes)) candidates.add(worker.compiled);
    for (const { compiled } of this.unclaimed.values())
      if (!this.workers.has(compiled.definition.id)) candidates.add(compiled);
    const matched: SubscriptionDefinition[] = [];
    let sliceStart = performance.now();
    for (const compiled of candidates) {
      if (compiled.filter.matches(event)) matched.push(compiled.definition);
      if (performance.now() - sliceStart >= DISPATCH_SLICE_MS) {
        await yieldToEventLoop();
        sliceStart = performance.now();
      }
    }
    return matched.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
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

  /**
   * Starts delivering a subscription from its committed cursor (or `initialCursor` when it has none),
   * once this process holds the store's claim on it; until then it waits in `unclaimed` and the claim
   * is retried, so that with several replicas exactly one delivers each subscription.
   */
  add(compiled: CompiledSubscription, initialCursor: number): Promise<void> {
    return this.changes.run(compiled.definition.id, () => this.addNow(compiled, initialCursor));
  }

  private async addNow(
    compiled: CompiledSubscription,
    initialCursor: number,
    retrying = false,
  ): Promise<void> {
    const id = compiled.definition.id;
    // Not on a claim retry, which changes nothing until the claim is taken (below): ended there, a redrive
    // asked on a replica that does not deliver the subscription was cut off every `claimRetryMs`, its
    // letters left undelivered (and while it waits for another replica's redrive, always).
    if (!retrying) await this.endDetached(id);
    const existing = this.workers.get(id);
    if (existing !== undefined) await this.retire(existing, true);
    if (!this.claimed.has(id)) {
      this.unclaimed.set(id, { compiled, initialCursor });
      if (!(await this.store.claim(id, () => void this.changes.run(id, () => this.lost(id))))) return;
      if (this.unclaimed.get(id)?.compiled !== compiled) {
        // Replaced or removed meanwhile: the claim just taken is given back, not kept unrecorded.
        if (!this.unclaimed.has(id)) await this.store.release(id).catch(() => undefined);
        return;
      }
      this.unclaimed.delete(id);
      this.claimed.add(id);
    }
    // Again: a redrive asked for while the claim was taken made a detached worker meanwhile.
    await this.endDetached(id);
    const worker = new SubscriptionWorker(compiled, this);
    this.workers.set(id, worker);
    this.index.update(worker, true);
    this.wakeTail?.();
    try {
      await worker.start(initialCursor);
    } catch (error) {
      // The store failed between the claim and the start (e.g. a distributed store electing a
      // leader): keep the claim and start again with the claim retries, or nothing would.
      await this.retire(worker, false);
      if (this.claimed.has(id) && !this.unclaimed.has(id))
        this.unclaimed.set(id, { compiled, initialCursor });
      throw error;
    }
  }

  /**
   * Stops a worker; with `commit`, its position becomes the committed cursor. Its attempts in flight may
   * finish within `graceMs`, then they are ended.
   */
  private async retire(worker: SubscriptionWorker, commit: boolean, graceMs = 5_000): Promise<void> {
    if (this.workers.get(worker.id) === worker) this.workers.delete(worker.id);
    this.index.update(worker, false);
    this.joiners.delete(worker);
    await worker.stop(graceMs);
    // As the periodic commits: checked against the claim the store holds, so a replica that stalled past its
    // lease and hears a change before it hears the loss does not write its old position over the new holder's.
    if (commit) await this.store.commitCursors([[worker.cursorKey, worker.position()]]);
  }

  /**
   * The claim expired: another replica may be delivering now, so stop at once and commit nothing. Its
   * attempts in flight end now too, without the grace a change or a shutdown gives them: the new holder
   * delivers their events again, and an answer acted on here meanwhile (a refusal stored as a dead letter,
   * a letter sent to the dead-letter sink) duplicated the new holder's outcome for the same event.
   */
  private async lost(id: string): Promise<void> {
    this.claimed.delete(id);
    const worker = this.workers.get(id);
    if (worker === undefined) return;
    this.unclaimed.set(id, { compiled: worker.compiled, initialCursor: worker.position() });
    await this.retire(worker, false, 0);
    // Said once the worker stopped, so the line means it delivers nothing more.
    this.logger.warn({ subscription: id }, 'lost the claim on a subscription; another replica continues it');
  }

  /**
   * One pass over the subscriptions waiting for a claim, at most one pass at a time, over a snapshot:
   * a claim refused again puts its subscription back for the next pass, not at the end of this one (a
   * Map iteration visits entries added during it, so with a claim answered at once the pass never
   * ended, and two passes could take each other's entries forever without the event loop ever turning).
   */
  private async retryClaims(): Promise<void> {
    if (this.retryingClaims) return;
    this.retryingClaims = true;
    try {
      for (const [id, { compiled, initialCursor }] of [...this.unclaimed]) {
        if (!this.running) return;
        // Checked within the subscription's queue of changes: a removal queued before this retry has
        // run by then (the retry then finds nothing), and an add waiting on its claim is not undercut.
        await this.changes
          .run(id, async () => {
            if (this.unclaimed.get(id)?.compiled !== compiled) return;
            this.unclaimed.delete(id);
            await this.addNow(compiled, initialCursor, true);
          })
          .catch((error: unknown) => {
            this.logger.error({ err: error, subscription: id }, 'starting a subscription failed');
          });
      }
    } finally {
      this.retryingClaims = false;
    }
  }

  /** Stops delivering a subscription; with `forget`, its cursor is deleted too. Releases the claim. */
  remove(id: string, forget: boolean): Promise<void> {
    return this.changes.run(id, () => this.removeNow(id, forget));
  }

  private async removeNow(id: string, forget: boolean): Promise<void> {
    await this.endDetached(id);
    const waiting = this.unclaimed.get(id);
    this.unclaimed.delete(id);
    const worker = this.workers.get(id);
    if (worker !== undefined) await this.retire(worker, !forget);
    if (forget) {
      // The incarnation's cursor, and one a version without incarnations stored under the bare id. Of a
      // subscription this process does not know (deleted while withheld) only the latter is known; its
      // incarnation's cursor, if one is left, is never read again (a new subscription has its own).
      const definition = worker?.compiled.definition ?? waiting?.compiled.definition;
      const key = definition === undefined ? id : cursorKeyOf(definition);
      await this.store.deleteCursor(key);
      if (key !== id) await this.store.deleteCursor(id);
    }
    if (this.claimed.delete(id)) await this.store.release(id);
  }

  worker(id: string): SubscriptionWorker | undefined {
    return this.workers.get(id);
  }

  /** The store removed `letters` of a subscription's dead letters (their bounds): its count goes down. */
  deadLettersRemoved(id: string, letters: number): void {
    this.workers.get(id)?.deadLettersRemoved(letters);
  }

  status(id: string): SubscriptionStatus | undefined {
    return this.workers.get(id)?.status();
  }

  /** Events delivered for each subscription this process delivers, since it started delivering it. */
  deliveredCounts(): Array<{ id: string; delivered: number }> {
    return [...this.workers.values()].map((worker) => ({ id: worker.id, delivered: worker.deliveredEvents }));
  }

  setPaused(id: string, paused: boolean): Promise<void> {
    return this.changes.run(id, () => {
      const worker = this.workers.get(id);
      if (paused) worker?.pause();
      else worker?.resume();
      return Promise.resolve();
    });
  }

  seek(id: string, next: number, epoch: number): Promise<void> {
    return this.changes.run(id, async () => {
      const worker = this.workers.get(id);
      this.joiners.delete(worker as SubscriptionWorker);
      await worker?.seek(next, epoch);
    });
  }

  /**
   * Redrives with the local worker, or with a detached one when another replica delivers the
   * subscription; redrives of one subscription on this replica share that worker's queue.
   */
  redrive(compiled: CompiledSubscription, selection: RedriveSelection): Promise<void> {
    const id = compiled.definition.id;
    const local = this.workers.get(id);
    if (local !== undefined) return local.redrive(selection);
    let detached = this.detached.get(id);
    if (detached === undefined) {
      detached = new SubscriptionWorker(compiled, this);
      this.detached.set(id, detached);
    }
    const worker = detached;
    return worker.redrive(selection).finally(() => {
      if (this.detached.get(id) === worker && !worker.redriving) this.detached.delete(id);
    });
  }

  /**
   * A change of the subscription (a PUT, a DELETE, the claim taken here) ends the redrive a detached
   * worker runs for it, as retiring ends the local worker's: the letter in flight ends first (its outcome
   * settled or stored before the change goes on), the rest stay dead letters. Left running, it went on
   * delivering its queue to the sink a PUT replaced (redrives asked for after the PUT joined that queue),
   * stored refusals as dead letters of a deleted subscription, and beside a local worker that had just
   * started (a second redrive there delivered the letter in flight again).
   */
  private async endDetached(id: string): Promise<void> {
    const detached = this.detached.get(id);
    if (detached === undefined) return;
    this.detached.delete(id);
    await detached.stop(5_000);
  }

  /** True when this process delivers the subscription (it holds the claim). */
  isLocal(id: string): boolean {
    return this.workers.has(id);
  }

  /**
   * Commits every cursor that moved since the last commit, in one store write. A subscription that
   * only moved because the shared tail passed events it does not want is committed every tenth
   * round: redelivery after a crash cannot happen for it, so the write buys little.
   */
  async commitCursors(all = false): Promise<void> {
    this.commitRound++;
    const everyone = all || this.commitRound % 10 === 0;
    const moved: Array<{ worker: SubscriptionWorker; position: number; before: number }> = [];
    for (const worker of this.workers.values()) {
      const position = worker.position();
      if (position === worker.committed) continue;
      if (everyone || worker.takeDelivered()) moved.push({ worker, position, before: worker.committed });
    }
    if (moved.length === 0) return;
    try {
      await this.store.commitCursors(moved.map(({ worker, position }) => [worker.cursorKey, position]));
      // By the worker itself, not by the key written: that is `id~incarnation`, and a lookup of it among
      // the workers (kept by id) found none, so every cursor that had moved once was written again every
      // round. Not when a seek committed meanwhile (`committed` changed): its cursor is the newer one.
      for (const { worker, position, before } of moved)
        if (worker.committed === before) worker.committed = position;
    } catch (error) {
      this.logger.warn({ err: error }, 'committing cursors failed; will retry');
    }
  }

  /**
   * Graceful stop: in-flight attempts may finish until `timeoutMs`; then they are aborted (their
   * events stay before the committed cursor and are delivered after a restart), and every cursor is
   * committed. Never waits for a sink beyond the deadline.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.running = false;
    this.stopController.abort();
    if (this.commitTimer !== undefined) clearInterval(this.commitTimer);
    if (this.claimTimer !== undefined) clearInterval(this.claimTimer);
    await this.tailLoop;
    // Detached redrives stop with the rest: a letter in flight ends (or is aborted) before the store closes.
    const workers = [...this.workers.values(), ...this.detached.values()];
    this.detached.clear();
    await Promise.all(workers.map((worker) => worker.stop(timeoutMs)));
    this.client.abortAll();
    await Promise.all(workers.map((worker) => worker.settle(1_000)));
    await this.commitCursors(true);
    await Promise.all([...this.claimed].map((id) => this.store.release(id).catch(() => undefined)));
    this.claimed.clear();
    await this.client.close();
  }
}
