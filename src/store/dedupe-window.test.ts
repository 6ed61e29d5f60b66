import { describe, expect, it } from 'vitest';
import { DedupeWindow, GENERATION_KEYS } from './dedupe-window.js';

/** A deterministic PRNG (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('DedupeWindow', () => {
  it('keys the anonymous principal as (source, id) alone and a named one unambiguously', () => {
    expect(DedupeWindow.key('/s', 'a')).toBe('/s a');
    expect(DedupeWindow.key('/s', 'a', '')).toBe('/s a');
    // Ids and principals may hold spaces; sources cannot. None of these may share a key.
    const keys = [
      DedupeWindow.key('/s', 'x y', 'p'),
      DedupeWindow.key('/s', 'x', 'y p'),
      DedupeWindow.key('/s', 'x y p'),
      DedupeWindow.key('/s', 'x y', ' 1 p /s'),
      DedupeWindow.key('/s', 'x y', 'p '),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('keeps every Map far below the 2^24 keys at which V8 throws', () => {
    expect(GENERATION_KEYS).toBeLessThanOrEqual(2 ** 24 / 4);
  });

  it('answers like a plain map of the window across many small generations', () => {
    const windowMs = 50;
    // Generations of 7 keys, so adds, refreshes, removals and prunes cross generation boundaries.
    const window = new DedupeWindow(windowMs, 7);
    const model = new Map<string, { sequence: number; at: number }>();
    const next = random(15);
    let now = 0;
    let sequence = 0;
    for (let step = 0; step < 20_000; step++) {
      const key = `/s ${Math.floor(next() * 300)}`;
      const roll = next();
      if (roll < 0.5) {
        sequence++;
        window.add(key, sequence, now);
        model.set(key, { sequence, at: now });
      } else if (roll < 0.6) {
        window.remove(key);
        model.delete(key);
      } else if (roll < 0.7) {
        now += Math.floor(next() * 10);
        window.prune(now);
        for (const [k, entry] of model) if (entry.at < now - windowMs) model.delete(k);
        expect(window.size).toBe(model.size);
      }
      const expected = model.get(key);
      const inside = expected !== undefined && expected.at >= now - windowMs ? expected.sequence : undefined;
      expect(window.find(key, now)).toBe(inside);
    }
  });

  it('drops whole generations once they fall out of the window', () => {
    const window = new DedupeWindow(10, 4);
    for (let i = 0; i < 40; i++) window.add(`/s ${i}`, i + 1, i);
    expect(window.size).toBe(40);
    window.prune(45);
    // Only the entries at 35..39 are inside [35, 45].
    expect(window.size).toBe(5);
    expect(window.find('/s 34', 45)).toBeUndefined();
    expect(window.find('/s 35', 45)).toBe(36);
  });
});
