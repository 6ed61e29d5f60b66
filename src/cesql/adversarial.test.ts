// SPDX-License-Identifier: Apache-2.0
// Hostile input: deep nesting, huge literals, LIKE patterns built to make backtracking matchers
// explode. Each must end quickly with a parse error or a value, never a stack overflow.
import { describe, expect, it } from 'vitest';
import { CesqlParseError, compile, MAX_NESTING_DEPTH } from './index.js';

/**
 * Tests never assert on time (a busy machine would make them flaky). The blow-ups these inputs aim at
 * (exponential backtracking, unbounded recursion) take minutes or overflow the stack, so each test's
 * own timeout is the bound that catches them.
 */
const BLOW_UP_TIMEOUT_MS = 30_000;

function expectParseError(source: string, detail: RegExp): void {
  let caught: unknown;
  try {
    compile(source);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(CesqlParseError);
  expect((caught as CesqlParseError).detail).toMatch(detail);
}

const tooDeep = /nests deeper than/;

describe('deep nesting', () => {
  it('rejects 10,000 nested parentheses with a parse error', () => {
    expectParseError('('.repeat(10_000) + '1' + ')'.repeat(10_000), tooDeep);
    expectParseError('('.repeat(10_000), tooDeep);
  });

  it('rejects 10,000 nested NOT, minus, function calls and IN sets', () => {
    expectParseError('NOT '.repeat(10_000) + 'TRUE', tooDeep);
    expectParseError('-'.repeat(10_000) + '1', tooDeep);
    expectParseError('- '.repeat(10_000) + '1', tooDeep);
    expectParseError('ABS('.repeat(10_000) + '1' + ')'.repeat(10_000), tooDeep);
    expectParseError('1 IN ('.repeat(10_000) + '1' + ')'.repeat(10_000), tooDeep);
  });

  it('rejects a chain of 100,000 operators without recursing', () => {
    expectParseError(Array.from({ length: 100_001 }, () => 'a').join(' OR '), tooDeep);
    expectParseError(Array.from({ length: 100_001 }, () => '1').join('+'), tooDeep);
  });

  it('compiles and evaluates every kind of nesting at the limit', () => {
    const depth = MAX_NESTING_DEPTH;
    const event = { specversion: '1.0', id: '1', source: '/s', type: 't', n: 3 };
    const cases: Array<[string, unknown]> = [
      ['('.repeat(depth - 1) + 'n' + ')'.repeat(depth - 1), 3],
      ['NOT '.repeat(depth - 1) + 'TRUE', (depth - 1) % 2 === 0],
      ['- '.repeat(depth - 1) + 'n', -3],
      ['ABS('.repeat(depth - 1) + '-5' + ')'.repeat(depth - 1), 5],
      ['LOWER('.repeat(depth - 1) + 'type' + ')'.repeat(depth - 1), 't'],
      [Array.from({ length: depth }, () => 'n').join(' + '), 3 * depth],
      [Array.from({ length: depth - 1 }, () => 'n = 3').join(' AND '), true],
      ['n IN ('.repeat(depth / 2 - 1) + '1' + ')'.repeat(depth / 2 - 1), false],
    ];
    for (const [source, value] of cases) {
      expect(compile(source).evaluate(event)).toEqual({ value, errors: [] });
    }
    expect(compile('- '.repeat(depth - 1) + 'missing').evaluate(event).errors[0]?.kind).toBe(
      'missingAttribute',
    );
  });
});

describe('huge literals', () => {
  it('rejects integer literals outside 32 bits, however long', () => {
    expectParseError('9'.repeat(100_000), /outside the 32-bit range/);
    expectParseError('-' + '9'.repeat(1000), /outside the 32-bit range/);
    expectParseError('x IN (1, 2, 4294967296)', /outside the 32-bit range/);
    expectParseError('ABS(2147483648)', /outside the 32-bit range/);
  });

  it('handles a 1 MB string literal and a 100,000-item IN set', () => {
    const long = 'x'.repeat(1 << 20);
    expect(compile(`LENGTH('${long}')`).evaluate({}).value).toBe(1 << 20);
    const items = Array.from({ length: 100_000 }, (_, i) => `'v${i}'`).join(',');
    const member = compile(`type IN (${items})`);
    const event = { specversion: '1.0', id: '1', source: '/s', type: 'v99999' };
    expect(member.evaluate(event).value).toBe(true);
  });
});

describe('LIKE without backtracking blow-up', () => {
  const text = 'a'.repeat(100_000);

  it.each([
    ['a 100 KB pattern of %a against 100,000 a and no b', '%a'.repeat(50_000) + '%b', false],
    ['the same pattern ending in %', '%a'.repeat(50_000) + '%', true],
    ['a%a%…%b, exponential for naive backtracking', 'a%'.repeat(50_000) + 'b', false],
    ['%_ pairs', '%_'.repeat(50_000), true],
    ['% then one _ more than the text has', '%' + '_'.repeat(100_001), false],
    ['a long literal that almost matches everywhere', '%' + 'a'.repeat(999) + 'b%', false],
  ])(
    '%s',
    (_name, pattern, expected) => {
      expect(pattern.length).toBeGreaterThanOrEqual(1000);
      const expression = compile(`s LIKE '${pattern}'`);
      expect(expression.evaluate({ s: text }).value).toBe(expected);
    },
    BLOW_UP_TIMEOUT_MS,
  );

  it(
    'stays within O(text × pattern) for its worst case, a segment mixing literals and _',
    () => {
      // Every start position matches 999 characters before failing: 10,000 × 1,000 steps.
      const expression = compile(`s LIKE '%${'a_'.repeat(500)}b%'`);
      expect(expression.evaluate({ s: 'a'.repeat(10_000) }).value).toBe(false);
    },
    BLOW_UP_TIMEOUT_MS,
  );
});
