/**
 * Waiters for "an event above sequence N exists": resolved by the adapter after each commit, so that
 * readers block on a promise instead of polling.
 */
export class AppendWaiters {
  private waiters = new Set<{ after: number; resolve: () => void }>();

  wait(after: number, last: number, signal?: AbortSignal): Promise<void> {
    if (last > after || signal?.aborted === true) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        after,
        resolve: () => {
          this.waiters.delete(waiter);
          signal?.removeEventListener('abort', waiter.resolve);
          resolve();
        },
      };
      this.waiters.add(waiter);
      signal?.addEventListener('abort', waiter.resolve, { once: true });
    });
  }

  /** Readers waiting for an append now. */
  get size(): number {
    return this.waiters.size;
  }

  notify(last: number): void {
    for (const waiter of this.waiters) if (last > waiter.after) waiter.resolve();
  }

  abortAll(): void {
    for (const waiter of this.waiters) waiter.resolve();
  }
}
