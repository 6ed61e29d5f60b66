import type { StoredEvent } from '../store/index.js';
import { AttemptGroup } from './sink-client.js';

/** Already aborted: the signal of a lane abandoned before it ever needed one. */
const ABANDONED = AbortSignal.abort();

/**
 * Per-generation delivery state; a seek starts a new lane so late completions of the old one are ignored.
 * Its map, set and abort controller are made on first use: a broker may hold thousands of subscriptions
 * that deliver nothing for long stretches, and each would otherwise carry them (bench (h)).
 */
export class Lane {
  /**
   * The seek (`SubscriptionDefinition.seek.epoch`, 0 before any) this lane delivers after: a letter stored
   * from it is keyed with it (`letterKeyOf`), so the same event refused again after a seek is a new letter.
   */
  constructor(readonly seekEpoch = 0) {}

  readonly queue: StoredEvent[] = [];
  active = 0;
  firstQueuedAt = 0;
  /** `performance.now()` before which no delivery starts (events put back after an unexpected failure). */
  holdUntil = 0;
  /** True while a reader fills this lane's queue from the store. */
  reading = false;
  /** Sequence → partition key of every event in flight. */
  private inFlight: Map<number, string | undefined> | undefined;
  private busyKeys: Set<string> | undefined;
  private controller: AbortController | undefined;
  private abandoned = false;
  private group: AttemptGroup | undefined;
  private idleWaiters: Array<() => void> | undefined;
  /**
   * The lane a seek replaced while it still had attempts in flight: this one starts no delivery until
   * that one is idle, so the two never deliver at once (one in flight for `ordering: strict`).
   */
  previous: Lane | undefined;

  /** Aborted when the lane is abandoned (a seek or a stop): its retries give up. */
  get signal(): AbortSignal {
    if (this.abandoned) return ABANDONED;
    return (this.controller ??= new AbortController()).signal;
  }

  /** The lane's HTTP attempts in flight, which `abortAttempts` ends. */
  get attempts(): AttemptGroup {
    return (this.group ??= new AttemptGroup());
  }

  /** Its retries give up (they wait no longer); attempts already sent go on until `abortAttempts`. */
  abandon(): void {
    this.abandoned = true;
    this.controller?.abort();
  }

  /** Ends the attempts in flight now (and any started later): their events count as not delivered. */
  abortAttempts(): void {
    this.attempts.abort();
  }

  /** True when no delivery of this lane is in flight, nor of the lanes it replaced. */
  get idle(): boolean {
    return this.active === 0 && (this.previous === undefined || this.previous.idle);
  }

  /** Resolves once no delivery of this lane itself is in flight. */
  whenIdle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idleWaiters ??= []).push(resolve));
  }

  /** Called when a delivery ends (after `active` went down). */
  deliveryEnded(): void {
    if (this.active !== 0 || this.idleWaiters === undefined) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = undefined;
    for (const resolve of waiters) resolve();
  }

  /** Marks an event in flight; with `busy`, its partition key too (ordering by partition key). */
  start(sequence: number, key: string | undefined, busy: boolean): void {
    (this.inFlight ??= new Map()).set(sequence, key);
    if (busy && key !== undefined) (this.busyKeys ??= new Set()).add(key);
  }

  /** The event left flight (delivered, dead-lettered or failed for good). */
  finish(sequence: number): void {
    if (this.inFlight === undefined) return;
    const key = this.inFlight.get(sequence);
    this.inFlight.delete(sequence);
    if (key !== undefined) this.busyKeys?.delete(key);
  }

  isBusy(key: string): boolean {
    return this.busyKeys?.has(key) === true;
  }

  /** The lowest sequence in flight, or `below` when none is lower. */
  lowestInFlight(below: number): number {
    let lowest = below;
    if (this.inFlight !== undefined)
      for (const sequence of this.inFlight.keys()) if (sequence < lowest) lowest = sequence;
    return lowest;
  }
}
