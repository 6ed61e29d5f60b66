/**
 * The (`source`, `id`) pairs accepted within the dedupe window, in memory, oldest first. Adapters
 * rebuild it from their log on start, so it survives restarts without a write per event.
 *
 * @remarks A Map iterates in insertion order and entries are inserted with non-decreasing times, so
 * pruning stops at the first entry still inside the window.
 */
export class DedupeWindow {
  private readonly entries = new Map<string, { readonly sequence: number; readonly at: number }>();

  constructor(private readonly windowMs: number) {}

  /** A source is a URI-reference, which cannot contain a space: the key is unambiguous. */
  static key(source: string, id: string): string {
    return `${source} ${id}`;
  }

  /** The sequence of the copy accepted within the window, if any. */
  find(key: string, now: number): number | undefined {
    const entry = this.entries.get(key);
    return entry !== undefined && entry.at >= now - this.windowMs ? entry.sequence : undefined;
  }

  add(key: string, sequence: number, at: number): void {
    this.entries.delete(key);
    this.entries.set(key, { sequence, at });
  }

  remove(key: string): void {
    this.entries.delete(key);
  }

  prune(now: number): void {
    const horizon = now - this.windowMs;
    for (const [key, entry] of this.entries) {
      if (entry.at >= horizon) break;
      this.entries.delete(key);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
