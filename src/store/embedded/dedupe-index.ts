import { principalPrefix } from '../dedupe-window.js';

/**
 * The (`source`, `id`) key (`DedupeWindow.key` without a principal) of a stored sequence, or undefined
 * when it is no longer stored.
 */
export type KeyOfSequence = (sequence: number) => string | undefined;

/**
 * Whether a sequence that is no longer stored had the (`source`, `id`) key `key`: retention deleted it
 * while it was still inside the window (`RetiredKeys`).
 */
export type RetiredKeyMatches = (sequence: number, key: string) => boolean;

/**
 * The embedded store's dedupe window: the (`source`, `id`, publishing principal) keys accepted within
 * the window, kept as 32-bit hashes with their sequences in typed arrays (an open-addressing table and a
 * first-in-first-out ring), plus the times of the commit groups: 36 bytes or fewer per key, no object per
 * key.
 *
 * @remarks A hash hit is confirmed against the stored event's (`source`, `id`) (`keyOf`), so two pairs
 * with the same hash never make a new event a duplicate; colliding keys each have a slot of their own.
 * The principal is confirmed by the hash alone (`hashOf`): two principals share keys only if the 32-bit
 * FNV-1a states after their prefixes are equal (or their hashes of a pair are 0 and 1, which share a tag).
 *
 * Sequences are added in increasing order with non-decreasing times, so the time of a sequence is that
 * of the last group starting at or before it, and the ring's order is sequence order: pruning pops from
 * its front, a rollback from its back.
 *
 * A JavaScript `Map` held this before. It cannot hold more than 2^24 (16,777,216) entries, which a
 * broker taking 140,000 events/s for the default two-minute window reaches (the append then throws),
 * and each lookup in a map of millions of entries costs two or more cache misses: `has` was the single
 * most expensive line of batch ingress (bench/PROFILE.md, "Issue #15, fifth round").
 */
const FNV_OFFSET = 0x811c9dc5;

/** FNV-1a state `h` carried on over `text`: hashing two strings one after the other equals hashing them joined. */
function fnv1a(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}

/**
 * The table's tag for a hash: the hash itself, except 0 (a free slot's tag), which becomes 1. A lookup
 * then reads only the tags (4 bytes a slot) until it finds the tag or a free slot; two hashes sharing
 * a tag are told apart as colliding hashes are, by their keys.
 */
function tagOf(hash: number): number {
  return hash === 0 ? 1 : hash;
}

/** The slot a tag is probed from in a table of `mask + 1` slots (Fibonacci hashing: FNV's low bits alone cluster). */
function homeOf(tag: number, mask: number): number {
  return Math.imul(tag, 0x9e3779b1) & mask;
}

/**
 * Whether two of `hashes[0, count)` are equal: a request's events can only be duplicates of each other
 * when their hashes repeat. `scratch` is a reused open-addressing table of at least `2 * count` slots (a
 * power of two); a check costs a few nanoseconds per hash in the cache, where asking the window's table
 * about each event again cost a cache miss each (bench/PROFILE.md, thirteenth round).
 */
export function repeatsAHash(hashes: Int32Array, count: number, scratch: Int32Array): boolean {
  let slots = 1;
  while (slots < 2 * count) slots *= 2;
  if (slots > scratch.length) throw new RangeError(`a scratch table of ${slots} slots is needed`);
  const mask = slots - 1;
  scratch.fill(0, 0, slots);
  for (let i = 0; i < count; i++) {
    const tag = tagOf(hashes[i] as number);
    let slot = homeOf(tag, mask);
    for (; scratch[slot] !== 0; slot = (slot + 1) & mask) if (scratch[slot] === tag) return true;
    scratch[slot] = tag;
  }
  return false;
}

/** Slots of a new table (a power of two); the table doubles past half full and halves below 1/8. */
const MIN_SLOTS = 1 << 12;

export class DedupeIndex {
  /** The table: each slot's tag (`tagOf` its hash; 0 when free) and sequence. Linear probing. */
  private slotTags = new Int32Array(MIN_SLOTS);
  private slotSequences = new Float64Array(MIN_SLOTS);
  private mask = MIN_SLOTS - 1;
  private used = 0;
  /** Every (tag, sequence) in the table, oldest first: `ringHead` to `ringHead + ringLength`, wrapping. */
  private ringTags = new Int32Array(MIN_SLOTS);
  private ringSequences = new Float64Array(MIN_SLOTS);
  private ringHead = 0;
  private ringLength = 0;
  /** First sequence of each group of sequences added at one time, and that time; oldest first. */
  private groupSequences: number[] = [];
  private groupTimes: number[] = [];

  constructor(
    private readonly windowMs: number,
    private readonly keyOf: KeyOfSequence,
    private readonly retiredKeyMatches: RetiredKeyMatches = () => false,
  ) {}

  /** FNV-1a over the key's UTF-16 code units, as a 32-bit signed integer (a small integer for V8). */
  static hash(key: string): number {
    return fnv1a(FNV_OFFSET, key) | 0;
  }

  /**
   * `hash(DedupeWindow.key(source, id, principal))` without building the key string (one per appended
   * event). The anonymous (empty) principal hashes nothing more: the hash of (`source`, `id`) that
   * blocks written before principals were in the key hold, and no extra cost on the anonymous path.
   *
   * @remarks The principal's prefix comes first. Each FNV-1a step is a bijection of the state, so hashing
   * the same (`source`, `id`) after two different states gives two different hashes: two principals'
   * hashes of one pair differ exactly when the states after their prefixes do. That is what lets `find`
   * confirm a hit on the stored event's (`source`, `id`) alone (blocks keep no principal).
   */
  static hashOf(source: string, id: string, principal = ''): number {
    const start = principal === '' ? FNV_OFFSET : fnv1a(FNV_OFFSET, principalPrefix(principal));
    return fnv1a(fnv1a(fnv1a(start, source), ' '), id) | 0;
  }

  /** The slot a tag is probed from in this table. */
  private home(tag: number): number {
    return homeOf(tag, this.mask);
  }

  /** False when no key with this hash was added (and not pruned): the key is certainly new. */
  has(hash: number): boolean {
    const tag = tagOf(hash);
    const tags = this.slotTags;
    for (let slot = this.home(tag); tags[slot] !== 0; slot = (slot + 1) & this.mask) {
      if (tags[slot] === tag) return true;
    }
    return false;
  }

  /**
   * How many of `hashes[0, count)` `has` finds, looked up in one tight loop. The table is far larger
   * than the CPU's caches: looked up one per event, between the rest of each event's work, every lookup
   * waits for its cache miss in turn, while lookups in one loop overlap their misses. The `has` of each
   * that follows then finds its slots in the cache (bench/PROFILE.md, tenth round).
   */
  countKnown(hashes: Int32Array, count: number): number {
    let known = 0;
    for (let i = 0; i < count; i++) if (this.has(hashes[i] as number)) known++;
    return known;
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

  /**
   * The sequence of the copy accepted within the window, if any, of the event whose (`source`, `id`)
   * key is `key` and whose `hashOf` (which covers the principal too) is `hash`.
   *
   * @remarks A stored event matches when its hash's tag and its (`source`, `id`) both match: for the same
   * pair, equal hashes mean the same principal (see `hashOf`), so the principal need not be stored.
   */
  find(key: string, hash: number, now: number): number | undefined {
    const tag = tagOf(hash);
    const tags = this.slotTags;
    const sequences = this.slotSequences;
    let horizon: number | undefined;
    let found: number | undefined;
    for (let slot = this.home(tag); tags[slot] !== 0; slot = (slot + 1) & this.mask) {
      if (tags[slot] !== tag) continue;
      const sequence = sequences[slot] as number;
      horizon ??= this.horizon(now);
      if (sequence >= horizon && (found === undefined || sequence < found) && this.confirms(sequence, key)) {
        found = sequence;
      }
    }
    return found;
  }

  /** Whether the event stored as `sequence`, or deleted by retention inside the window, had the key `key`. */
  private confirms(sequence: number, key: string): boolean {
    const stored = this.keyOf(sequence);
    return stored === undefined ? this.retiredKeyMatches(sequence, key) : stored === key;
  }

  /** Records `sequence` (higher than any added before) as stored at `at` (not before any earlier `at`). */
  add(hash: number, sequence: number, at: number): void {
    const times = this.groupTimes;
    if (times.length === 0 || times[times.length - 1] !== at) {
      times.push(at);
      this.groupSequences.push(sequence);
    }
    if (this.used + 1 > (this.mask + 1) >>> 1) this.resize((this.mask + 1) * 2);
    const tag = tagOf(hash);
    this.insert(tag, sequence);
    if (this.ringLength === this.ringTags.length) this.growRing();
    const end = (this.ringHead + this.ringLength) % this.ringTags.length;
    this.ringTags[end] = tag;
    this.ringSequences[end] = sequence;
    this.ringLength++;
  }

  private insert(tag: number, sequence: number): void {
    let slot = this.home(tag);
    while (this.slotTags[slot] !== 0) slot = (slot + 1) & this.mask;
    this.slotTags[slot] = tag;
    this.slotSequences[slot] = sequence;
    this.used++;
  }

  /** Frees the slot holding (tag, sequence), shifting later members of its probe run back. */
  private remove(tag: number, sequence: number): void {
    const tags = this.slotTags;
    const sequences = this.slotSequences;
    const mask = this.mask;
    let hole = this.home(tag);
    while (tags[hole] !== 0 && !(tags[hole] === tag && sequences[hole] === sequence)) {
      hole = (hole + 1) & mask;
    }
    if (tags[hole] === 0) return;
    this.used--;
    // Backward-shift deletion: a later slot moves into the hole unless its home lies in (hole, slot].
    for (let slot = (hole + 1) & mask; tags[slot] !== 0; slot = (slot + 1) & mask) {
      const home = this.home(tags[slot] as number);
      const staysPut = hole <= slot ? hole < home && home <= slot : hole < home || home <= slot;
      if (staysPut) continue;
      tags[hole] = tags[slot] as number;
      sequences[hole] = sequences[slot] as number;
      hole = slot;
    }
    tags[hole] = 0;
    sequences[hole] = 0;
  }

  /**
   * Re-inserts every key into a table of `slots` slots, in the old table's slot order: a key's home in
   * a table twice the size is its old home or that plus the old size, so the writes advance through the
   * new table in two runs instead of landing at random (as taking the keys in ring order did, one cache
   * miss per key: ~3% of batch ingress, bench/PROFILE.md, thirteenth round). The order of insertion
   * does not change what `find` finds, which reads a hash's whole probe run.
   */
  private resize(slots: number): void {
    const oldTags = this.slotTags;
    const oldSequences = this.slotSequences;
    this.slotTags = new Int32Array(slots);
    this.slotSequences = new Float64Array(slots);
    this.mask = slots - 1;
    this.used = 0;
    for (let slot = 0; slot < oldTags.length; slot++) {
      const tag = oldTags[slot] as number;
      if (tag !== 0) this.insert(tag, oldSequences[slot] as number);
    }
  }

  private growRing(): void {
    const capacity = this.ringTags.length;
    const tags = new Int32Array(capacity * 2);
    const sequences = new Float64Array(capacity * 2);
    for (let i = 0; i < this.ringLength; i++) {
      const at = (this.ringHead + i) % capacity;
      tags[i] = this.ringTags[at] as number;
      sequences[i] = this.ringSequences[at] as number;
    }
    this.ringTags = tags;
    this.ringSequences = sequences;
    this.ringHead = 0;
  }

  /** Forgets every sequence above `last` (a group that failed to commit): the newest of the ring. */
  rollback(last: number): void {
    const capacity = this.ringTags.length;
    while (this.ringLength > 0) {
      const at = (this.ringHead + this.ringLength - 1) % capacity;
      const sequence = this.ringSequences[at] as number;
      if (sequence <= last) break;
      this.remove(this.ringTags[at] as number, sequence);
      this.ringLength--;
    }
    while (this.groupSequences.length > 0 && (this.groupSequences.at(-1) as number) > last) {
      this.groupSequences.pop();
      this.groupTimes.pop();
    }
  }

  /**
   * Drops entries and group times older than the window, at most `maxKeys` entries per call: false when
   * older entries remain for another call. Entries left over are never reported as duplicates (`find`
   * checks the window), so pruning in slices only delays freeing their slots.
   */
  prune(now: number, maxKeys = Number.POSITIVE_INFINITY): boolean {
    const horizon = this.horizon(now);
    const capacity = this.ringTags.length;
    let removed = 0;
    let done = true;
    while (this.ringLength > 0) {
      const sequence = this.ringSequences[this.ringHead] as number;
      if (sequence >= horizon) break;
      if (removed === maxKeys) {
        done = false;
        break;
      }
      this.remove(this.ringTags[this.ringHead] as number, sequence);
      this.ringHead = (this.ringHead + 1) % capacity;
      this.ringLength--;
      removed++;
    }
    const slots = this.mask + 1;
    if (done && slots > MIN_SLOTS && this.used < slots >>> 3) {
      this.resize(Math.max(MIN_SLOTS, 2 ** Math.ceil(Math.log2(Math.max(1, this.used) * 4))));
    }
    if (this.ringLength === 0) this.ringHead = 0;
    // Keep the group containing the horizon: it gives the time of the sequences from there on.
    let drop = 0;
    while (drop < this.groupSequences.length - 1 && (this.groupSequences[drop + 1] as number) <= horizon)
      drop++;
    if (horizon === Number.POSITIVE_INFINITY) drop = this.groupSequences.length;
    if (drop > 0) {
      this.groupSequences = this.groupSequences.slice(drop);
      this.groupTimes = this.groupTimes.slice(drop);
    }
    return done;
  }

  /** Keys held (each accepted key within the window once). */
  get size(): number {
    return this.used;
  }
}
