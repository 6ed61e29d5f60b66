// SPDX-License-Identifier: Apache-2.0
// A deliberately naive second implementation of CESQL, for differential tests only: a tree walker
// that throws on the first error and never optimises. The compiled closures must agree with it.
import type { CesqlNode } from '../ast.js';
import { resolveFunction } from '../functions.js';
import type { CesqlValue, EventAttributes } from '../types.js';

/** LIKE by dynamic programming over code points. */
export function referenceLike(pattern: string, text: string): boolean {
  type Token = { kind: 'char'; value: string } | { kind: 'one' } | { kind: 'any' };
  const tokens: Token[] = [];
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] ?? '';
    if (c === '\\' && (chars[i + 1] === '%' || chars[i + 1] === '_')) {
      tokens.push({ kind: 'char', value: chars[i + 1] ?? '' });
      i++;
    } else if (c === '%') tokens.push({ kind: 'any' });
    else if (c === '_') tokens.push({ kind: 'one' });
    else tokens.push({ kind: 'char', value: c });
  }
  const input = [...text];
  // row[j]: do the tokens so far match the first j characters?
  let row = [true, ...input.map(() => false)];
  for (const token of tokens) {
    const next = [token.kind === 'any' && (row[0] ?? false)];
    for (let j = 1; j <= input.length; j++) {
      const previous = row[j - 1] ?? false;
      if (token.kind === 'any') next.push((row[j] ?? false) || (next[j - 1] ?? false));
      else if (token.kind === 'one') next.push(previous);
      else next.push(previous && input[j - 1] === token.value);
    }
    row = next;
  }
  return row[input.length] ?? false;
}

class Failure {
  constructor(
    readonly kind: string,
    readonly value: CesqlValue,
    readonly node: CesqlNode,
  ) {}
}

const required = ['specversion', 'id', 'source', 'type'];

/** Value and error kinds of `root` for `event`, by the rules of CESQL v1 and its TCK. */
export function referenceEvaluate(root: CesqlNode, event: EventAttributes): [CesqlValue, ...string[]] {
  try {
    return [evaluate(root, event)];
  } catch (error) {
    if (!(error instanceof Failure)) throw error;
    return [error.node === root ? error.value : zeroOf(root), error.kind];
  }
}

function zeroOf(node: CesqlNode): CesqlValue {
  switch (node.kind) {
    case 'literal':
      return typeof node.value === 'string' ? '' : typeof node.value === 'number' ? 0 : false;
    case 'negate':
      return 0;
    case 'binary':
      return ['+', '-', '*', '/', '%'].includes(node.op) ? 0 : false;
    case 'call': {
      const returns = resolveFunction(node.name, node.args.length)?.returns;
      return returns === 'String' ? '' : returns === 'Integer' ? 0 : false;
    }
    default:
      return false;
  }
}

function toInt(value: CesqlValue, node: CesqlNode): number {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return value;
  const n = /^[+-]?[0-9]+$/.test(value) ? Number(value) : NaN;
  if (n >= -(2 ** 31) && n < 2 ** 31) return n | 0;
  throw new Failure('cast', zeroOf(node), node);
}

function toBool(value: CesqlValue, node: CesqlNode): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (value.toLowerCase() === 'true') return true;
  if (value.toLowerCase() === 'false') return false;
  throw new Failure('cast', zeroOf(node), node);
}

const toStr = (value: CesqlValue): string => String(value);

function castTo(value: CesqlValue, like: CesqlValue, node: CesqlNode): CesqlValue {
  if (typeof like === 'string') return toStr(value);
  if (typeof like === 'number') return toInt(value, node);
  return toBool(value, node);
}

function evaluate(node: CesqlNode, event: EventAttributes): CesqlValue {
  const sub = (child: CesqlNode): CesqlValue => evaluate(child, event);
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'attribute': {
      const value = Object.hasOwn(event, node.name) ? event[node.name] : undefined;
      if (value === undefined || value === null) throw new Failure('missingAttribute', false, node);
      return value;
    }
    case 'exists':
      return required.includes(node.name) || (Object.hasOwn(event, node.name) && event[node.name] != null);
    case 'not':
      return !toBool(sub(node.operand), node);
    case 'negate':
      return -toInt(sub(node.operand), node) | 0;
    case 'like':
      return referenceLike(node.pattern, toStr(sub(node.operand))) !== node.negated;
    case 'in': {
      const x = sub(node.operand);
      for (const item of node.set) if (castTo(sub(item), x, node) === x) return !node.negated;
      return node.negated;
    }
    case 'binary': {
      const { op } = node;
      if (op === 'AND') return toBool(sub(node.left), node) ? toBool(sub(node.right), node) : false;
      if (op === 'OR') return toBool(sub(node.left), node) ? true : toBool(sub(node.right), node);
      const a = sub(node.left);
      const b = sub(node.right);
      if (op === 'XOR') return toBool(a, node) !== toBool(b, node);
      if (op === '=') return castTo(a, b, node) === b;
      if (op === '!=' || op === '<>') return castTo(a, b, node) !== b;
      const x = toInt(a, node);
      const y = toInt(b, node);
      switch (op) {
        case '<':
          return x < y;
        case '<=':
          return x <= y;
        case '>':
          return x > y;
        case '>=':
          return x >= y;
        case '+':
          return (x + y) | 0;
        case '-':
          return (x - y) | 0;
        case '*':
          return Number(BigInt.asIntN(32, BigInt(x) * BigInt(y)));
        default:
          if (y === 0) throw new Failure('math', 0, node);
          return op === '/' ? Math.trunc(x / y) | 0 : (x % y) + 0;
      }
    }
    case 'call': {
      const definition = resolveFunction(node.name, node.args.length);
      if (definition === undefined) throw new Failure('missingFunction', false, node);
      const args = node.args.map(sub).map((value, i) => {
        const type = definition.parameters[i] ?? definition.variadic;
        if (type === 'String') return toStr(value);
        if (type === 'Integer') return toInt(value, node);
        if (type === 'Boolean') return toBool(value, node);
        return value;
      });
      let failed: string | undefined;
      const value = definition.implementation(args, (kind) => (failed ??= kind));
      if (failed !== undefined) throw new Failure(failed, value, node);
      return value;
    }
  }
}
