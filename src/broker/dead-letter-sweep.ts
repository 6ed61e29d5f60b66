import type { BrokerMetrics, Logger } from '../observability/index.js';
import type { DeadLetterLimits, DroppedDeadLetters, EventStore } from '../store/index.js';

/**
 * How often the broker trims dead letters to `--dead-letter-max-*` when nothing nudges it (see `nudge`:
 * after dead-lettering, a sweep comes within DEAD_LETTER_NUDGE_MS; documented in docs/limits.md).
 */
export const DEAD_LETTER_SWEEP_MS = 5_000;
/** How soon after a subscription dead-letters a sweep runs (at most one per this long between the timer's). */
export const DEAD_LETTER_NUDGE_MS = 250;

/**
 * Keeps every subscription's dead letters within `--dead-letter-max-age`, `--dead-letter-max-letters`
 * and `--dead-letter-max-bytes`: asks the store to remove the oldest over them, counts each removal in
 * `herald_dead_letters_dropped_total{reason}` and logs one line per sweep that removed any.
 */
export class DeadLetterSweep {
  private timer: NodeJS.Timeout | undefined;
  private nudged: NodeJS.Timeout | undefined;
  private running: Promise<DroppedDeadLetters[]> | undefined;
  /** Told what each sweep removed, per subscription (the dispatcher's counts of letters kept). */
  onDropped: ((dropped: readonly DroppedDeadLetters[]) => void) | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly limits: DeadLetterLimits,
    private readonly metrics: BrokerMetrics,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  private get unlimited(): boolean {
    const { maxAgeMs, maxLetters, maxBytes } = this.limits;
    return maxAgeMs === 0 && maxLetters === 0 && maxBytes === 0;
  }

  /** Sweeps now, then every `intervalMs`. */
  start(intervalMs = DEAD_LETTER_SWEEP_MS): void {
    if (this.unlimited || this.timer !== undefined) return;
    void this.sweep();
    this.timer = setInterval(() => void this.sweep(), intervalMs);
    this.timer.unref();
  }

  /**
   * Something was just dead-lettered: sweeps within DEAD_LETTER_NUDGE_MS rather than at the next tick,
   * so a subscription dead-lettering fast goes over its bounds by a quarter second's letters at most.
   */
  nudge(): void {
    if (this.timer === undefined || this.nudged !== undefined) return;
    this.nudged = setTimeout(() => {
      this.nudged = undefined;
      void this.sweep();
    }, DEAD_LETTER_NUDGE_MS);
    this.nudged.unref();
  }

  /** Stops sweeping and waits for a sweep still running. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.nudged);
    this.timer = undefined;
    this.nudged = undefined;
    await this.running;
  }

  /** One sweep (at most one at a time: a sweep asked for while one runs gets that one's result). */
  sweep(): Promise<DroppedDeadLetters[]> {
    if (this.unlimited || !this.store.isReady()) return Promise.resolve([]);
    this.running ??= this.trim().finally(() => (this.running = undefined));
    return this.running;
  }

  private async trim(): Promise<DroppedDeadLetters[]> {
    let dropped: DroppedDeadLetters[];
    try {
      dropped = await this.store.trimDeadLetters(this.limits, this.now());
    } catch (error) {
      // Tried again on the next sweep; an unavailable store must not stop the broker.
      this.logger.warn({ err: error }, 'trimming dead letters failed');
      return [];
    }
    if (dropped.length === 0) return dropped;
    for (const { reason, letters } of dropped) this.metrics.deadLettersDropped.inc({ reason }, letters);
    this.onDropped?.(dropped);
    this.logger.warn(
      {
        dropped,
        letters: dropped.reduce((sum, d) => sum + d.letters, 0),
        bytes: dropped.reduce((sum, d) => sum + d.bytes, 0),
      },
      'dead letters over --dead-letter-max-* removed, oldest first',
    );
    return dropped;
  }
}
