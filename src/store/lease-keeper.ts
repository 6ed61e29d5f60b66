import { KeyedSerial } from './keyed-serial.js';

/**
 * The subscriptions whose claim covers the cursor stored under `key`: the key itself (a cursor stored
 * before incarnations, under the bare id) and, for `<id>~<incarnation>` (see `cursorKeyOf`), the id.
 * Incarnations are UUIDs, without `~`; an id may hold one, so the last `~` divides them.
 */
export function claimIdsOfCursor(key: string): string[] {
  const cut = key.lastIndexOf('~');
  return cut <= 0 ? [key] : [key, key.slice(0, cut)];
}

/** The part of a pino logger the lease keeper uses. */
export interface LeaseLogger {
  warn(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

/**
 * How one distributed adapter takes, renews and gives up a lease on a key. `L` is whatever the adapter
 * needs to renew or release it later (a KV revision, nothing at all).
 */
export interface LeaseBackend<L> {
  /** Takes the lease, or resolves undefined when another process holds it. A throw counts as "not now". */
  acquire(key: string): Promise<L | undefined>;
  /** Extends the lease; throws (or rejects) when it is no longer this process's. */
  renew(key: string, lease: L): Promise<L>;
  /** Gives the lease up so another process may take it at once; failures are the backend's to swallow. */
  release(key: string, lease: L): Promise<void>;
}

interface Held<L> {
  lease: L;
  onLost: () => void;
  readonly timer: NodeJS.Timeout;
  /** Local time the request behind the current lease was sent: the lease runs until this plus the TTL. */
  leaseFrom: number;
  renewal: Promise<void> | undefined;
}

/**
 * Keeps the subscription claims of one process: takes a lease through the adapter's backend, renews it
 * every third of the TTL, and calls `onLost` at once when a renewal fails or the lease ran out locally
 * (the event loop stalled, the store did not answer), because another process may hold it by then. One
 * claim attempt per key runs at a time, so two callers never hold two leases for one key.
 */
export class LeaseKeeper<L> {
  private readonly held = new Map<string, Held<L>>();
  private readonly claiming = new KeyedSerial();
  private closed = false;

  constructor(
    private readonly backend: LeaseBackend<L>,
    private readonly ttlMs: number,
    private readonly logger: LeaseLogger | undefined,
    /** How an error goes into a log line (Kafka's errors carry a broker response worth flattening). */
    private readonly describeError: (error: unknown) => unknown = (error) => error,
  ) {}

  claim(key: string, onLost: () => void): Promise<boolean> {
    return this.claiming.run(key, () => this.tryClaim(key, onLost));
  }

  private async tryClaim(key: string, onLost: () => void): Promise<boolean> {
    if (this.closed) return false;
    const current = this.held.get(key);
    if (current !== undefined) {
      current.onLost = onLost;
      return true;
    }
    const sentAt = Date.now();
    let lease: L | undefined;
    try {
      lease = await this.backend.acquire(key);
    } catch (error) {
      this.logger?.warn(
        { err: this.describeError(error), subscription: key },
        'claiming a subscription failed; will retry',
      );
      return false;
    }
    if (lease === undefined || this.closed) return false;
    const timer = setInterval(() => this.renew(key), Math.max(this.ttlMs / 3, 50));
    timer.unref();
    this.held.set(key, { lease, onLost, timer, leaseFrom: sentAt, renewal: undefined });
    return true;
  }

  /**
   * True while this process holds `key`'s lease by its own clock. A lease that ran out is lost here and now
   * (`onLost` is called, as the renewal timer would): a process woken from a stall (a long GC pause, a
   * starved CPU, SIGSTOP) reads what waited in its sockets before any of its timers runs, so a holder that
   * acted on such an answer (a sink's refusal stored as a dead letter) did so beside the process that has
   * taken the key over meanwhile.
   */
  holds(key: string): boolean {
    const claim = this.held.get(key);
    if (claim === undefined) return false;
    if (Date.now() - claim.leaseFrom < this.ttlMs) return true;
    this.lose(key, claim, new Error('the claim lease ran out before it could be renewed'));
    return false;
  }

  private renew(key: string): void {
    const claim = this.held.get(key);
    if (claim === undefined) return;
    // Checked even while a renewal is in flight: a renewal the store never answers must not keep the
    // lease past its TTL, when another process may already hold it.
    if (Date.now() - claim.leaseFrom >= this.ttlMs) {
      this.lose(key, claim, new Error('the claim lease ran out before it could be renewed'));
      return;
    }
    if (claim.renewal !== undefined) return;
    const sentAt = Date.now();
    claim.renewal = (async () => {
      try {
        claim.lease = await this.backend.renew(key, claim.lease);
        claim.leaseFrom = sentAt;
      } catch (error) {
        if (this.held.get(key) === claim) this.lose(key, claim, error);
      } finally {
        claim.renewal = undefined;
      }
    })();
  }

  private lose(key: string, claim: Held<L>, cause: unknown): void {
    clearInterval(claim.timer);
    if (this.held.get(key) !== claim) return;
    this.held.delete(key);
    this.logger?.warn(
      { err: this.describeError(cause), subscription: key },
      'lost the claim on a subscription',
    );
    try {
      claim.onLost();
    } catch (error) {
      this.logger?.error({ err: error, subscription: key }, 'onLost failed');
    }
  }

  /** Stops renewing and gives the lease up. */
  async release(key: string): Promise<void> {
    const claim = this.held.get(key);
    if (claim === undefined) return;
    clearInterval(claim.timer);
    this.held.delete(key);
    await claim.renewal;
    await this.backend.release(key, claim.lease).catch(() => undefined);
  }

  /** Releases every lease held; later claims answer false. */
  async close(): Promise<void> {
    await Promise.all([...this.held.keys()].map((key) => this.release(key)));
    this.closed = true;
  }
}
