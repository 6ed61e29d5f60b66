// SPDX-License-Identifier: Apache-2.0
import { binaryPrecedence, Precedence } from './ast.js';
import type { CesqlNode } from './ast.js';
import { Keywords } from './lexer.js';

const unaryLevel = 7;
const primaryLevel = 8;
const keywords: ReadonlySet<string> = new Set(Keywords);

/**
 * Writes a syntax tree back as CESQL text, with only the parentheses that precedence needs.
 * `parse(print(tree))` gives the same tree again (source offsets aside).
 *
 * @throws RangeError when a hand-built tree holds something no source text can express: a name
 * that is a keyword or has invalid characters, an integer outside 32 bits, or a string holding a
 * backslash right before both quote characters (or at its very end).
 * @example
 * ```ts
 * print(parse("not(A)  and b<>'x'")); // "NOT a AND b <> 'x'"
 * ```
 */
export function print(node: CesqlNode): string {
  switch (node.kind) {
    case 'literal':
      return printLiteral(node.value);
    case 'attribute':
      return attributeName(node.name);
    case 'exists':
      return `EXISTS ${attributeName(node.name)}`;
    case 'not':
      return `NOT ${wrap(node.operand, unaryLevel)}`;
    case 'negate':
      // The space keeps `- 5` a negation rather than the literal `-5`.
      return `- ${wrap(node.operand, unaryLevel)}`;
    case 'binary': {
      const level = binaryPrecedence(node.op);
      // Left-associative: a right operand at the same level needs parentheses, a left one does not.
      return `${wrap(node.left, level)} ${node.op} ${wrap(node.right, level + 1)}`;
    }
    case 'like':
      return `${wrap(node.operand, Precedence.like)} ${node.negated ? 'NOT LIKE' : 'LIKE'} ${quote(node.pattern)}`;
    case 'in':
      return `${wrap(node.operand, Precedence.in)} ${node.negated ? 'NOT IN' : 'IN'} (${node.set.map(print).join(', ')})`;
    case 'call':
      if (!/^[A-Z][A-Z_]*$/.test(node.name) || keywords.has(node.name)) {
        throw new RangeError(`'${node.name}' cannot be written as a CESQL function name`);
      }
      return `${node.name}(${node.args.map(print).join(', ')})`;
  }
}

function levelOf(node: CesqlNode): number {
  switch (node.kind) {
    case 'binary':
      return binaryPrecedence(node.op);
    case 'like':
      return Precedence.like;
    case 'in':
      return Precedence.in;
    case 'not':
    case 'negate':
      return unaryLevel;
    default:
      return primaryLevel;
  }
}

function wrap(node: CesqlNode, minimum: number): string {
  const text = print(node);
  return levelOf(node) < minimum ? `(${text})` : text;
}

function printLiteral(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'number') {
    if ((value | 0) !== value) throw new RangeError(`${value} is not a 32-bit integer`);
    return String(value);
  }
  return quote(value);
}

function attributeName(name: string): string {
  if (!/^[a-z0-9]+$/.test(name) || /^[0-9]+$/.test(name) || keywords.has(name.toUpperCase())) {
    throw new RangeError(`'${name}' cannot be written as a CESQL attribute name`);
  }
  return name;
}

function quote(value: string): string {
  const text = encode(value, "'") ?? encode(value, '"');
  if (text === undefined)
    throw new RangeError(`${JSON.stringify(value)} cannot be written as a CESQL string literal`);
  return text;
}

/**
 * The literal for `value` in `q` quotes, or undefined. The lexer pairs a backslash with the next
 * character and drops it only before the enclosing quote, so a backslash followed by anything else
 * is written as is, and an enclosing quote is doubled.
 */
function encode(value: string, q: string): string | undefined {
  let out = q;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\') {
      const next = value[i + 1];
      if (next === undefined || next === q) return undefined;
      out += c + next;
      i++;
    } else {
      out += c === q ? q + q : c;
    }
  }
  return out + q;
}
