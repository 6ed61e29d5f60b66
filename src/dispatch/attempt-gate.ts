/**
 * When a delivery attempt may be sent, apart from the worker that sends it: the subscription's pause (no
 * attempt starts while paused, retries included) and the rate limit's tokens for retries and redriven
 * letters. Kept out of worker.ts so the worker keeps to reading, ordering and delivering; it asks the
 * gate before each attempt and tells it of pauses and resumes.
 */
import type { SinkAccess } from './sink-access.js';

/** Holds a subscription's attempts while it is paused or its rate limit has no tokens for them. */
export class AttemptGate {
  /** Retries waiting for `resume` (a paused subscription makes no attempt); made by the first. */
  private resumeWaiters: Array<() => void> | undefined;

  constructor(
    /** True while the subscription is paused (`pause`, `resume`). */
    public paused: boolean,
    /** The sink's rate limit (its `take`). */
    private readonly access: SinkAccess,
  ) {}

  pause(): void {
    this.paused = true;
  }

  /** Lets the attempts held by the pause go on (the worker then starts its queued deliveries). */
  resume(): void {
    this.paused = false;
    const waiters = this.resumeWaiters;
    this.resumeWaiters = undefined;
    if (waiters !== undefined) for (const wake of waiters) wake();
  }

  /** Resolves once the subscription is resumed (true), or false when `signal` aborts first. */
  private untilResumed(signal: AbortSignal): Promise<boolean> {
    if (!this.paused) return Promise.resolve(true);
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = (): void => {
        signal.removeEventListener('abort', aborted);
        resolve(true);
      };
      const aborted = (): void => {
        // Not left behind in the list until the next resume (a seek or stop while paused).
        const at = this.resumeWaiters?.indexOf(wake) ?? -1;
        if (at >= 0) this.resumeWaiters?.splice(at, 1);
        resolve(false);
      };
      signal.addEventListener('abort', aborted, { once: true });
      (this.resumeWaiters ??= []).push(wake);
    });
  }

  /**
   * True once attempt `attempt` may be sent (false when `signal` aborts first): not paused (no attempt
   * starts while paused, retries included) and the rate limit gave its tokens: a first attempt took them
   * in `pump`, a retry or redriven letter takes them here. A pause that came while the tokens were awaited
   * holds the retry too (it was sent once they came); the tokens are taken again after the resume.
   */
  async mayStart(count: number, attempt: number, pausable: boolean, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      if (pausable && this.paused && !(await this.untilResumed(signal))) return false;
      if (attempt === 1 && pausable) return true;
      if (!(await this.access.take(count, signal))) return false;
      if (!(pausable && this.paused)) return true;
    }
  }
}
