// SPDX-License-Identifier: Apache-2.0
import { castErrorMessage, castToBoolean, castToInteger, toStringValue } from './cast.js';
import type { CesqlType } from './cast.js';
import { codePointLength, offsetOfCodePoint, sliceCodePoints, trimWhiteSpace } from './code-points.js';
import type { CesqlErrorKind, CesqlValue } from './types.js';

/** Records an error raised by a function; the function still returns a value (CESQL v1 §3.5.3). */
export type FailFunction = (kind: CesqlErrorKind, message: string) => void;

/** A parameter type; `Any` receives the argument uncast (the casting functions need that). */
export type ParameterType = CesqlType | 'Any';

export interface FunctionDefinition {
  readonly name: string;
  /** The fixed parameters. */
  readonly parameters: readonly ParameterType[];
  /** When set, any number of further arguments of this type may follow. */
  readonly variadic?: ParameterType;
  readonly returns: CesqlType;
  /** Receives the arguments already cast to their parameter types. */
  readonly implementation: (args: readonly CesqlValue[], fail: FailFunction) => CesqlValue;
}

/**
 * Results longer than this (in UTF-16 units) are a FunctionEvaluationError. Nested CONCATs double
 * a string per level, and the engine must return a value rather than exceed the runtime's limit.
 */
export const MAX_STRING_RESULT = 1 << 24;

const str = (args: readonly CesqlValue[], i: number): string => args[i] as string;
const int = (args: readonly CesqlValue[], i: number): number => args[i] as number;

function concatenate(
  args: readonly CesqlValue[],
  from: number,
  separator: string,
  fail: FailFunction,
): string {
  let length = 0;
  for (let i = from; i < args.length; i++) length += str(args, i).length + (i > from ? separator.length : 0);
  if (length > MAX_STRING_RESULT) {
    fail('functionEvaluation', `result would be ${length} characters long, more than ${MAX_STRING_RESULT}`);
    return '';
  }
  let result = '';
  for (let i = from; i < args.length; i++) result += (i > from ? separator : '') + str(args, i);
  return result;
}

/** LEFT and RIGHT: a negative length gives the text back unchanged, with an error (CESQL v1 §3.5.1). */
function edgeFunction(name: string, take: (text: string, count: number) => string): FunctionDefinition {
  return {
    name,
    parameters: ['String', 'Integer'],
    returns: 'String',
    implementation: (args, fail) => {
      const text = str(args, 0);
      const count = int(args, 1);
      if (count >= 0) return take(text, count);
      fail('functionEvaluation', `${name} needs a length of 0 or more, got ${count}`);
      return text;
    },
  };
}

/**
 * SUBSTRING (CESQL v1 §3.5.1): a 1-based `position`, negative counting from the end; `0` gives `''`.
 * A position beyond the string, or a negative `count`, gives `''` with an error; a `count` past the
 * end gives the rest of the string.
 */
function substring(text: string, position: number, count: number, fail: FailFunction): string {
  if (position === 0) return '';
  const length = codePointLength(text);
  if (position > length || position < -length) {
    fail(
      'functionEvaluation',
      `position ${position} is outside the string of length ${length} (allowed: -${length} to ${length})`,
    );
    return '';
  }
  if (count < 0) {
    fail('functionEvaluation', `SUBSTRING needs a length of 0 or more, got ${count}`);
    return '';
  }
  const start = position > 0 ? position - 1 : length + position;
  return sliceCodePoints(text, start, start + count);
}

/** The built-in functions of CESQL v1 §3.5, plus the casting functions the TCK requires. */
export const builtinFunctions: readonly FunctionDefinition[] = [
  {
    name: 'LENGTH',
    parameters: ['String'],
    returns: 'Integer',
    implementation: (args) => codePointLength(str(args, 0)),
  },
  {
    name: 'CONCAT',
    parameters: [],
    variadic: 'String',
    returns: 'String',
    implementation: (args, fail) => concatenate(args, 0, '', fail),
  },
  {
    name: 'CONCAT_WS',
    parameters: ['String'],
    variadic: 'String',
    returns: 'String',
    implementation: (args, fail) => concatenate(args, 1, str(args, 0), fail),
  },
  {
    name: 'LOWER',
    parameters: ['String'],
    returns: 'String',
    implementation: (args) => str(args, 0).toLowerCase(),
  },
  {
    name: 'UPPER',
    parameters: ['String'],
    returns: 'String',
    implementation: (args) => str(args, 0).toUpperCase(),
  },
  {
    name: 'TRIM',
    parameters: ['String'],
    returns: 'String',
    implementation: (args) => trimWhiteSpace(str(args, 0)),
  },
  edgeFunction('LEFT', (text, count) => text.slice(0, offsetOfCodePoint(text, count))),
  edgeFunction('RIGHT', (text, count) => {
    const length = codePointLength(text);
    return count >= length ? text : text.slice(offsetOfCodePoint(text, length - count));
  }),
  {
    name: 'SUBSTRING',
    parameters: ['String', 'Integer'],
    returns: 'String',
    implementation: (args, fail) => substring(str(args, 0), int(args, 1), Infinity, fail),
  },
  {
    name: 'SUBSTRING',
    parameters: ['String', 'Integer', 'Integer'],
    returns: 'String',
    implementation: (args, fail) => substring(str(args, 0), int(args, 1), int(args, 2), fail),
  },
  {
    name: 'ABS',
    parameters: ['Integer'],
    returns: 'Integer',
    implementation: (args, fail) => {
      const value = int(args, 0);
      if (value === -2147483648) {
        fail('math', 'ABS(-2147483648) overflows a 32-bit integer');
        return 2147483647;
      }
      return Math.abs(value);
    },
  },
  {
    name: 'INT',
    parameters: ['Any'],
    returns: 'Integer',
    implementation: (args, fail) => {
      const value = args[0] ?? 0;
      const cast = castToInteger(value);
      if (!Number.isNaN(cast)) return cast;
      fail('cast', castErrorMessage(value, 'Integer'));
      return 0;
    },
  },
  {
    name: 'BOOL',
    parameters: ['Any'],
    returns: 'Boolean',
    implementation: (args, fail) => {
      const value = args[0] ?? false;
      const cast = castToBoolean(value);
      if (cast !== undefined) return cast;
      fail('cast', castErrorMessage(value, 'Boolean'));
      return false;
    },
  },
  {
    name: 'STRING',
    parameters: ['Any'],
    returns: 'String',
    implementation: (args) => toStringValue(args[0] ?? ''),
  },
  {
    name: 'IS_INT',
    parameters: ['Any'],
    returns: 'Boolean',
    implementation: (args) => !Number.isNaN(castToInteger(args[0] ?? 0)),
  },
  {
    name: 'IS_BOOL',
    parameters: ['Any'],
    returns: 'Boolean',
    implementation: (args) => castToBoolean(args[0] ?? false) !== undefined,
  },
];

const byName = new Map<string, FunctionDefinition[]>();
for (const definition of builtinFunctions) {
  const overloads = byName.get(definition.name) ?? [];
  overloads.push(definition);
  byName.set(definition.name, overloads);
}

/**
 * The overload of `name` (upper-case) that takes `arity` arguments: a fixed-arity one first, else the
 * variadic one if it has at most that many fixed parameters (CESQL v1 §3.5 dispatch by arity).
 */
export function resolveFunction(name: string, arity: number): FunctionDefinition | undefined {
  const overloads = byName.get(name);
  if (overloads === undefined) return undefined;
  return (
    overloads.find((f) => f.variadic === undefined && f.parameters.length === arity) ??
    overloads.find((f) => f.variadic !== undefined && f.parameters.length <= arity)
  );
}

export function isKnownFunction(name: string): boolean {
  return byName.has(name);
}
