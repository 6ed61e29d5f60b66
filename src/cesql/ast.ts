// SPDX-License-Identifier: Apache-2.0
import type { CesqlValue } from './types.js';

/** The operators spelled with symbols; the lexer shares this list. */
export const OperatorSymbols = ['=', '!=', '<>', '<', '<=', '>', '>=', '+', '-', '*', '/', '%'] as const;

/** The binary operators, by the token that spells them. `!=` and `<>` stay apart so printing is faithful. */
export const BinaryOperators = ['AND', 'OR', 'XOR', ...OperatorSymbols] as const;
export type BinaryOperator = (typeof BinaryOperators)[number];

/**
 * Binding strength of each binary level, higher binds tighter (CESQL v1 §3.6). LIKE and IN bind
 * tighter than every arithmetic operator; all logic operators share one level.
 */
export const Precedence = {
  logic: 1,
  comparison: 2,
  additive: 3,
  multiplicative: 4,
  in: 5,
  like: 6,
} as const;

export function binaryPrecedence(op: BinaryOperator): number {
  switch (op) {
    case 'AND':
    case 'OR':
    case 'XOR':
      return Precedence.logic;
    case '+':
    case '-':
      return Precedence.additive;
    case '*':
    case '/':
    case '%':
      return Precedence.multiplicative;
    default:
      return Precedence.comparison;
  }
}

/**
 * A node of the CESQL syntax tree. `offset` is where the node's operator, keyword, name or literal
 * starts in the source; it is ignored when comparing trees for meaning.
 *
 * @remarks Attribute names are lower-cased and function names upper-cased, since both are
 * case-insensitive. A negative integer literal (`-5`) is a literal, while `- 5` is a unary minus.
 */
export type CesqlNode =
  | { readonly kind: 'literal'; readonly value: CesqlValue; readonly offset: number }
  | { readonly kind: 'attribute'; readonly name: string; readonly offset: number }
  | { readonly kind: 'not'; readonly operand: CesqlNode; readonly offset: number }
  | { readonly kind: 'negate'; readonly operand: CesqlNode; readonly offset: number }
  | {
      readonly kind: 'binary';
      readonly op: BinaryOperator;
      readonly left: CesqlNode;
      readonly right: CesqlNode;
      readonly offset: number;
    }
  | {
      readonly kind: 'like';
      readonly negated: boolean;
      readonly operand: CesqlNode;
      /** The pattern after string-literal unescaping, before LIKE's own `\%` and `\_` escapes. */
      readonly pattern: string;
      readonly offset: number;
    }
  | { readonly kind: 'exists'; readonly name: string; readonly offset: number }
  | {
      readonly kind: 'in';
      readonly negated: boolean;
      readonly operand: CesqlNode;
      readonly set: readonly CesqlNode[];
      readonly offset: number;
    }
  | {
      readonly kind: 'call';
      readonly name: string;
      readonly args: readonly CesqlNode[];
      readonly offset: number;
    };

/** The direct children of a node, in evaluation order. */
export function childrenOf(node: CesqlNode): readonly CesqlNode[] {
  switch (node.kind) {
    case 'literal':
    case 'attribute':
    case 'exists':
      return [];
    case 'not':
    case 'negate':
    case 'like':
      return [node.operand];
    case 'binary':
      return [node.left, node.right];
    case 'in':
      return [node.operand, ...node.set];
    case 'call':
      return node.args;
  }
}
