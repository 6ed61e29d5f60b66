import { describe, expect, it } from 'vitest';
import { jsonDepthExceeded } from './json-depth.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('jsonDepthExceeded', () => {
  it('finds where arrays and objects nest deeper than the limit, without recursion', () => {
    expect(jsonDepthExceeded(bytes('{"a":[1,{"b":2}]}'), 3)).toBe(-1);
    expect(jsonDepthExceeded(bytes('{"a":[1,{"b":2}]}'), 2)).toBe(8);
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(jsonDepthExceeded(bytes(deep), 64)).toBe(64);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(jsonDepthExceeded(bytes('{"a":"[[[[\\"[[[[","b":[]}'), 2)).toBe(-1);
    // An escaped backslash ends before the closing quote: the brackets after it count.
    expect(jsonDepthExceeded(bytes('["\\\\",[[]]]'), 2)).toBe(7);
  });
});

describe('jsonDepthExceeded skipping strings natively', () => {
  // The byte-by-byte scan it replaced.
  function byBytes(text: Uint8Array, maxDepth: number): number {
    let depth = 0;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === 0x5c) i++;
        else if (c === 0x22) inString = false;
        continue;
      }
      if (c === 0x22) inString = true;
      else if (c === 0x5b || c === 0x7b) {
        if (++depth > maxDepth) return i;
      } else if (c === 0x5d || c === 0x7d) depth--;
    }
    return -1;
  }

  it('agrees with a byte-by-byte scan on texts of brackets, quotes and backslash runs', () => {
    const alphabet = ['[', ']', '{', '}', '"', '\\', '\\\\', 'a', ',', ':'];
    // A fixed linear congruential sequence: the same texts every run.
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
    for (let n = 0; n < 3000; n++) {
      let text = '';
      const length = 1 + (next() % 40);
      for (let i = 0; i < length; i++) text += alphabet[next() % alphabet.length];
      const body = bytes(text);
      for (const max of [0, 1, 2, 4]) {
        expect([text, max, jsonDepthExceeded(body, max)]).toEqual([text, max, byBytes(body, max)]);
      }
    }
  });

  it('reads Buffers and plain Uint8Arrays alike', () => {
    const text = '{"a":"\\"[[","b":[[[1]]]}';
    expect(jsonDepthExceeded(Buffer.from(text), 2)).toBe(jsonDepthExceeded(bytes(text), 2));
    expect(jsonDepthExceeded(bytes(text), 2)).toBe(17);
  });
});
