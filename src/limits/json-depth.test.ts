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
