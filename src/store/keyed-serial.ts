/**
 * Runs at most one task per key at a time: a task for a key starts once the previous one for that key
 * has settled (whatever its outcome). The distributed adapters claim subscriptions through it, so two
 * callers never race two claim writes for one subscription.
 */
export class KeyedSerial {
  private readonly pending = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.pending.get(key) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(task)
      .finally(() => {
        if (this.pending.get(key) === next) this.pending.delete(key);
      });
    this.pending.set(key, next);
    return next;
  }
}
