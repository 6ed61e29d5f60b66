// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { compile } from './index.js';
import type { CesqlValue, EventAttributes } from './index.js';

const baseEvent: EventAttributes = {
  specversion: '1.0',
  id: 'e-1',
  source: '/shop/eu',
  type: 'com.example.order.created',
  time: '2018-04-26T14:48:09+02:00',
};

/** Value and error kinds, the shape most assertions need. */
function run(expression: string, attributes: EventAttributes = {}): [CesqlValue, ...string[]] {
  const { value, errors } = compile(expression).evaluate({ ...baseEvent, ...attributes });
  return [value, ...errors.map((e) => e.kind)];
}

describe('literals and attributes', () => {
  it('reads attributes by their lower-case name with their CloudEvents type', () => {
    const event = { subject: 'topic', myint: 10, mybool: true, myext: 'x' };
    expect(run('subject', event)).toEqual(['topic']);
    expect(run('SUBJECT', event)).toEqual(['topic']);
    expect(run('myint', event)).toEqual([10]);
    expect(run('mybool', event)).toEqual([true]);
    expect(run('time')).toEqual(['2018-04-26T14:48:09+02:00']);
  });

  it('gives false and a MissingAttributeError for an absent attribute, null included', () => {
    expect(run('subject')).toEqual([false, 'missingAttribute']);
    expect(run('subject', { subject: undefined })).toEqual([false, 'missingAttribute']);
    expect(run('subject', { subject: null } as unknown as EventAttributes)).toEqual([
      false,
      'missingAttribute',
    ]);
  });

  it('does not see inherited members of the attribute object', () => {
    expect(run('constructor')).toEqual([false, 'missingAttribute']);
    expect(run('EXISTS constructor')).toEqual([false]);
    expect(run('constructor', { constructor: 'c' })).toEqual(['c']);
    expect(run('EXISTS constructor', { constructor: 'c' })).toEqual([true]);
  });

  it('treats a number that is not a 32-bit integer as its text and other values as a generic error', () => {
    expect(run('n', { n: 1.5 })).toEqual(['1.5']);
    expect(run('n', { n: -0 })).toEqual([0]);
    expect(run('n = 0', { n: -0 })).toEqual([true]);
    expect(run('n', { n: {} } as unknown as EventAttributes)).toEqual([false, 'generic']);
  });
});

describe('unary operators', () => {
  it('NOT casts its operand to Boolean', () => {
    expect(run('NOT TRUE')).toEqual([false]);
    expect(run("NOT 'false'")).toEqual([true]);
    expect(run("NOT 'FaLsE'")).toEqual([true]);
    expect(run('NOT 0')).toEqual([true]);
    expect(run("NOT 'yes'")).toEqual([false, 'cast']);
  });

  it('NOT 10 is false without error: Integer → Boolean is a valid cast in CESQL v1 §3.7', () => {
    expect(run('NOT 10')).toEqual([false]);
    expect(run('NOT -1')).toEqual([false]);
  });

  it('minus casts to Integer and wraps at 32 bits', () => {
    expect(run("-'10'")).toEqual([-10]);
    expect(run('-TRUE')).toEqual([-1]);
    expect(run('- -2147483648')).toEqual([-2147483648]);
    expect(run("-'x'")).toEqual([0, 'cast']);
    expect(run('-missing')).toEqual([0, 'missingAttribute']);
  });
});

describe('arithmetic', () => {
  it.each([
    ['2147483647 + 1', -2147483648],
    ['-2147483648 - 1', 2147483647],
    ['65536 * 65536', 0],
    ['-2147483648 / -1', -2147483648],
    ['-7 / 2', -3],
    ['7 / -2', -3],
    ['-7 % 2', -1],
    ['7 % -2', 1],
    ['TRUE + TRUE', 2],
    ["'5' * '3'", 15],
  ])('%s = %i', (expression, result) => {
    expect(run(expression)).toEqual([result]);
  });

  it('keeps the remainder free of negative zero', () => {
    expect(Object.is(run('-2147483648 % -1')[0], 0)).toBe(true);
    expect(Object.is(run('-4 % 2')[0], 0)).toBe(true);
  });

  it('raises a MathError on division or modulo by zero', () => {
    const result = compile('10 / (5 - 5)').evaluate(baseEvent);
    expect(result).toEqual({
      value: 0,
      errors: [{ kind: 'math', message: 'division by zero', position: { offset: 3, line: 1, column: 4 } }],
    });
    expect(run('1 % 0')).toEqual([0, 'math']);
  });

  it('raises a CastError for an operand that is not an integer', () => {
    expect(run("'x' + 1")).toEqual([0, 'cast']);
    expect(run("1 + '1.5'")).toEqual([0, 'cast']);
    expect(run("1 + ' 1'")).toEqual([0, 'cast']);
    expect(run("1 + '2147483648'")).toEqual([0, 'cast']);
    expect(run("1 + '+0002'")).toEqual([3]);
  });
});

describe('comparison', () => {
  it('compares as integers, casting both sides', () => {
    expect(run('hop < ttl', { hop: '5', ttl: '10' })).toEqual([true]);
    expect(run("'10' >= 9")).toEqual([true]);
    expect(run('TRUE > FALSE')).toEqual([true]);
    expect(run("'a' < 1")).toEqual([false, 'cast']);
    expect(run('missing <= 2')).toEqual([false, 'missingAttribute']);
  });

  it('picks the equality overload by the type of the right operand', () => {
    expect(run("TRUE = 'TRUE'")).toEqual([false]);
    expect(run("'TRUE' = TRUE")).toEqual([true]);
    expect(run("TRUE = 'true' AND FALSE = 'false'")).toEqual([true]);
    expect(run("1 = '1'")).toEqual([true]);
    expect(run("1 = '01'")).toEqual([false]);
    expect(run("'01' = 1")).toEqual([true]);
    expect(run("'a' = 'A'")).toEqual([false]);
    expect(run("'abc' = 1")).toEqual([false, 'cast']);
    expect(run("'abc' != 1")).toEqual([false, 'cast']);
    expect(run("'abc' <> 'abd'")).toEqual([true]);
    expect(run('sequence = 5', { sequence: '5' })).toEqual([true]);
  });

  it('decides per event when the right operand is an attribute', () => {
    expect(run('a = b', { a: '5', b: 5 })).toEqual([true]);
    expect(run('b = a', { a: '05', b: 5 })).toEqual([false]);
    expect(run('a = b', { a: 'x', b: 5 })).toEqual([false, 'cast']);
    expect(run('a = b', { a: 1, b: true })).toEqual([true]);
    expect(run('a != b', { a: 'x', b: 'y' })).toEqual([true]);
  });
});

describe('logic', () => {
  it('short-circuits AND and OR', () => {
    expect(run('FALSE AND missing')).toEqual([false]);
    expect(run('TRUE OR missing')).toEqual([true]);
    expect(run('FALSE AND 1 / 0 = 1')).toEqual([false]);
    expect(run('TRUE AND missing')).toEqual([false, 'missingAttribute']);
    expect(run('FALSE OR missing')).toEqual([false, 'missingAttribute']);
  });

  it('returns false for an error in either operand, the left one included', () => {
    expect(run('missing OR TRUE')).toEqual([false, 'missingAttribute']);
    expect(run('missing AND FALSE')).toEqual([false, 'missingAttribute']);
    expect(run('missing XOR TRUE')).toEqual([false, 'missingAttribute']);
    expect(run('TRUE XOR 1 / 0 = 0')).toEqual([false, 'math']);
  });

  it('casts operands to Boolean', () => {
    expect(run("'true' AND 1")).toEqual([true]);
    expect(run("'yes' AND TRUE")).toEqual([false, 'cast']);
    expect(run("FALSE OR 'nope'")).toEqual([false, 'cast']);
    expect(run('1 XOR 0')).toEqual([true]);
  });

  it('treats AND, OR and XOR as one level evaluated left to right', () => {
    expect(run('FALSE AND FALSE OR TRUE')).toEqual([true]);
    expect(run('TRUE OR TRUE AND FALSE')).toEqual([false]);
  });
});

describe('LIKE', () => {
  it('matches % and _ and their escapes', () => {
    expect(run(String.raw`myext LIKE 'abc%123\%456\_d_f'`, { myext: 'abc123123%456_dzf' })).toEqual([true]);
    expect(run(String.raw`'a%b' LIKE 'a\%b'`)).toEqual([true]);
    expect(run(String.raw`'axb' LIKE 'a\%b'`)).toEqual([false]);
    expect(run(String.raw`'a\c' LIKE 'a\c'`)).toEqual([true]);
    expect(run(String.raw`'abc' LIKE 'a\bc'`)).toEqual([false]);
    expect(run("'abc' NOT LIKE 'a_c'")).toEqual([false]);
  });

  it('counts code points for _', () => {
    expect(run("'😀' LIKE '_'")).toEqual([true]);
    expect(run("'😀' LIKE '__'")).toEqual([false]);
    expect(run("'x😀y' LIKE '%_y'")).toEqual([true]);
  });

  it('casts the value to String and propagates errors', () => {
    expect(run("234 LIKE '23_'")).toEqual([true]);
    expect(run("TRUE LIKE 'tr%'")).toEqual([true]);
    expect(run("missing LIKE 'x'")).toEqual([false, 'missingAttribute']);
    expect(run("missing NOT LIKE 'x'")).toEqual([false, 'missingAttribute']);
  });
});

describe('IN', () => {
  it('casts each item to the type of the left operand', () => {
    expect(run('1 IN (1, 2)')).toEqual([true]);
    expect(run("'1' IN (1, 2)")).toEqual([true]);
    expect(run("1 IN ('01')")).toEqual([true]);
    expect(run("TRUE IN ('true')")).toEqual([true]);
    expect(run("'x' IN ('a', 'b')")).toEqual([false]);
    expect(run("type IN ('a', 'com.example.order.created')")).toEqual([true]);
  });

  it('stops at the first match, before any later error', () => {
    expect(run("1 IN (1, 'a')")).toEqual([true]);
    expect(run("2 IN (1, 'a')")).toEqual([false, 'cast']);
    expect(run("1 IN ('a', 1)")).toEqual([false, 'cast']);
    expect(run("TRUE IN ('yes', TRUE)")).toEqual([false, 'cast']);
    expect(run('1 IN (1, missing)')).toEqual([true]);
    expect(run('1 IN (missing, 1)')).toEqual([false, 'missingAttribute']);
    expect(run("a IN (b, 'a')", { a: 'a' })).toEqual([false, 'missingAttribute']);
    expect(run("a IN (b, 'a')", { a: 'a', b: 'x' })).toEqual([true]);
    expect(run('a IN (b, 1)', { a: 1, b: 'x' })).toEqual([false, 'cast']);
  });

  it('NOT IN negates, and still gives false on error', () => {
    expect(run('3 NOT IN (1, 2)')).toEqual([true]);
    expect(run('1 NOT IN (1, 2)')).toEqual([false]);
    expect(run('missing NOT IN (1)')).toEqual([false, 'missingAttribute']);
    expect(run("2 NOT IN (1, 'a')")).toEqual([false, 'cast']);
  });
});

describe('EXISTS', () => {
  it('is true for present attributes and always for the required ones', () => {
    expect(run('EXISTS subject', { subject: 's' })).toEqual([true]);
    expect(run('EXISTS subject')).toEqual([false]);
    expect(
      compile('EXISTS id AND EXISTS source AND EXISTS specversion AND EXISTS type').evaluate({}),
    ).toEqual({
      value: true,
      errors: [],
    });
  });
});

describe('functions', () => {
  it.each([
    ["LENGTH('abc')", 3],
    ['LENGTH(TRUE)', 4],
    ["LENGTH('😀a')", 2],
    ["CONCAT('a', 'b', 'c')", 'abc'],
    ['CONCAT()', ''],
    ['CONCAT(1, TRUE)', '1true'],
    ["CONCAT_WS(',', 'a', 'b', 'c')", 'a,b,c'],
    ["CONCAT_WS(',')", ''],
    ["CONCAT_WS(',', 'a')", 'a'],
    ["LOWER('AbC')", 'abc'],
    ["UPPER('abc')", 'ABC'],
    ["UPPER('straße')", 'STRASSE'],
    ["TRIM('   a b c   ')", 'a b c'],
    ["TRIM(CONCAT('\u3000\u0085', 'a', '\t\n'))", 'a'],
    ["TRIM('\uFEFFa')", '\uFEFFa'],
    ["LEFT('abc', 2)", 'ab'],
    ["LEFT('abc', 10)", 'abc'],
    ["LEFT('', 0)", ''],
    ["LEFT('😀ab', 1)", '😀'],
    ["LEFT('abc', '2')", 'ab'],
    ["RIGHT('abc', 2)", 'bc'],
    ["RIGHT('abc', 10)", 'abc'],
    ["RIGHT('a😀', 1)", '😀'],
    ["SUBSTRING('abcdef', 1)", 'abcdef'],
    ["SUBSTRING('abcdef', 6)", 'f'],
    ["SUBSTRING('Quadratically', 5)", 'ratically'],
    ["SUBSTRING('Sakila', -3)", 'ila'],
    ["SUBSTRING('abcdef', -6)", 'abcdef'],
    ["SUBSTRING('abcdef', 2, 4)", 'bcde'],
    ["SUBSTRING('abcdef', 5, 10)", 'ef'],
    ["SUBSTRING('Sakila', -5, 3)", 'aki'],
    ["SUBSTRING('Quadratically', 0)", ''],
    ["SUBSTRING('Quadratically', 0, 1)", ''],
    ["SUBSTRING('a😀b', 2, 1)", '😀'],
    ["SUBSTRING('a😀b', -1)", 'b'],
    ['ABS(-10)', 10],
    ["ABS('-5')", 5],
    ["INT('+7')", 7],
    ['INT(TRUE)', 1],
    ["BOOL('False')", false],
    ['BOOL(-50)', true],
    ['STRING(-1)', '-1'],
    ['STRING(FALSE)', 'false'],
    ["IS_INT('12')", true],
    ["IS_INT('1x')", false],
    ['IS_INT(TRUE)', true],
    ["IS_BOOL('TRUE')", true],
    ["IS_BOOL('yes')", false],
    ['IS_BOOL(5)', true],
    ["length('abc')", 3],
  ])('%s = %j', (expression, result) => {
    expect(run(expression)).toEqual([result]);
  });

  it.each([
    ["LEFT('abc', -2)", 'abc', 'functionEvaluation'],
    ["RIGHT('abc', -2)", 'abc', 'functionEvaluation'],
    ["SUBSTRING('abcdef', 7)", '', 'functionEvaluation'],
    ["SUBSTRING('abcdef', -7)", '', 'functionEvaluation'],
    ["SUBSTRING('abcdef', 10, 10)", '', 'functionEvaluation'],
    ["SUBSTRING('abcdef', 1, -1)", '', 'functionEvaluation'],
    ["SUBSTRING('', 1)", '', 'functionEvaluation'],
    ['ABS(-2147483648)', 2147483647, 'math'],
    ["INT('ABC')", 0, 'cast'],
    ["BOOL('ABC')", false, 'cast'],
    ["LEFT('abc', 'x')", '', 'cast'],
    ["ABS('x')", 0, 'cast'],
    ['CONCAT_WS()', false, 'missingFunction'],
    ['LENGTH()', false, 'missingFunction'],
    ["LENGTH('a', 'b')", false, 'missingFunction'],
    ['NOSUCH(1)', false, 'missingFunction'],
    ['LENGTH(missing)', 0, 'missingAttribute'],
    ["CONCAT('a', missing)", '', 'missingAttribute'],
    ["LENGTH(LEFT('abc', -1))", 0, 'functionEvaluation'],
    ['NOSUCH() + 1', 0, 'missingFunction'],
  ])('%s = %j with a %s error', (expression, value, kind) => {
    expect(run(expression)).toEqual([value, kind]);
  });

  it('names the problem in the MissingFunctionError', () => {
    expect(compile('NOSUCH(1)').evaluate(baseEvent).errors[0]?.message).toBe('unknown function NOSUCH');
    expect(compile('LENGTH()').evaluate(baseEvent).errors[0]?.message).toBe(
      'function LENGTH does not take 0 arguments',
    );
  });

  it('refuses to build strings beyond its size limit instead of throwing', () => {
    // Twenty copies of a 1 MiB attribute exceed the 16 MiB limit; V8's own limit would throw.
    const big = 'x'.repeat(1 << 20);
    const copies = (count: number): string => Array.from({ length: count }, () => 'big').join(', ');
    const args = copies(20);
    const message = /more than 16777216/;
    const concat = compile(`CONCAT(${args})`).evaluate({ big });
    expect(concat.value).toBe('');
    expect(concat.errors[0]?.message).toMatch(message);
    expect(compile(`LENGTH(CONCAT_WS(big, ${args}))`).evaluate({ big }).errors[0]?.kind).toBe(
      'functionEvaluation',
    );
    expect(compile(`LENGTH(CONCAT(${copies(15)}))`).evaluate({ big })).toEqual({
      value: 15 << 20,
      errors: [],
    });
  });
});

describe('errors', () => {
  it('reports the first error, operand errors before casts', () => {
    expect(run('missing + 1 / 0')).toEqual([0, 'missingAttribute']);
    expect(run('1 / 0 + missing')).toEqual([0, 'math']);
    expect(run("'x' + missing")).toEqual([0, 'missingAttribute']);
    expect(run("'x' = missing")).toEqual([false, 'missingAttribute']);
  });

  it('keeps the value of the node that raised the error only at the top', () => {
    expect(run('ABS(-2147483648)')).toEqual([2147483647, 'math']);
    expect(run('ABS(-2147483648) + 0')).toEqual([0, 'math']);
    expect(run('ABS(-2147483648) > 0')).toEqual([false, 'math']);
    expect(run('true and (1 != 1 / 0)')).toEqual([false, 'math']);
  });

  it('places runtime errors at the failing node', () => {
    expect(compile('1 +\n  subject').evaluate(baseEvent).errors).toEqual([
      {
        kind: 'missingAttribute',
        message: "attribute 'subject' is absent",
        position: { offset: 6, line: 2, column: 3 },
      },
    ]);
    expect(compile("'x' < 1").evaluate(baseEvent).errors[0]).toMatchObject({
      kind: 'cast',
      message: 'cannot cast String "x" to Integer',
      position: { column: 5 },
    });
  });

  it('raises constant errors on every evaluation', () => {
    const expression = compile('1 / 0');
    expect(expression.evaluate(baseEvent).errors).toHaveLength(1);
    expect(expression.evaluate(baseEvent).errors).toHaveLength(1);
  });

  it('does not leak an error into the next evaluation', () => {
    const expression = compile('subject');
    expect(expression.evaluate(baseEvent).errors).toHaveLength(1);
    expect(expression.evaluate({ ...baseEvent, subject: 's' })).toEqual({ value: 's', errors: [] });
    expect(expression.matches(baseEvent)).toBe(false);
    expect(compile('subject = subject').matches({ ...baseEvent, subject: 's' })).toBe(true);
  });
});

describe('matches', () => {
  it('passes only Boolean true without error (CESQL v1 §1.2)', () => {
    expect(compile('TRUE').matches(baseEvent)).toBe(true);
    expect(compile('1').matches(baseEvent)).toBe(false);
    expect(compile("'true'").matches(baseEvent)).toBe(false);
    expect(compile('mybool').matches({ ...baseEvent, mybool: true })).toBe(true);
    expect(compile('NOT missing').matches(baseEvent)).toBe(false);
    expect(compile('missing OR TRUE').matches(baseEvent)).toBe(false);
  });

  it('works when detached from its object', () => {
    const { matches, evaluate } = compile("source LIKE '/shop/%'");
    expect([baseEvent, { ...baseEvent, source: '/x' }].filter(matches)).toHaveLength(1);
    expect(evaluate(baseEvent).value).toBe(true);
  });

  it('keeps the source and is frozen', () => {
    const expression = compile('  TRUE ');
    expect(expression.source).toBe('  TRUE ');
    expect(Object.isFrozen(expression)).toBe(true);
  });
});
