// SPDX-License-Identifier: Apache-2.0
import { binaryPrecedence, childrenOf, Precedence } from './ast.js';
import type { BinaryOperator, CesqlNode } from './ast.js';
import { CesqlParseError, positionAt } from './errors.js';
import { tokenize } from './lexer.js';
import type { Token } from './lexer.js';

/**
 * How deeply an expression may nest: parentheses, unary operators, function calls, IN sets and
 * operands of binary operators each count one level. Deeper input is a parse error, which keeps
 * parsing, compiling and evaluating far away from the engine's stack limit.
 *
 * @remarks A left-to-right chain such as `a OR b OR c …` nests one level per operator, so a chain
 * of more than this many operators has to be split with parentheses (or written with `IN`).
 */
export const MAX_NESTING_DEPTH = 256;

const identifierPattern = /^[A-Za-z0-9]+$/;
const functionNamePattern = /^[A-Za-z][A-Za-z_]*$/;

/**
 * Parses an expression into its syntax tree.
 *
 * @throws {@link CesqlParseError} for any syntax or static error; never anything else.
 * @example
 * ```ts
 * parse("source LIKE '/shop/%'"); // { kind: 'like', operand: { kind: 'attribute', name: 'source', … }, … }
 * ```
 */
export function parse(source: string): CesqlNode {
  const parser = new Parser(source, tokenize(source));
  const root = parser.parseRoot();
  checkHeight(root, source);
  return root;
}

class Parser {
  private index = 0;

  constructor(
    private readonly source: string,
    private readonly tokens: readonly Token[],
  ) {}

  parseRoot(): CesqlNode {
    if (this.peek().type === 'eof') this.fail('empty expression', this.peek().offset);
    const node = this.parseBinary(1, 0);
    const rest = this.peek();
    if (rest.type !== 'eof') this.fail(`unexpected ${describe(rest)}`, rest.offset);
    return node;
  }

  private parseBinary(depth: number, minPrecedence: number): CesqlNode {
    let left = this.parseUnary(depth);
    for (;;) {
      const token = this.peek();
      let negated = false;
      let postfix: Token = token;
      if (token.type === 'keyword' && token.value === 'NOT') {
        const after = this.peekAt(1);
        if (after.type !== 'keyword' || (after.value !== 'LIKE' && after.value !== 'IN')) {
          return this.fail(`expected LIKE or IN after NOT, found ${describe(after)}`, after.offset);
        }
        negated = true;
        postfix = after;
      }
      if (postfix.type === 'keyword' && postfix.value === 'LIKE') {
        if (Precedence.like < minPrecedence) return left;
        this.index += negated ? 2 : 1;
        left = this.parseLikePattern(left, negated, token.offset);
        continue;
      }
      if (postfix.type === 'keyword' && postfix.value === 'IN') {
        if (Precedence.in < minPrecedence) return left;
        this.index += negated ? 2 : 1;
        left = { kind: 'in', negated, operand: left, set: this.parseSet(depth), offset: token.offset };
        continue;
      }
      const op = binaryOperatorOf(token);
      if (op === undefined) return left;
      const precedence = binaryPrecedence(op);
      if (precedence < minPrecedence) return left;
      this.index++;
      // Every binary level is left-associative, logic included: CESQL v1 §3.6 evaluates operators of
      // equal precedence left to right (the ANTLR grammar's right-associative logic level differs; see README).
      const right = this.parseBinary(depth + 1, precedence + 1);
      left = { kind: 'binary', op, left, right, offset: token.offset };
    }
  }

  private parseLikePattern(operand: CesqlNode, negated: boolean, offset: number): CesqlNode {
    const pattern = this.next();
    if (pattern.type !== 'string') {
      // CESQL v1 §3.4.3: the pattern must be a string literal, not anything castable to one.
      return this.fail(`LIKE needs a string literal pattern, found ${describe(pattern)}`, pattern.offset);
    }
    return { kind: 'like', negated, operand, pattern: pattern.value, offset };
  }

  private parseSet(depth: number): CesqlNode[] {
    const open = this.next();
    if (open.type !== 'symbol' || open.value !== '(') {
      return this.fail(`expected '(' after IN, found ${describe(open)}`, open.offset);
    }
    const close = this.peek();
    if (close.type === 'symbol' && close.value === ')') {
      return this.fail('an IN set needs at least one value', close.offset);
    }
    return this.parseList(depth + 1, 'IN set');
  }

  private parseUnary(depth: number): CesqlNode {
    const token = this.peek();
    if (depth > MAX_NESTING_DEPTH) {
      return this.fail(`expression nests deeper than ${MAX_NESTING_DEPTH} levels`, token.offset);
    }
    if (token.type === 'keyword' && token.value === 'NOT') {
      this.index++;
      return { kind: 'not', operand: this.parseUnary(depth + 1), offset: token.offset };
    }
    if (token.type === 'symbol' && token.value === '-') {
      this.index++;
      return { kind: 'negate', operand: this.parseUnary(depth + 1), offset: token.offset };
    }
    return this.parsePrimary(depth);
  }

  private parsePrimary(depth: number): CesqlNode {
    const token = this.next();
    switch (token.type) {
      case 'int':
      case 'string':
        return { kind: 'literal', value: token.value, offset: token.offset };
      case 'keyword':
        if (token.value === 'TRUE' || token.value === 'FALSE') {
          return { kind: 'literal', value: token.value === 'TRUE', offset: token.offset };
        }
        if (token.value === 'EXISTS') {
          const name = this.next();
          if (name.type !== 'name' || !identifierPattern.test(name.value)) {
            return this.fail(`EXISTS needs an attribute name, found ${describe(name)}`, name.offset);
          }
          return { kind: 'exists', name: name.value.toLowerCase(), offset: token.offset };
        }
        break;
      case 'symbol':
        if (token.value === '(') {
          const inner = this.parseBinary(depth + 1, 0);
          this.expectClose('(', token.offset);
          return inner;
        }
        break;
      case 'name': {
        const after = this.peek();
        if (after.type === 'symbol' && after.value === '(') {
          if (!functionNamePattern.test(token.value)) {
            return this.fail(
              `invalid function name '${token.value}': function names are letters and underscores`,
              token.offset,
            );
          }
          this.index++;
          const close = this.peek();
          let args: CesqlNode[] = [];
          if (close.type === 'symbol' && close.value === ')') {
            this.index++;
          } else {
            args = this.parseList(depth + 1, 'argument list');
          }
          return { kind: 'call', name: token.value.toUpperCase(), args, offset: token.offset };
        }
        if (!identifierPattern.test(token.value)) {
          return this.fail(
            `invalid attribute name '${token.value}': attribute names are letters and digits`,
            token.offset,
          );
        }
        return { kind: 'attribute', name: token.value.toLowerCase(), offset: token.offset };
      }
      default:
        break;
    }
    return this.fail(`unexpected ${describe(token)}`, token.offset);
  }

  /** Parses `expr (, expr)* )` after an opening parenthesis that has been consumed. */
  private parseList(depth: number, what: string): CesqlNode[] {
    const items: CesqlNode[] = [];
    for (;;) {
      items.push(this.parseBinary(depth, 0));
      const token = this.next();
      if (token.type === 'symbol' && token.value === ')') return items;
      if (token.type !== 'symbol' || token.value !== ',') {
        return this.fail(`expected ',' or ')' in ${what}, found ${describe(token)}`, token.offset);
      }
    }
  }

  private expectClose(open: string, openOffset: number): void {
    const token = this.next();
    if (token.type !== 'symbol' || token.value !== ')') {
      const where = positionAt(this.source, openOffset);
      this.fail(
        `expected ')' to close '${open}' from column ${where.column}, found ${describe(token)}`,
        token.offset,
      );
    }
  }

  private peek(): Token {
    return this.peekAt(0);
  }

  private peekAt(ahead: number): Token {
    // The token list always ends with `eof`, so clamping keeps every read in range.
    const i = Math.min(this.index + ahead, this.tokens.length - 1);
    const token = this.tokens[i];
    if (token === undefined) throw new Error('unreachable: token list without eof');
    return token;
  }

  private next(): Token {
    const token = this.peek();
    if (token.type !== 'eof') this.index++;
    return token;
  }

  private fail(detail: string, offset: number): never {
    throw new CesqlParseError(detail, positionAt(this.source, offset));
  }
}

function binaryOperatorOf(token: Token): BinaryOperator | undefined {
  if (token.type === 'keyword') {
    return token.value === 'AND' || token.value === 'OR' || token.value === 'XOR' ? token.value : undefined;
  }
  if (token.type === 'symbol' && token.value !== '(' && token.value !== ')' && token.value !== ',') {
    return token.value;
  }
  return undefined;
}

function describe(token: Token): string {
  switch (token.type) {
    case 'eof':
      return 'end of expression';
    case 'int':
      return `integer ${token.value}`;
    case 'string':
      return 'string literal';
    case 'keyword':
      return `keyword ${token.value}`;
    case 'name':
      return `'${token.value}'`;
    case 'symbol':
      return `'${token.value}'`;
  }
}

/**
 * Rejects trees deeper than the limit. The parser's own depth count cannot see this for operator
 * chains, which it builds in a loop, so the finished tree is measured without recursion.
 */
function checkHeight(root: CesqlNode, source: string): void {
  const stack: Array<[CesqlNode, number]> = [[root, 1]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [node, depth] = item;
    if (depth > MAX_NESTING_DEPTH) {
      throw new CesqlParseError(
        `expression nests deeper than ${MAX_NESTING_DEPTH} levels (split long operator chains with parentheses or use IN)`,
        positionAt(source, node.offset),
      );
    }
    for (const child of childrenOf(node)) stack.push([child, depth + 1]);
  }
}
