/**
 * Keys per generation. V8 throws "Map maximum size exceeded" past 2^24 (16,777,216) keys, which a
 * two-minute window reaches at 140,000 events/s; generations of 2^22 keys keep every Map far below it.
 */
export const GENERATION_KEYS = 1 << 22;

interface Entry {
  readonly sequence: number;
  readonly at: number;
}

/**
 * What a named principal's dedupe key starts with: a space, the principal's length, a space, the
 * principal and a space. The length makes it unambiguous whatever characters the principal holds.
 */
export function principalPrefix(principal: string): string {
  return ` ${principal.length} ${principal} `;
}

/**
 * The (`source`, `id`, publishing principal) keys accepted within the dedupe window, in memory, oldest first. Adapters
 * rebuild it from their log on start, so it survives restarts without a write per event.
 *
 * @remarks Entries are added with non-decreasing times, each to the newest generation (a Map, which
 * iterates in insertion order), and a key lives in one generation only. So the entries run oldest first
 * across the generations, and pruning stops at the first entry still inside the window.
 */
export class DedupeWindow {
  /** Oldest first; never empty. */
  private readonly generations: Map<string, Entry>[] = [new Map()];

  constructor(
    private readonly windowMs: number,
    private readonly generationKeys = GENERATION_KEYS,
  ) {}

  /**
   * The dedupe key of (`source`, `id`) published by `principal`: `source id` for the anonymous (empty)
   * principal, as before principals were part of the key, so logs written then keep deduplicating alike;
   * otherwise `principalPrefix(principal)` before it. One principal cannot suppress another's events.
   *
   * @remarks A source is a URI-reference, which cannot contain a space, so the anonymous key (which starts
   * with the source) never starts with one, and the prefix does.
   */
  static key(source: string, id: string, principal = ''): string {
    return principal === '' ? `${source} ${id}` : `${principalPrefix(principal)}${source} ${id}`;
  }

  /** The sequence of the copy accepted within the window, if any. */
  find(key: string, now: number): number | undefined {
    for (let i = this.generations.length - 1; i >= 0; i--) {
      const entry = this.generations[i]?.get(key);
      if (entry !== undefined) return entry.at >= now - this.windowMs ? entry.sequence : undefined;
    }
    return undefined;
  }

  add(key: string, sequence: number, at: number): void {
    this.remove(key);
    let newest = this.generations[this.generations.length - 1] as Map<string, Entry>;
    if (newest.size >= this.generationKeys) {
      newest = new Map();
      this.generations.push(newest);
    }
    newest.set(key, { sequence, at });
  }

  remove(key: string): void {
    for (const generation of this.generations) generation.delete(key);
  }

  prune(now: number): void {
    const horizon = now - this.windowMs;
    for (;;) {
      const oldest = this.generations[0] as Map<string, Entry>;
      for (const [key, entry] of oldest) {
        if (entry.at >= horizon) return;
        oldest.delete(key);
      }
      if (this.generations.length === 1) return;
      this.generations.shift();
    }
  }

  /** Every entry, oldest first (as added), expired or not: `[key, sequence, at]`. */
  *entries(): Generator<readonly [string, number, number]> {
    for (const generation of this.generations) {
      for (const [key, { sequence, at }] of generation) yield [key, sequence, at];
    }
  }

  get size(): number {
    let size = 0;
    for (const generation of this.generations) size += generation.size;
    return size;
  }
}
