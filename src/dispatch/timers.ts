/** Node's timers hold a signed 32-bit millisecond count; a longer delay fires after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay every `setTimeout` in delivery goes through: never negative, never beyond the timer limit. */
export function timerDelay(ms: number): number {
  if (!Number.isFinite(ms)) return MAX_TIMER_MS;
  return Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(ms)));
}

/**
 * One timer that calls `fire` at the earliest time it was asked for (at least 1 ms ahead). A later
 * request never pushes it back: a worker's partial batch armed a wait of up to `batch.maxWait` (an
 * hour), and the rate limit's wait for the batch that filled meanwhile, much shorter, was dropped while
 * that timer was pending, so the full batch waited the hour out. Firing early is harmless: `fire` looks
 * again and asks for what is still needed.
 */
export class EarliestTimer {
  private timer: NodeJS.Timeout | undefined;
  private dueAt = 0;

  constructor(private readonly fire: () => void) {}

  schedule(delayMs: number): void {
    const delay = Math.max(1, timerDelay(delayMs));
    const due = performance.now() + delay;
    if (this.timer !== undefined) {
      if (this.dueAt <= due) return;
      clearTimeout(this.timer);
    }
    this.dueAt = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fire();
    }, delay);
  }

  clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
