// SPDX-License-Identifier: Apache-2.0
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileLike } from './like.js';
import { referenceLike } from './testing/reference.js';

describe('compileLike', () => {
  it.each([
    ['abc', 'abc', true],
    ['abc', 'abcd', false],
    ['', '', true],
    ['', 'a', false],
    ['%', '', true],
    ['%%', 'anything', true],
    ['_', '', false],
    ['a%', 'abc', true],
    ['a%', 'ba', false],
    ['%c', 'abc', true],
    ['%b%', 'abc', true],
    ['%x%', 'abc', false],
    ['a%c', 'ac', true],
    ['a%c', 'a', false],
    ['ab%bc', 'abc', false],
    ['a%b%c', 'azzzbzzzc', true],
    ['a_b_c', 'azbzc', true],
    ['a_b_c', 'abc', false],
    ['.%.%.', '.ab.cde.', true],
    ['.%.%.', 'ab.cde', false],
    ['%a_c%', 'xxabxadcx', true],
    ['_%_', 'a', false],
    ['_%_', 'ab', true],
    [String.raw`a\%b`, 'a%b', true],
    [String.raw`a\%b`, 'axb', false],
    [String.raw`a\_b`, 'a_b', true],
    [String.raw`a\_b`, 'axb', false],
    [String.raw`a\b`, String.raw`a\b`, true],
    [String.raw`a\\%`, String.raw`a\%`, true],
    [String.raw`a\\%`, String.raw`a\x`, false],
    ['a\\', 'a\\', true],
    ['%😀', 'a😀', true],
    ['_', '😀', true],
    ['__', '😀', false],
    ['%_😀', '😀😀', true],
    ['%__', '😀', false],
    ['a_', 'a\uD800', true],
  ])('%j LIKE %j is %s', (pattern, text, expected) => {
    expect(compileLike(pattern)(text)).toBe(expected);
    expect(referenceLike(pattern, text)).toBe(expected);
  });

  it('agrees with the reference matcher on random patterns and texts', () => {
    const unit = fc.constantFrom('a', 'b', '😀', '%', '_', '\\', '\uD83D', '\uDE00');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 10 }), fc.string({ unit, maxLength: 14 }), (pattern, text) => {
        expect(compileLike(pattern)(text)).toBe(referenceLike(pattern, text));
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with the reference matcher when the text is built to match', () => {
    const piece = fc.constantFrom('a', 'ab', '😀', 'b');
    fc.assert(
      fc.property(fc.array(fc.tuple(piece, fc.constantFrom('%', '_', '')), { maxLength: 6 }), (parts) => {
        const pattern = parts.map(([literal, wildcard]) => literal + wildcard).join('');
        const text = parts
          .map(
            ([literal, wildcard]) =>
              literal + (wildcard === '' ? '' : 'b😀'.slice(0, wildcard === '_' ? 1 : 3)),
          )
          .join('');
        expect(compileLike(pattern)(text)).toBe(referenceLike(pattern, text));
      }),
      { numRuns: 1000 },
    );
  });
});
