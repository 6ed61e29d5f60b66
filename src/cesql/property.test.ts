// SPDX-License-Identifier: Apache-2.0
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinaryOperators } from './ast.js';
import type { CesqlNode } from './ast.js';
import { CesqlParseError, compile, parse, print } from './index.js';
import type { EventAttributes } from './index.js';
import { Keywords, Symbols } from './lexer.js';
import { referenceEvaluate } from './testing/reference.js';

/** The tree without source offsets, which printing does not preserve. */
function strip(node: CesqlNode): unknown {
  return JSON.parse(JSON.stringify(node, (key, value: unknown) => (key === 'offset' ? undefined : value)));
}

function parsesOrFailsCleanly(source: string): void {
  let tree: CesqlNode;
  try {
    tree = parse(source);
  } catch (error) {
    expect(error).toBeInstanceOf(CesqlParseError);
    return;
  }
  // Whatever parses also compiles, prints back to the same tree and evaluates without throwing.
  expect(strip(parse(print(tree)))).toEqual(strip(tree));
  compile(source).evaluate({});
}

const attributeNames = ['id', 'source', 'type', 'subject', 'a', 'b', 'n', 'flag', 'x1', '2x', 'missing'];
const functionNames = [
  'LENGTH',
  'CONCAT',
  'CONCAT_WS',
  'LOWER',
  'UPPER',
  'TRIM',
  'LEFT',
  'RIGHT',
  'SUBSTRING',
  'ABS',
  'INT',
  'BOOL',
  'STRING',
  'IS_INT',
  'IS_BOOL',
  'NO_SUCH',
];

/** Strings that print: a backslash must not end the value or precede both kinds of quote. */
const textValue = fc
  .string({
    unit: fc.constantFrom('a', 'B', '1', ' ', "'", '"', '\\', '%', '_', 'é', '😀', 'true'),
    maxLength: 6,
  })
  .filter((value) => {
    try {
      print({ kind: 'literal', value, offset: 0 });
      return true;
    } catch {
      return false;
    }
  });

const scalar = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.integer({ min: -3, max: 12 }),
  fc.boolean(),
  textValue,
  fc.constantFrom('5', '-3', '0', 'TRUE', 'false', '', '2147483648', ' 1'),
);

const at = { offset: 0 };

const { node: arbitraryNode } = fc.letrec<{ node: CesqlNode }>((tie) => ({
  node: fc.oneof(
    { maxDepth: 5, depthSize: 'small', withCrossShrink: true },
    scalar.map((value): CesqlNode => ({ kind: 'literal', value, ...at })),
    fc.constantFrom(...attributeNames).map((name): CesqlNode => ({ kind: 'attribute', name, ...at })),
    fc.constantFrom(...attributeNames).map((name): CesqlNode => ({ kind: 'exists', name, ...at })),
    tie('node').map((operand): CesqlNode => ({ kind: 'not', operand, ...at })),
    tie('node').map((operand): CesqlNode => ({ kind: 'negate', operand, ...at })),
    fc
      .tuple(fc.constantFrom(...BinaryOperators), tie('node'), tie('node'))
      .map(([op, left, right]): CesqlNode => ({ kind: 'binary', op, left, right, ...at })),
    fc
      .tuple(fc.boolean(), tie('node'), textValue)
      .map(([negated, operand, pattern]): CesqlNode => ({ kind: 'like', negated, operand, pattern, ...at })),
    fc
      .tuple(fc.boolean(), tie('node'), fc.array(tie('node'), { minLength: 1, maxLength: 3 }))
      .map(([negated, operand, set]): CesqlNode => ({ kind: 'in', negated, operand, set, ...at })),
    fc
      .tuple(fc.constantFrom(...functionNames), fc.array(tie('node'), { maxLength: 3 }))
      .map(([name, args]): CesqlNode => ({ kind: 'call', name, args, ...at })),
  ),
}));

const arbitraryEvent: fc.Arbitrary<EventAttributes> = fc.dictionary(
  fc.constantFrom(...attributeNames),
  scalar,
  {
    maxKeys: 6,
  },
);

describe('property: parsing', () => {
  it('throws nothing but CesqlParseError on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 60 }), parsesOrFailsCleanly), { numRuns: 2000 });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), parsesOrFailsCleanly), {
      numRuns: 500,
    });
  });

  it('throws nothing but CesqlParseError on a soup of CESQL tokens', () => {
    const token = fc.oneof(
      fc.constantFrom(...Keywords, ...Keywords.map((k) => k.toLowerCase()), ...Symbols),
      fc.constantFrom('-', '+', '--', '(', ')', "'", '"', '\\', "'a'", '"b"', "'\\''", "''", '!', '_'),
      fc.constantFrom(...attributeNames, ...functionNames, 'a_b', '1abc'),
      fc.constantFrom('0', '-1', '+7', '2147483647', '-2147483648', '2147483648', '99999999999999999999'),
      fc.integer().map(String),
    );
    const soup = fc
      .tuple(fc.array(token, { maxLength: 14 }), fc.constantFrom('', ' ', '\n'))
      .map(([tokens, gap]) => tokens.join(gap));
    fc.assert(fc.property(soup, parsesOrFailsCleanly), { numRuns: 3000 });
  });
});

describe('property: printing', () => {
  it('print then parse gives the same tree', () => {
    fc.assert(
      fc.property(arbitraryNode, (tree) => {
        expect(strip(parse(print(tree)))).toEqual(strip(tree));
      }),
      { numRuns: 1500 },
    );
  });
});

describe('property: evaluation', () => {
  it('never throws, reports at most one error and matches only a clean TRUE', () => {
    fc.assert(
      fc.property(arbitraryNode, arbitraryEvent, (tree, event) => {
        const expression = compile(print(tree));
        const { value, errors } = expression.evaluate(event);
        expect(['boolean', 'number', 'string']).toContain(typeof value);
        if (typeof value === 'number') expect(value | 0).toBe(value);
        expect(errors.length).toBeLessThanOrEqual(1);
        expect(expression.matches(event)).toBe(value === true && errors.length === 0);
      }),
      { numRuns: 1500 },
    );
  });

  it('agrees with a naive reference interpreter', () => {
    fc.assert(
      fc.property(arbitraryNode, arbitraryEvent, (tree, event) => {
        const { value, errors } = compile(print(tree)).evaluate(event);
        expect([value, ...errors.map((e) => e.kind)]).toEqual(referenceEvaluate(tree, event));
      }),
      { numRuns: 3000 },
    );
  });
});
