import { describe, expect, it } from 'vitest';
import { DedupeWindow } from '../dedupe-window.js';
import { DedupeIndex, repeatsAHash } from './dedupe-index.js';

/** Two different keys with the same 32-bit hash, found by search (deterministic: the hash is fixed). */
function findCollision(): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const key = `/source id-${i}`;
    const hash = DedupeIndex.hash(key);
    const other = seen.get(hash);
    if (other !== undefined) return [other, key];
    seen.set(hash, key);
  }
}

/** An index over an in-memory "log" of keys by sequence, as the store gives it. */
function indexOver(windowMs: number) {
  const log = new Map<number, string>();
  const index = new DedupeIndex(windowMs, (sequence) => log.get(sequence));
  let last = 0;
  return {
    index,
    log,
    /** Stores `key` at `at` unless a copy is within the window; returns [sequence, duplicate]. */
    append(key: string, at: number): [number, boolean] {
      const hash = DedupeIndex.hash(key);
      const seen = index.find(key, hash, at);
      if (seen !== undefined) return [seen, true];
      const sequence = ++last;
      log.set(sequence, key);
      index.add(hash, sequence, at);
      return [sequence, false];
    },
  };
}

let collision: [string, string] | undefined;
const collidingKeys = (): [string, string] => (collision ??= findCollision());

describe('DedupeIndex', () => {
  it('hashes (source, id) exactly as the key string, which the stored blocks hold the hashes of', () => {
    for (const [source, id] of [
      ['/conformance', 'a'],
      ['https://example.com/x?y=1', '0b5e7ae8-5f3c-4b0e-9d1e-0a4c2f6e8b11'],
      ['/légacy', 'ü-€-😀'],
      ['', ''],
    ] as const) {
      expect(DedupeIndex.hashOf(source, id)).toBe(DedupeIndex.hash(DedupeWindow.key(source, id)));
    }
  });

  it('hashes a named principal into the key, and the anonymous one as blocks written before did', () => {
    const source = '/pub/orders';
    const id = 'order-1001';
    const anonymous = DedupeIndex.hash(`${source} ${id}`);
    expect(DedupeIndex.hashOf(source, id)).toBe(anonymous);
    expect(DedupeIndex.hashOf(source, id, '')).toBe(anonymous);
    for (const principal of ['alice', 'pub', 'system:serviceaccount:ns:name', 'a b', '😀']) {
      const hash = DedupeIndex.hashOf(source, id, principal);
      expect(hash).toBe(DedupeIndex.hash(DedupeWindow.key(source, id, principal)));
      expect(hash).not.toBe(anonymous);
    }
    expect(DedupeIndex.hashOf(source, id, 'alice')).not.toBe(DedupeIndex.hashOf(source, id, 'pub'));
  });

  it('never takes a new key for a duplicate of another key with the same hash', () => {
    const [a, b] = collidingKeys();
    expect(a).not.toBe(b);
    expect(DedupeIndex.hash(a)).toBe(DedupeIndex.hash(b));
    const { append } = indexOver(1_000);
    expect(append(a, 0)).toEqual([1, false]);
    expect(append(b, 1)).toEqual([2, false]);
    expect(append(a, 2)).toEqual([1, true]);
    expect(append(b, 3)).toEqual([2, true]);
  });

  it('forgets keys once they are older than the window, also when pruned', () => {
    const { append, index } = indexOver(100);
    append('k1', 0);
    append('k2', 50);
    expect(append('k1', 100)).toEqual([1, true]);
    expect(append('k1', 101)).toEqual([3, false]);
    expect(append('k2', 140)).toEqual([2, true]);
    index.prune(151);
    expect(index.size).toBe(1);
    expect(append('k2', 151)).toEqual([4, false]);
    expect(append('k1', 152)).toEqual([3, true]);
    index.prune(10_000);
    expect(index.size).toBe(0);
    expect(append('k1', 10_000)).toEqual([5, false]);
  });

  it('prunes in slices of at most maxKeys, and never reports a key past the window meanwhile', () => {
    const { append, index } = indexOver(100);
    for (let i = 0; i < 100; i++) append(`k${i}`, i);
    append('fresh', 1_000);
    expect(index.prune(1_000, 30)).toBe(false);
    expect(index.size).toBe(71);
    // k50 still has a slot, but it was stored 950 ms ago: not a duplicate.
    expect(append('k50', 1_000)).toEqual([102, false]);
    expect(append('fresh', 1_001)).toEqual([101, true]);
    expect(index.prune(1_000, 30)).toBe(false);
    expect(index.prune(1_000, 30)).toBe(false);
    expect(index.size).toBe(12);
    expect(index.prune(1_000, 30)).toBe(true);
    expect(index.size).toBe(2);
    expect(append('k50', 1_002)).toEqual([102, true]);
  });

  it('forgets the sequences of a group that failed to commit', () => {
    const [a, b] = collidingKeys();
    const { append, index, log } = indexOver(1_000);
    append(a, 0);
    append('x', 1);
    append(b, 1);
    index.rollback(1);
    log.delete(2);
    log.delete(3);
    expect(index.find(a, DedupeIndex.hash(a), 2)).toBe(1);
    expect(index.find(b, DedupeIndex.hash(b), 2)).toBeUndefined();
    expect(index.find('x', DedupeIndex.hash('x'), 2)).toBeUndefined();
  });

  it('agrees with a plain model through random appends, prunes and rollbacks (probe runs, shifts, resizes)', () => {
    // A deterministic generator, so a failure repeats.
    let seed = 42;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const windowMs = 50;
    const { append, index, log } = indexOver(windowMs);
    /** The model: key → [sequence, time] of its copy accepted last. */
    const model = new Map<string, [number, number]>();
    let now = 0;
    let last = 0;
    for (let step = 0; step < 60_000; step++) {
      const roll = random();
      if (roll < 0.01) {
        index.prune(now);
        continue;
      }
      if (roll < 0.012 && last > 0) {
        // A failed group: the newest few sequences are forgotten, as the store rolls them back.
        const keep = Math.max(0, last - 1 - Math.floor(random() * 5));
        index.rollback(keep);
        for (const [key, [sequence]] of model) if (sequence > keep) model.delete(key);
        for (let sequence = keep + 1; sequence <= last; sequence++) log.delete(sequence);
        continue;
      }
      if (roll < 0.3) now += 1;
      const key = `/s k${Math.floor(random() * 3_000)}`;
      const inModel = model.get(key);
      const expected = inModel !== undefined && inModel[1] >= now - windowMs ? inModel[0] : undefined;
      const [sequence, duplicate] = append(key, now);
      expect([sequence, duplicate]).toEqual(expected === undefined ? [sequence, false] : [expected, true]);
      if (!duplicate) model.set(key, [sequence, now]);
      last = Math.max(last, sequence);
    }
    index.prune(now);
    const alive = [...model.values()].filter(([, at]) => at >= now - windowMs).length;
    expect(index.size).toBeGreaterThanOrEqual(alive);
  });

  it('tells apart the hashes 0 and 1 (they share a tag), and frees both when pruned', () => {
    const log = new Map<number, string>([
      [1, 'key of hash 0'],
      [2, 'key of hash 1'],
    ]);
    const index = new DedupeIndex(100, (sequence) => log.get(sequence));
    expect(index.has(0)).toBe(false);
    index.add(0, 1, 0);
    expect([index.has(0), index.has(1)]).toEqual([true, true]); // 1 shares the tag: confirmed by key
    expect(index.find('key of hash 1', 1, 0)).toBeUndefined();
    index.add(1, 2, 0);
    expect(index.find('key of hash 0', 0, 0)).toBe(1);
    expect(index.find('key of hash 1', 1, 0)).toBe(2);
    expect(index.countKnown(Int32Array.of(0, 1, 2, 1), 3)).toBe(2);
    index.prune(1_000);
    expect([index.size, index.has(0), index.has(1)]).toEqual([0, false, false]);
  });

  it('holds more keys than a JavaScript Map can (2^24)', () => {
    const index = new DedupeIndex(60_000, () => undefined);
    const keys = 2 ** 24 + 1_000;
    for (let sequence = 1; sequence <= keys; sequence++) index.add(sequence | 0, sequence, 0);
    expect(index.size).toBe(keys);
    expect(index.has(keys | 0)).toBe(true);
    expect(index.has(-1)).toBe(false);
    index.prune(120_000);
    expect(index.size).toBe(0);
  });
});

describe('repeatsAHash', () => {
  it("finds a repeated hash among a request's hashes wherever it is, and none when all differ", () => {
    const scratch = new Int32Array(512);
    const distinct = Int32Array.from({ length: 200 }, (_, i) => DedupeIndex.hash(`/s id-${i}`));
    expect(repeatsAHash(distinct, 200, scratch)).toBe(false);
    for (const [first, second] of [
      [0, 1],
      [0, 199],
      [57, 58],
      [198, 199],
    ] as const) {
      const hashes = Int32Array.from(distinct);
      hashes[second] = hashes[first] as number;
      expect(repeatsAHash(hashes, 200, scratch)).toBe(true);
      // The scratch table is cleared for each request: what the last one left does not count.
      expect(repeatsAHash(distinct, 200, scratch)).toBe(false);
    }
    // Only the first `count` hashes are looked at.
    const tail = Int32Array.from([5, 6, 5]);
    expect(repeatsAHash(tail, 2, scratch)).toBe(false);
    expect(repeatsAHash(tail, 3, scratch)).toBe(true);
  });

  it('refuses a scratch table too small for the request', () => {
    expect(() => repeatsAHash(new Int32Array(100), 100, new Int32Array(128))).toThrow(RangeError);
  });
});
