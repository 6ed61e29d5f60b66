import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { CloudEvent } from '../cloudevents/index.js';
import { LogThrottle } from '../observability/index.js';
import type { BrokerMetrics, Logger } from '../observability/index.js';
import type { EventStore } from '../store/index.js';
import { KeyedSerial } from '../store/index.js';
import type {
  CompiledSubscription,
  SubscriptionDefinition,
  SubscriptionStatus,
} from '../subscriptions/types.js';
import type { SinkGuard } from '../sink-guard/index.js';
import { cursorKeyOf } from '../subscriptions/cursor-key.js';
import type { RedriveSelection } from '../subscriptions/delivery-port.js';
import { DISPATCH_SLICE_MS, SharedTail } from './shared-tail.js';
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
  /** At most one line per cause per this long for failures every subscription repeats (`--log-refusals-interval`). */
  readonly logRepeatsIntervalMs?: number;
}

/**
 * Pushes the log to every subscription. One shared tail read (`SharedTail`) serves all caught-up
 * subscriptions; the dispatcher starts and stops their workers under the store's claims, runs each
 * subscription's changes one after another, commits cursors and redrives dead letters.
 */
export class Dispatcher implements WorkerHost {
  readonly store: EventStore;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  readonly client: SinkClient;
  readonly handshakeOrigin: string | undefined;
  readonly readSecret: ((name: string) => Promise<Record<string, string>>) | undefined;
  readonly onDeadLettered: (() => void) | undefined;
  private readonly readFailures: LogThrottle;
  private readonly workers = new Map<string, SubscriptionWorker>();
  /** Workers redriving dead letters of subscriptions another replica delivers, while they run. */
  private readonly detached = new Map<string, SubscriptionWorker>();
  private readonly index = new SubscriptionIndex();
  private readonly claimed = new Set<string>();
  private readonly unclaimed = new Map<string, { compiled: CompiledSubscription; initialCursor: number }>();
  private claimTimer: NodeJS.Timeout | undefined;
  private running = false;
  /** The one read of the log that feeds every caught-up worker. */
  private readonly tail: SharedTail;
  private commitTimer: NodeJS.Timeout | undefined;
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
    this.readFailures = new LogThrottle(options.logRepeatsIntervalMs ?? 0, () =>
      metrics.logLinesSuppressed.inc(),
    );
    this.client = new SinkClient({
      ...(options.guard === undefined ? {} : { guard: options.guard }),
      ...(options.sinkCa === undefined ? {} : { ca: options.sinkCa }),
      ...(options.sinkResponseLimit === undefined ? {} : { responseLimit: options.sinkResponseLimit }),
      onTruncated: () => metrics.sinkResponsesTruncated.inc(),
      onDeadline: () => metrics.sinkDeadlineAborts.inc(),
    });
    this.tail = new SharedTail({
      store: this.store,
      metrics,
      logger: this.logger,
      workers: this.workers,
      index: this.index,
      readFailed: (error) => this.logReadFailure(undefined, error),
    });
    this.commitIntervalMs = options.commitIntervalMs ?? 200;
    this.claimRetryMs = options.claimRetryMs ?? 2_000;
  }

  private readonly commitIntervalMs: number;
  /** Also how often a redrive waiting for another replica's redrive asks for the redrive claim again. */
  readonly claimRetryMs: number;

  tailPosition(): number {
    return this.tail.tailPosition();
  }

  lastSequence(): number {
    return this.tail.lastSequence();
  }

  /**
   * A read that fails fails for every subscription reading on its own (a store away, a damaged segment),
   * each trying again every second: a line per subscription per second was a flood with a thousand of
   * them. One line per cause per interval, with its stack and how many it stands for; the shared tail's
   * failures (`subscription` undefined: it reads for every caught-up subscription) count with them.
   */
  logReadFailure(subscription: string | undefined, error: unknown): void {
    const code = (error as { code?: unknown } | null)?.code;
    const suppressed = this.readFailures.take(typeof code === 'string' ? code : 'unknown');
    if (suppressed === undefined) return;
    const reader = subscription === undefined ? { reader: 'shared tail' } : { subscription };
    this.logger.error({ err: error, ...reader, suppressed }, 'reading the log failed; retrying');
  }

  tryJoin(worker: SubscriptionWorker): boolean {
    return this.tail.tryJoin(worker);
  }

  /** Filter evaluations done by the shared tail (exported as a metric; tests use it to show indexing works). */
  get filterEvaluations(): number {
    return this.tail.filterEvaluations;
  }

  holdsClaim(id: string): boolean {
    return this.store.holdsClaim(id);
  }

  async start(): Promise<void> {
    const stats = await this.store.stats();
    this.running = true;
    this.tail.start(stats.last);
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
    this.tail.wake();
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
    this.tail.leave(worker);
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
      this.tail.leave(worker);
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
    const tailStopped = this.tail.stop();
    if (this.commitTimer !== undefined) clearInterval(this.commitTimer);
    if (this.claimTimer !== undefined) clearInterval(this.claimTimer);
    await tailStopped;
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
