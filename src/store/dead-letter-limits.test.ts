import { describe, expect, it } from 'vitest';
import { trimHeldLetters } from './dead-letter-limits.js';
import type { HeldDeadLetter } from './dead-letter-limits.js';

/** `count` letters of `bytes` each, dead-lettered one a second from `at`, oldest first. */
function letters(count: number, bytes = 100, at = 1_000_000): HeldDeadLetter[] {
  return Array.from({ length: count }, (_, i) => ({
    id: String(i + 1),
    deadLetteredAt: at + i * 1000,
    bytes,
  }));
}

const NONE = { maxAgeMs: 0, maxLetters: 0, maxBytes: 0 };

describe('trimHeldLetters', () => {
  it('keeps the newest --dead-letter-max-letters when that is the only bound', () => {
    const trim = trimHeldLetters('s', letters(20), { ...NONE, maxLetters: 12 }, 2_000_000);
    expect(trim.count).toBe(8);
    expect(trim.lastId).toBe('8');
    expect(trim.dropped).toEqual([{ subscription: 's', reason: 'max-letters', letters: 8, bytes: 800 }]);
  });

  it('removes by whichever bound removes most, attributing each letter to the first that removes it', () => {
    const held = letters(20);
    // Age removes the 3 oldest, the count 8, the bytes (1,000 of 2,000) 10.
    const limits = { maxAgeMs: 16_500, maxLetters: 12, maxBytes: 1000 };
    const trim = trimHeldLetters('s', held, limits, 1_000_000 + 19_000);
    expect(trim.count).toBe(10);
    expect(trim.lastId).toBe('10');
    expect(trim.dropped).toEqual([
      { subscription: 's', reason: 'max-age', letters: 3, bytes: 300 },
      { subscription: 's', reason: 'max-letters', letters: 5, bytes: 500 },
      { subscription: 's', reason: 'max-bytes', letters: 2, bytes: 200 },
    ]);
  });

  it('removes nothing within every bound, or with no bound at all', () => {
    expect(trimHeldLetters('s', letters(12), { ...NONE, maxLetters: 12 }, 2_000_000)).toEqual({
      count: 0,
      lastId: undefined,
      dropped: [],
    });
    expect(trimHeldLetters('s', letters(500), NONE, 2_000_000).count).toBe(0);
  });
});
