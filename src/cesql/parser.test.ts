// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import type { CesqlNode } from './ast.js';
import { CesqlParseError, MAX_NESTING_DEPTH, parse, print } from './index.js';
import { tokenize } from './lexer.js';

/** The tree in a compact, offset-free form that is easy to compare. */
function shape(node: CesqlNode): unknown {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'attribute':
      return `@${node.name}`;
    case 'exists':
      return ['EXISTS', node.name];
    case 'not':
      return ['NOT', shape(node.operand)];
    case 'negate':
      return ['NEG', shape(node.operand)];
    case 'binary':
      return [node.op, shape(node.left), shape(node.right)];
    case 'like':
      return [node.negated ? 'NOT LIKE' : 'LIKE', shape(node.operand), node.pattern];
    case 'in':
      return [node.negated ? 'NOT IN' : 'IN', shape(node.operand), node.set.map(shape)];
    case 'call':
      return [node.name, ...node.args.map(shape)];
  }
}

const parsed = (source: string): unknown => shape(parse(source));

function parseError(source: string): CesqlParseError {
  try {
    parse(source);
  } catch (error) {
    if (error instanceof CesqlParseError) return error;
    throw error;
  }
  throw new Error(`expected a parse error for ${source}`);
}

describe('lexer', () => {
  it('takes a sign into an integer literal only where an operand is expected', () => {
    expect(parsed('-10')).toBe(-10);
    expect(parsed('+10')).toBe(10);
    expect(parsed('--10')).toEqual(['NEG', -10]);
    expect(parsed('- 10')).toEqual(['NEG', 10]);
    expect(parsed('5-3')).toEqual(['-', 5, 3]);
    expect(parsed('4 -1')).toEqual(['-', 4, 1]);
    expect(parsed('4 - -1')).toEqual(['-', 4, -1]);
    expect(parsed('4--1')).toEqual(['-', 4, -1]);
    expect(parsed('(1)-1')).toEqual(['-', 1, 1]);
    expect(parsed('a-1')).toEqual(['-', '@a', 1]);
    expect(parsed('ABS(-1)')).toEqual(['ABS', -1]);
    expect(parsed('NOT -1')).toEqual(['NOT', -1]);
    expect(parsed('x IN (-1, +2)')).toEqual(['IN', '@x', [-1, 2]]);
  });

  it('accepts the whole 32-bit range and rejects anything outside it', () => {
    expect(parsed('-2147483648')).toBe(-2147483648);
    expect(parsed('2147483647')).toBe(2147483647);
    expect(parsed('0002147483647')).toBe(2147483647);
    expect(Object.is(parsed('-0'), 0)).toBe(true);
    for (const source of ['2147483648', '-2147483649', '- 2147483648', '99999999999999999999999']) {
      expect(parseError(source).detail).toMatch(/outside the 32-bit range/);
    }
  });

  it('treats a word of letters and digits as an identifier, digits alone as an integer', () => {
    expect(parsed('1abc')).toBe('@1abc');
    expect(parsed('-10abc')).toEqual(['NEG', '@10abc']);
    expect(parsed('123')).toBe(123);
  });

  it('unescapes only the enclosing quote, and a doubled one', () => {
    expect(parsed(`'a"b\\'c'`)).toBe(`a"b'c`);
    expect(parsed(`"a'b\\"c"`)).toBe(`a'b"c`);
    expect(parsed(`'ab\\c'`)).toBe('ab\\c');
    expect(parsed(`'a\\\\b'`)).toBe('a\\\\b');
    expect(parsed(`'it''s'`)).toBe(`it's`);
    expect(parsed(`"say ""hi"""`)).toBe(`say "hi"`);
    expect(parsed(`"\\'"`)).toBe(`\\'`);
    expect(parsed(`''`)).toBe('');
    expect(parsed(`'😀 ünïcödé'`)).toBe('😀 ünïcödé');
  });

  it('skips exactly space, tab, CR and LF', () => {
    expect(parsed('\t1\r\n+\n2 ')).toEqual(['+', 1, 2]);
    expect(parseError('1\u00a0+ 2').detail).toBe("unexpected character '\u00a0'");
    expect(parseError('1\u0000').detail).toBe("unexpected character 'U+0000'");
  });

  it('produces an eof token with the source length as offset', () => {
    expect(tokenize(' a ').at(-1)).toEqual({ type: 'eof', offset: 3 });
  });
});

describe('parser', () => {
  it('is case-insensitive for keywords, function names and identifiers', () => {
    expect(parsed('true AnD NoT fAlSe')).toEqual(['AND', true, ['NOT', false]]);
    expect(parsed('concat_ws(Source, TYPE)')).toEqual(['CONCAT_WS', '@source', '@type']);
    expect(parsed('exists SOURCE')).toEqual(['EXISTS', 'source']);
    expect(parsed("a not like 'x' or b not in (1)")).toEqual([
      'OR',
      ['NOT LIKE', '@a', 'x'],
      ['NOT IN', '@b', [1]],
    ]);
  });

  it('follows the precedence of CESQL v1 §3.6', () => {
    expect(parsed('4 * 2 + 4 / 2')).toEqual(['+', ['*', 4, 2], ['/', 4, 2]]);
    expect(parsed('1 + 2 = 3')).toEqual(['=', ['+', 1, 2], 3]);
    expect(parsed('a = 1 AND b = 2')).toEqual(['AND', ['=', '@a', 1], ['=', '@b', 2]]);
    expect(parsed('NOT a = b')).toEqual(['=', ['NOT', '@a'], '@b']);
    expect(parsed("NOT a LIKE 'x'")).toEqual(['LIKE', ['NOT', '@a'], 'x']);
    expect(parsed('-a * b')).toEqual(['*', ['NEG', '@a'], '@b']);
    expect(parsed("a + b LIKE 'x'")).toEqual(['+', '@a', ['LIKE', '@b', 'x']]);
    expect(parsed('a * b IN (1)')).toEqual(['*', '@a', ['IN', '@b', [1]]]);
    expect(parsed("a LIKE 'x' IN (TRUE)")).toEqual(['IN', ['LIKE', '@a', 'x'], [true]]);
    expect(parsed('EXISTS a = TRUE')).toEqual(['=', ['EXISTS', 'a'], true]);
    expect(parsed('LENGTH(a) > 2')).toEqual(['>', ['LENGTH', '@a'], 2]);
  });

  it('evaluates operators of one level left to right, logic included', () => {
    expect(parsed('1 - 2 - 3')).toEqual(['-', ['-', 1, 2], 3]);
    expect(parsed('8 / 4 / 2')).toEqual(['/', ['/', 8, 4], 2]);
    expect(parsed('1 < 2 < 3')).toEqual(['<', ['<', 1, 2], 3]);
    expect(parsed('a AND b OR c')).toEqual(['OR', ['AND', '@a', '@b'], '@c']);
    expect(parsed('a OR b AND c')).toEqual(['AND', ['OR', '@a', '@b'], '@c']);
    expect(parsed('a XOR b AND c')).toEqual(['AND', ['XOR', '@a', '@b'], '@c']);
  });

  it('parses function calls with zero or more arguments and IN with one or more items', () => {
    expect(parsed('CONCAT()')).toEqual(['CONCAT']);
    expect(parsed("SUBSTRING('abc', 1, 2)")).toEqual(['SUBSTRING', 'abc', 1, 2]);
    expect(parsed('LENGTH ( a )')).toEqual(['LENGTH', '@a']);
    expect(parsed('a IN (1, b, LOWER(c), (2))')).toEqual(['IN', '@a', [1, '@b', ['LOWER', '@c'], 2]]);
  });

  it.each([
    ['', 'empty expression', 1],
    ['   ', 'empty expression', 4],
    ['ABC(', 'unexpected end of expression', 5],
    ['(1', "expected ')' to close '(' from column 1, found end of expression", 3],
    ['1 2', 'unexpected integer 2', 3],
    ['1 +', 'unexpected end of expression', 4],
    ['a LIKE b', "LIKE needs a string literal pattern, found 'b'", 8],
    ['a LIKE 123', 'LIKE needs a string literal pattern, found integer 123', 8],
    ["a LIKE ('x')", "LIKE needs a string literal pattern, found '('", 8],
    ['a IN ()', 'an IN set needs at least one value', 7],
    ['a IN 1', "expected '(' after IN, found integer 1", 6],
    ['a IN (1', "expected ',' or ')' in IN set, found end of expression", 8],
    ['f(1 2)', "expected ',' or ')' in argument list, found integer 2", 5],
    ['EXISTS 1', 'EXISTS needs an attribute name, found integer 1', 8],
    ['EXISTS (a)', "EXISTS needs an attribute name, found '('", 8],
    ['EXISTS a_b', "EXISTS needs an attribute name, found 'a_b'", 8],
    ['a NOT b', "expected LIKE or IN after NOT, found 'b'", 7],
    ['a_b', "invalid attribute name 'a_b': attribute names are letters and digits", 1],
    ['f1(2)', "invalid function name 'f1': function names are letters and underscores", 1],
    ["'abc", 'unterminated string literal', 1],
    ["'abc\\'", 'unterminated string literal', 1],
    ['1 == 1', "unexpected '='", 4],
    ['a ! b', "unexpected character '!'", 3],
    ['TRUE()', "unexpected '('", 5],
    ['1 +\n  (2 *)', "unexpected ')'", 7],
  ])('rejects %j: %s at column %i', (source, detail, column) => {
    const error = parseError(source);
    expect(error.detail).toBe(detail);
    expect(error.position.column).toBe(column);
    expect(error.kind).toBe('parse');
    expect(error.name).toBe('CesqlParseError');
    expect(error.message).toBe(`${detail} at line ${error.position.line}, column ${column}`);
  });

  it('reports line, column and offset, counting code points and all line endings', () => {
    expect(parseError('1 +\n  (2 *)').position).toEqual({ offset: 10, line: 2, column: 7 });
    expect(parseError('1 +\r\n\r\n)').position).toEqual({ offset: 7, line: 3, column: 1 });
    expect(parseError('1 +\r)').position).toEqual({ offset: 4, line: 2, column: 1 });
    expect(parseError("'😀😀' +").position).toEqual({ offset: 8, line: 1, column: 7 });
  });

  it(`accepts nesting up to MAX_NESTING_DEPTH (${MAX_NESTING_DEPTH}) and rejects one more`, () => {
    const nested = (depth: number): string => '('.repeat(depth - 1) + '1' + ')'.repeat(depth - 1);
    expect(parsed(nested(MAX_NESTING_DEPTH))).toBe(1);
    expect(parseError(nested(MAX_NESTING_DEPTH + 1)).detail).toMatch(/nests deeper than 256 levels/);
    const nots = (depth: number): string => 'NOT '.repeat(depth - 1) + 'TRUE';
    expect(() => parse(nots(MAX_NESTING_DEPTH))).not.toThrow();
    expect(() => parse(nots(MAX_NESTING_DEPTH + 1))).toThrow(CesqlParseError);
    const chain = (operators: number): string =>
      Array.from({ length: operators + 1 }, () => 'a').join(' OR ');
    expect(() => parse(chain(MAX_NESTING_DEPTH - 1))).not.toThrow();
    expect(parseError(chain(MAX_NESTING_DEPTH)).detail).toMatch(/split long operator chains/);
  });
});

describe('print', () => {
  it.each([
    ["not(A)  and b<>'x'", "NOT a AND b <> 'x'"],
    ['(1 + 2) * 3', '(1 + 2) * 3'],
    ['1 + (2 * 3)', '1 + 2 * 3'],
    ['1 - (2 - 3)', '1 - (2 - 3)'],
    ['(1 - 2) - 3', '1 - 2 - 3'],
    ['a OR (b AND c)', 'a OR (b AND c)'],
    ['- 5', '- 5'],
    ['--5', '- -5'],
    ['- - 5', '- - 5'],
    ["NOT (a LIKE 'x')", "NOT (a LIKE 'x')"],
    ["(NOT a) LIKE 'x'", "NOT a LIKE 'x'"],
    ['(a + 1) IN (1, 2)', '(a + 1) IN (1, 2)'],
    ['a NOT IN (1)', 'a NOT IN (1)'],
    ["x not like 'a\\%'", "x NOT LIKE 'a\\%'"],
    ['exists SubJect', 'EXISTS subject'],
    ['concat_ws(",", a)', "CONCAT_WS(',', a)"],
    [`'it''s'`, `'it''s'`],
    [`"\\'"`, `"\\'"`],
    [`"a'b\\"c"`, `'a''b"c'`],
    ['true = FALSE', 'TRUE = FALSE'],
  ])('prints %j as %j', (source, printed) => {
    expect(print(parse(source))).toBe(printed);
    expect(shape(parse(printed))).toEqual(shape(parse(source)));
  });

  it('refuses trees that no source text can express', () => {
    const at = { offset: 0 };
    expect(() => print({ kind: 'attribute', name: 'and', ...at })).toThrow(RangeError);
    expect(() => print({ kind: 'attribute', name: '12', ...at })).toThrow(RangeError);
    expect(() => print({ kind: 'attribute', name: 'A', ...at })).toThrow(RangeError);
    expect(() => print({ kind: 'call', name: 'NOT', args: [], ...at })).toThrow(RangeError);
    expect(() => print({ kind: 'literal', value: 2 ** 31, ...at })).toThrow(RangeError);
    expect(() => print({ kind: 'literal', value: 'ends in \\', ...at })).toThrow(RangeError);
    expect(() => print({ kind: 'literal', value: `\\' and \\"`, ...at })).toThrow(RangeError);
  });
});
