/** The (`source`, `id`) key of a stored sequence, or undefined when it is no longer stored. */
export type KeyOfSequence = (sequence: number) => string | undefined;

/**
 * The embedded store's dedupe window: the (`source`, `id`) pairs accepted within the window, kept as a
 * 32-bit hash → sequence map plus the times of the commit groups, so that an entry costs a few dozen
 * bytes instead of a string and an object (a million keys: ~50 MB instead of ~180 MB of heap).
 *
 * @remarks A hash hit is confirmed against the stored event's key (`keyOf`), so two keys with the same
 * hash never make a new event a duplicate; colliding keys share an entry holding several sequences.
 * Sequences are added in increasing order with non-decreasing times, so the time of a sequence is that
 * of the last group starting at or before it, and the map's insertion order is (nearly) sequence order,
 * which lets pruning stop at the first entry still inside the window.
 */
const FNV_OFFSET = 0x811c9dc5;

/** FNV-1a state `h` carried on over `text`: hashing two strings one after the other equals hashing them joined. */
function fnv1a(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}

export class DedupeIndex {
  private readonly bySlot = new Map<number, number | number[]>();
  /** First sequence of each group of sequences added at one time, and that time; oldest first. */
  private groupSequences: number[] = [];
  private groupTimes: number[] = [];

  constructor(
    private readonly windowMs: number,
    private readonly keyOf: KeyOfSequence,
  ) {}

  /** FNV-1a over the key's UTF-16 code units, as a 32-bit signed integer (a small integer for V8). */
  static hash(key: string): number {
    return fnv1a(FNV_OFFSET, key) | 0;
  }

  /** `hash(DedupeWindow.key(source, id))` without building the key string (one per appended event). */
  static hashOf(source: string, id: string): number {
    return fnv1a(fnv1a(fnv1a(FNV_OFFSET, source), ' '), id) | 0;
  }

  /** False when no key with this hash was added (and not pruned): the key is certainly new. */
  has(hash: number): boolean {
    return this.bySlot.has(hash);
  }

  /** The lowest sequence stored at or after `now - windowMs`; sequences below it are outside. */
  private horizon(now: number): number {
    const times = this.groupTimes;
    const oldest = now - this.windowMs;
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((times[mid] as number) < oldest) lo = mid + 1;
      else hi = mid;
    }
    return lo < times.length ? (this.groupSequences[lo] as number) : Number.POSITIVE_INFINITY;
  }

  /** The sequence of the copy of `key` accepted within the window, if any. */
  find(key: string, hash: number, now: number): number | undefined {
    const entry = this.bySlot.get(hash);
    if (entry === undefined) return undefined;
    const horizon = this.horizon(now);
    if (typeof entry === 'number') {
      return entry >= horizon && this.keyOf(entry) === key ? entry : undefined;
    }
    for (const sequence of entry) if (sequence >= horizon && this.keyOf(sequence) === key) return sequence;
    return undefined;
  }

  /**
   * Records `sequence` (higher than any added before) as stored at `at` (not before any earlier `at`).
   * `known` is what `has(hash)` answered just before, when the caller asked (saves a lookup per event).
   */
  add(hash: number, sequence: number, at: number, known?: boolean): void {
    const times = this.groupTimes;
    if (times.length === 0 || times[times.length - 1] !== at) {
      times.push(at);
      this.groupSequences.push(sequence);
    }
    const entry = known === false ? undefined : this.bySlot.get(hash);
    if (entry === undefined) {
      this.bySlot.set(hash, sequence);
      return;
    }
    const horizon = this.horizon(at);
    const alive = (typeof entry === 'number' ? [entry] : entry).filter((s) => s >= horizon);
    // Deleted first so that the entry moves to the end of the insertion order with its new sequence.
    this.bySlot.delete(hash);
    this.bySlot.set(hash, alive.length === 0 ? sequence : [...alive, sequence]);
  }

  /** Forgets every sequence above `last` (a group that failed to commit). */
  rollback(hashes: readonly number[], last: number): void {
    for (const hash of hashes) {
      const entry = this.bySlot.get(hash);
      if (entry === undefined) continue;
      const kept = (typeof entry === 'number' ? [entry] : entry).filter((s) => s <= last);
      if (kept.length === 0) this.bySlot.delete(hash);
      else this.bySlot.set(hash, kept.length === 1 ? (kept[0] as number) : kept);
    }
    while (this.groupSequences.length > 0 && (this.groupSequences.at(-1) as number) > last) {
      this.groupSequences.pop();
      this.groupTimes.pop();
    }
  }

  /** Drops entries and group times older than the window. */
  prune(now: number): void {
    const horizon = this.horizon(now);
    for (const [hash, entry] of this.bySlot) {
      if (typeof entry === 'number') {
        if (entry >= horizon) break;
        this.bySlot.delete(hash);
        continue;
      }
      const alive = entry.filter((s) => s >= horizon);
      if (alive.length === entry.length) break;
      this.bySlot.delete(hash);
      if (alive.length > 0) this.bySlot.set(hash, alive.length === 1 ? (alive[0] as number) : alive);
    }
    // Keep the group containing the horizon: it gives the time of the sequences from there on.
    let drop = 0;
    while (drop < this.groupSequences.length - 1 && (this.groupSequences[drop + 1] as number) <= horizon)
      drop++;
    if (horizon === Number.POSITIVE_INFINITY) drop = this.groupSequences.length;
    if (drop > 0) {
      this.groupSequences = this.groupSequences.slice(drop);
      this.groupTimes = this.groupTimes.slice(drop);
    }
  }

  /** Distinct hashes held (about the number of keys). */
  get size(): number {
    return this.bySlot.size;
  }
}
