// SPDX-License-Identifier: Apache-2.0
import type { BinaryOperator, CesqlNode } from './ast.js';
import { castErrorMessage, castToBoolean, castToInteger, toStringValue, zeroValues } from './cast.js';
import { positionAt } from './errors.js';
import { isKnownFunction, resolveFunction } from './functions.js';
import type { FailFunction, ParameterType } from './functions.js';
import { checkCost } from './cost.js';
import type { CostLimits } from './cost.js';
import { compileLike, LIKE_STEP_UNITS } from './like.js';
import type { LikeMeter } from './like.js';
import { parse } from './parser.js';
import type { CesqlError, CesqlErrorKind, CesqlValue, CompiledExpression, EventAttributes } from './types.js';

/**
 * Compiles a CESQL v1 expression once into a reusable evaluator.
 *
 * @throws {@link CesqlParseError} for syntax and static errors; nothing else.
 * @example
 * ```ts
 * const filter = compile("type = 'com.example.order.created' AND source LIKE '/shop/%'");
 * filter.matches({ specversion: '1.0', id: '1', type: 'com.example.order.created', source: '/shop/eu' }); // true
 * filter.evaluate({ specversion: '1.0', id: '1', type: 'x', source: '/' }); // { value: false, errors: [] }
 * ```
 * @remarks Evaluation runs closures built here, allocating nothing per node; `matches` allocates
 * nothing at all. Sub-expressions without attribute references are folded into constants unless
 * they raise an error, which then repeats on every evaluation as the spec requires.
 */
export function compile(expression: string, options: CompileOptions = {}): CompiledExpression {
  const tree = parse(expression);
  const nodes = checkCost(expression, tree, options.limits ?? UNBOUNDED);
  const budget = options.budget ?? Infinity;
  const state: State = { kind: null, message: '', offset: 0, spent: 0, budget, overBudget: false };
  const root = new ClosureCompiler(state).build(tree).evaluate;
  const source = expression;
  return Object.freeze({
    source,
    nodes,
    lastCost: () => state.spent,
    exceededBudget: () => state.overBudget,
    evaluate(event: EventAttributes) {
      state.kind = null;
      state.spent = 0;
      state.budget = budget;
      state.overBudget = false;
      const value = root(event);
      const kind = state.kind;
      if (kind === null) return { value, errors: noErrors };
      state.kind = null;
      const error: CesqlError = { kind, message: state.message, position: positionAt(source, state.offset) };
      return { value, errors: [error] };
    },
    matches(event: EventAttributes) {
      state.kind = null;
      state.spent = 0;
      state.budget = budget;
      state.overBudget = false;
      return root(event) === true && state.kind === null;
    },
    matchesWithin(event: EventAttributes, within: number) {
      state.kind = null;
      state.spent = 0;
      state.budget = Math.min(budget, within);
      state.overBudget = false;
      return root(event) === true && state.kind === null;
    },
  });
}

export interface CompileOptions {
  /** Static cost bounds checked before compiling; {@link CesqlCostError} when one is crossed. */
  readonly limits?: CostLimits;
  /**
   * String work one evaluation may do, in characters read or built by LIKE, function calls and
   * string comparisons. Over it the evaluation stops with a `generic` error (so a filter does not
   * match) and `exceededBudget()` is true. Unbounded when absent.
   */
  readonly budget?: number;
}

const noErrors: readonly CesqlError[] = Object.freeze([]);
const UNBOUNDED: CostLimits = { maxNodes: Infinity, maxLikePatterns: Infinity, maxCallDepth: Infinity };
const noAttributes: EventAttributes = Object.freeze({});

/** The attributes every valid event has; `EXISTS` of them is always true (CESQL v1 §3.4.4). */
const requiredAttributes: ReadonlySet<string> = new Set(['specversion', 'id', 'source', 'type']);

/**
 * The first error of one evaluation, kept as plain fields so that raising one allocates nothing
 * beyond its message. A compiled expression owns one; evaluation is synchronous and calls no user
 * code, so it is never re-entered.
 */
interface State {
  kind: CesqlErrorKind | null;
  message: string;
  offset: number;
  /** String work done by this evaluation so far. */
  spent: number;
  /** What this evaluation may spend: the compiled budget, or less when `matchesWithin` says so. */
  budget: number;
  overBudget: boolean;
}

type Evaluator = (event: EventAttributes) => CesqlValue;

interface Compiled {
  readonly evaluate: Evaluator;
  /** Set when the node evaluates to this value, without error, for every event. */
  readonly constant?: { readonly value: CesqlValue };
}

// Error propagation (CESQL v1 §3.3 and the TCK): an operator or function whose operand raised an
// error returns its own zero value; only the node that raised it returns a value of its choosing.
// Since every ancestor then returns a zero value, the first error decides the outcome, so `raise`
// keeps only the first, and operators check `state.kind` after evaluating their operands.

function raise(state: State, kind: CesqlErrorKind, message: string, offset: number): void {
  if (state.kind !== null) return;
  state.kind = kind;
  state.message = message;
  state.offset = offset;
}

/**
 * Accounts for `units` of string work about to be done; false (with an error raised) when it would
 * take the evaluation over its budget, in which case the caller skips the work.
 */
function charge(state: State, units: number, offset: number): boolean {
  state.spent += units;
  if (state.spent <= state.budget) return true;
  if (!state.overBudget) {
    state.overBudget = true;
    raise(
      state,
      'generic',
      `evaluation needs more than its budget of ${state.budget} characters of string work`,
      offset,
    );
  }
  return false;
}

function toInteger(state: State, value: CesqlValue, offset: number): number {
  const cast = castToInteger(value);
  if (!Number.isNaN(cast)) return cast;
  raise(state, 'cast', castErrorMessage(value, 'Integer'), offset);
  return 0;
}

function toBoolean(state: State, value: CesqlValue, offset: number): boolean {
  const cast = castToBoolean(value);
  if (cast !== undefined) return cast;
  raise(state, 'cast', castErrorMessage(value, 'Boolean'), offset);
  return false;
}

/**
 * `left = right` for the ambiguous `=`: the overload is chosen by the type of the right operand and
 * the left one is cast to it (CESQL v1 §3.7). A failed cast is raised; the caller checks `state`.
 */
function equals(state: State, left: CesqlValue, right: CesqlValue, offset: number): boolean {
  if (typeof right === 'string') return toStringValue(left) === right;
  if (typeof right === 'number') return toInteger(state, left, offset) === right;
  return toBoolean(state, left, offset) === right;
}

/** The value of an attribute that is not a string (strings take the fast path at the call site). */
function attributeValue(
  state: State,
  value: unknown,
  name: string,
  missing: string,
  offset: number,
): CesqlValue {
  switch (typeof value) {
    case 'boolean':
      return value;
    case 'number':
      // Integers are 32-bit; anything else a caller passes in is treated as its text.
      return (value | 0) === value ? value | 0 : String(value);
    case 'undefined':
      raise(state, 'missingAttribute', missing, offset);
      return false;
    default:
      if (value === null) {
        raise(state, 'missingAttribute', missing, offset);
      } else {
        raise(
          state,
          'generic',
          `attribute '${name}' has a value of unsupported type ${typeof value}`,
          offset,
        );
      }
      return false;
  }
}

/** Names that plain objects inherit; reading them needs an own-property check. */
function isInherited(name: string): boolean {
  return name in Object.prototype;
}

class ClosureCompiler {
  constructor(private readonly state: State) {}

  build(node: CesqlNode): Compiled {
    const state = this.state;
    const offset = node.offset;
    switch (node.kind) {
      case 'literal':
        return constant(node.value);

      case 'attribute': {
        const name = node.name;
        const missing = `attribute '${name}' is absent`;
        const evaluate: Evaluator = isInherited(name)
          ? (event) => {
              const value: unknown = Object.hasOwn(event, name) ? event[name] : undefined;
              return typeof value === 'string' ? value : attributeValue(state, value, name, missing, offset);
            }
          : (event) => {
              const value: unknown = event[name];
              return typeof value === 'string' ? value : attributeValue(state, value, name, missing, offset);
            };
        return { evaluate };
      }

      case 'exists': {
        const name = node.name;
        if (requiredAttributes.has(name)) return constant(true);
        const inherited = isInherited(name);
        return {
          evaluate: (event) => {
            const value: unknown = inherited && !Object.hasOwn(event, name) ? undefined : event[name];
            return value !== undefined && value !== null;
          },
        };
      }

      case 'not': {
        const operand = this.build(node.operand);
        const f = operand.evaluate;
        return this.fold([operand], (event) => {
          const value = f(event);
          if (state.kind !== null) return false;
          const b = toBoolean(state, value, offset);
          return state.kind === null && !b;
        });
      }

      case 'negate': {
        const operand = this.build(node.operand);
        const f = operand.evaluate;
        return this.fold([operand], (event) => {
          const value = f(event);
          if (state.kind !== null) return 0;
          const n = toInteger(state, value, offset);
          return state.kind === null ? -n | 0 : 0;
        });
      }

      case 'binary':
        return this.binary(node.op, this.build(node.left), this.build(node.right), offset);

      case 'like': {
        const operand = this.build(node.operand);
        const f = operand.evaluate;
        const like = compileLike(node.pattern);
        const negated = node.negated;
        // Charged the steps the matcher takes (every text unit it reads counts: a segment with `_` is
        // tried at every start, text × segment steps), each LIKE_STEP_UNITS, up to what the budget has
        // left. Not the text's length: an anchored pattern reads only its own length of a long text.
        const meter: LikeMeter = { limit: 0, steps: 0 };
        return this.fold([operand], (event) => {
          const value = f(event);
          if (state.kind !== null) return false;
          const text = typeof value === 'string' ? value : String(value);
          meter.limit = Math.floor((state.budget - state.spent) / LIKE_STEP_UNITS);
          meter.steps = 0;
          const matched = like(text, meter);
          if (meter.steps > 0 && !charge(state, meter.steps * LIKE_STEP_UNITS, offset)) return false;
          return matched !== negated;
        });
      }

      case 'in':
        return this.in(
          node.negated,
          this.build(node.operand),
          node.set.map((item) => this.build(item)),
          offset,
        );

      case 'call':
        return this.call(
          node.name,
          node.args.map((arg) => this.build(arg)),
          offset,
        );
    }
  }

  private binary(op: BinaryOperator, left: Compiled, right: Compiled, offset: number): Compiled {
    const state = this.state;
    const l = left.evaluate;
    const r = right.evaluate;
    const children = [left, right];
    switch (op) {
      case 'AND': {
        if (left.constant !== undefined && castToBoolean(left.constant.value) === false)
          return constant(false);
        return this.fold(children, (event) => {
          const a = l(event);
          if (state.kind !== null || !toBoolean(state, a, offset) || state.kind !== null) return false;
          const b = r(event);
          if (state.kind !== null) return false;
          const result = toBoolean(state, b, offset);
          return state.kind === null && result;
        });
      }
      case 'OR': {
        if (left.constant !== undefined && castToBoolean(left.constant.value) === true) return constant(true);
        return this.fold(children, (event) => {
          const a = l(event);
          if (state.kind !== null) return false;
          const first = toBoolean(state, a, offset);
          if (state.kind !== null) return false;
          if (first) return true;
          const b = r(event);
          if (state.kind !== null) return false;
          const second = toBoolean(state, b, offset);
          return state.kind === null && second;
        });
      }
      case 'XOR':
        return this.fold(children, (event) => {
          const a = l(event);
          const b = r(event);
          if (state.kind !== null) return false;
          const x = toBoolean(state, a, offset);
          const y = toBoolean(state, b, offset);
          return state.kind === null && x !== y;
        });
      case '=':
      case '!=':
      case '<>':
        return this.equality(op === '=', left, right, offset);
      case '<':
      case '<=':
      case '>':
      case '>=': {
        const compare = comparisons[op];
        return this.fold(children, (event) => {
          const a = l(event);
          const b = r(event);
          if (state.kind !== null) return false;
          const x = toInteger(state, a, offset);
          const y = toInteger(state, b, offset);
          return state.kind === null && compare(x, y);
        });
      }
      default: {
        const arithmetic = this.arithmetic(op, offset);
        return this.fold(children, (event) => {
          const a = l(event);
          const b = r(event);
          if (state.kind !== null) return 0;
          const x = toInteger(state, a, offset);
          const y = toInteger(state, b, offset);
          return state.kind === null ? arithmetic(x, y) : 0;
        });
      }
    }
  }

  /** Integer arithmetic wraps around at 32 bits, as the reference implementation does. */
  private arithmetic(op: '+' | '-' | '*' | '/' | '%', offset: number): (x: number, y: number) => number {
    const state = this.state;
    switch (op) {
      case '+':
        return (x, y) => (x + y) | 0;
      case '-':
        return (x, y) => (x - y) | 0;
      case '*':
        return Math.imul;
      case '/':
        return (x, y) => {
          if (y !== 0) return (x / y) | 0;
          raise(state, 'math', 'division by zero', offset);
          return 0;
        };
      default:
        return (x, y) => {
          if (y !== 0) return (x % y) | 0;
          raise(state, 'math', 'modulo by zero', offset);
          return 0;
        };
    }
  }

  private equality(positive: boolean, left: Compiled, right: Compiled, offset: number): Compiled {
    const state = this.state;
    const l = left.evaluate;
    const r = right.evaluate;
    const children = [left, right];
    const literal = right.constant?.value;
    // Comparing with a literal is the common case in filters; it skips a call and a type dispatch.
    if (typeof literal === 'string') {
      return this.fold(children, (event) => {
        const a = l(event);
        if (state.kind !== null) return false;
        if (typeof a === 'string' && !charge(state, Math.min(a.length, literal.length), offset)) return false;
        return (typeof a === 'string' ? a === literal : toStringValue(a) === literal) === positive;
      });
    }
    if (typeof literal === 'number') {
      return this.fold(children, (event) => {
        const a = l(event);
        if (state.kind !== null) return false;
        const x = toInteger(state, a, offset);
        return state.kind === null && (x === literal) === positive;
      });
    }
    return this.fold(children, (event) => {
      const a = l(event);
      const b = r(event);
      if (state.kind !== null) return false;
      if (typeof a === 'string' && !charge(state, a.length, offset)) return false;
      const equal = equals(state, a, b, offset);
      return state.kind === null && equal === positive;
    });
  }

  /**
   * `x IN (…)` compares like `x = item` with the item cast to x's type, item by item, and stops at
   * the first match (CESQL v1 §3.4.5): an item after a match is not evaluated.
   */
  private in(negated: boolean, operand: Compiled, set: readonly Compiled[], offset: number): Compiled {
    const state = this.state;
    const f = operand.evaluate;
    const literals = set.every((item) => item.constant !== undefined)
      ? set.map((item) => item.constant?.value ?? false)
      : undefined;
    if (literals !== undefined) {
      // With literal items the outcome per type of x is known up front: the set of values that
      // match, and the cast error that the first uncastable item raises when nothing before it matched.
      const strings = new Set(literals.map(toStringValue));
      const integers = castPrefix(literals, 'Integer');
      const booleans = castPrefix(literals, 'Boolean');
      return this.fold([operand], (event) => {
        const x = f(event);
        if (state.kind !== null) return false;
        let found: boolean;
        let failure: string | undefined;
        if (typeof x === 'string') {
          found = strings.has(x);
        } else if (typeof x === 'number') {
          found = integers.values.has(x);
          failure = integers.failure;
        } else {
          found = booleans.values.has(x);
          failure = booleans.failure;
        }
        if (!found && failure !== undefined) {
          raise(state, 'cast', failure, offset);
          return false;
        }
        return found !== negated;
      });
    }
    const items = set.map((item) => item.evaluate);
    return this.fold([operand, ...set], (event) => {
      const x = f(event);
      if (state.kind !== null) return false;
      for (let i = 0; i < items.length; i++) {
        const y = (items[i] as Evaluator)(event);
        if (state.kind !== null) return false;
        if (typeof x === 'string' && !charge(state, x.length, offset)) return false;
        const equal = equals(state, y, x, offset);
        if (state.kind !== null) return false;
        if (equal) return !negated;
      }
      return negated;
    });
  }

  private call(name: string, args: readonly Compiled[], offset: number): Compiled {
    const state = this.state;
    const definition = resolveFunction(name, args.length);
    if (definition === undefined) {
      // CESQL v1 §3.5: an undispatchable call is a MissingFunctionError at evaluation, value false.
      const message = isKnownFunction(name)
        ? `function ${name} does not take ${args.length} argument${args.length === 1 ? '' : 's'}`
        : `unknown function ${name}`;
      return {
        evaluate: () => {
          raise(state, 'missingFunction', message, offset);
          return false;
        },
      };
    }
    const evaluators = args.map((arg) => arg.evaluate);
    const types = args.map((_, i): ParameterType => definition.parameters[i] ?? definition.variadic ?? 'Any');
    const buffer: CesqlValue[] = args.map(() => false);
    const count = args.length;
    const zero = zeroValues[definition.returns];
    const implementation = definition.implementation;
    const fail: FailFunction = (kind, message) => raise(state, kind, message, offset);
    return this.fold(args, (event) => {
      // The buffer is reused: a call site is never re-entered while its arguments are evaluated.
      for (let i = 0; i < count; i++) buffer[i] = (evaluators[i] as Evaluator)(event);
      if (state.kind !== null) return zero;
      for (let i = 0; i < count; i++) {
        const value = buffer[i] as CesqlValue;
        switch (types[i]) {
          case 'String':
            if (typeof value !== 'string') buffer[i] = String(value);
            break;
          case 'Integer':
            buffer[i] = toInteger(state, value, offset);
            break;
          case 'Boolean':
            buffer[i] = toBoolean(state, value, offset);
            break;
          default:
            break;
        }
      }
      if (state.kind !== null) return zero;
      let work = 0;
      for (let i = 0; i < count; i++) {
        const value = buffer[i];
        if (typeof value === 'string') work += value.length;
      }
      if (work > 0 && !charge(state, work, offset)) return zero;
      return implementation(buffer, fail);
    });
  }

  /** Folds a node whose operands are all constant into a constant, unless it raises an error. */
  private fold(operands: readonly Compiled[], evaluate: Evaluator): Compiled {
    if (!operands.every((operand) => operand.constant !== undefined)) return { evaluate };
    const state = this.state;
    state.kind = null;
    state.spent = 0;
    state.overBudget = false;
    const value = evaluate(noAttributes);
    const clean = state.kind === null;
    state.kind = null;
    state.spent = 0;
    state.overBudget = false;
    return clean ? constant(value) : { evaluate };
  }
}

function constant(value: CesqlValue): Compiled {
  return { evaluate: () => value, constant: { value } };
}

const comparisons = {
  '<': (x: number, y: number) => x < y,
  '<=': (x: number, y: number) => x <= y,
  '>': (x: number, y: number) => x > y,
  '>=': (x: number, y: number) => x >= y,
} as const;

/** Casts items in order until one fails; the values before it, and the error the failing one raises. */
function castPrefix(
  items: readonly CesqlValue[],
  target: 'Integer' | 'Boolean',
): { values: ReadonlySet<CesqlValue>; failure: string | undefined } {
  const values = new Set<CesqlValue>();
  for (const item of items) {
    const cast = target === 'Integer' ? castToInteger(item) : castToBoolean(item);
    if (cast === undefined || Number.isNaN(cast)) return { values, failure: castErrorMessage(item, target) };
    values.add(cast);
  }
  return { values, failure: undefined };
}
