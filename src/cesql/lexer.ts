// SPDX-License-Identifier: Apache-2.0
import { OperatorSymbols } from './ast.js';
import { CesqlParseError, positionAt } from './errors.js';

export const Keywords = ['AND', 'OR', 'XOR', 'NOT', 'LIKE', 'IN', 'EXISTS', 'TRUE', 'FALSE'] as const;
export type Keyword = (typeof Keywords)[number];
const keywordSet: ReadonlySet<string> = new Set(Keywords);

export const Symbols = ['(', ')', ',', ...OperatorSymbols] as const;
export type SymbolText = (typeof Symbols)[number];

export type Token =
  | { readonly type: 'int'; readonly value: number; readonly offset: number }
  | { readonly type: 'string'; readonly value: string; readonly offset: number }
  | { readonly type: 'keyword'; readonly value: Keyword; readonly offset: number }
  /** A word that is not a keyword or an integer: an attribute or function name, validated by the parser. */
  | { readonly type: 'name'; readonly value: string; readonly offset: number }
  | { readonly type: 'symbol'; readonly value: SymbolText; readonly offset: number }
  | { readonly type: 'eof'; readonly offset: number };

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** Keywords after which an operand (and so a signed integer literal) is expected. */
const operatorKeywords: ReadonlySet<string> = new Set(['AND', 'OR', 'XOR', 'NOT', 'LIKE', 'IN', 'EXISTS']);

/**
 * Splits an expression into tokens.
 *
 * @remarks The grammar puts the sign into the integer token, so `-2147483648` is one literal and
 * `--10` is a minus applied to `-10`. A sign is only taken as part of a literal where an operand is
 * expected, so `5-3` is a subtraction rather than two adjacent literals.
 */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const n = source.length;
  let i = 0;
  const fail = (detail: string, offset: number): never => {
    throw new CesqlParseError(detail, positionAt(source, offset));
  };
  while (i < n) {
    const c = source.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
      i++;
      continue;
    }
    const start = i;
    if (isWordChar(c)) {
      i = wordEnd(source, i);
      tokens.push(classifyWord(source, start, i, 1, fail));
      continue;
    }
    if (c === 0x27 || c === 0x22) {
      const [value, end] = scanString(source, i, fail);
      tokens.push({ type: 'string', value, offset: start });
      i = end;
      continue;
    }
    if ((c === 0x2b || c === 0x2d) && isDigit(source.charCodeAt(i + 1)) && operandExpected(tokens)) {
      const end = wordEnd(source, i + 1);
      if (isAllDigits(source, i + 1, end)) {
        tokens.push(classifyWord(source, i + 1, end, c === 0x2d ? -1 : 1, fail, start));
        i = end;
        continue;
      }
      // A sign before a word such as `10abc` is an operator; the word is lexed on its own.
    }
    const two = source.slice(i, i + 2);
    if (two === '!=' || two === '<>' || two === '<=' || two === '>=') {
      tokens.push({ type: 'symbol', value: two, offset: start });
      i += 2;
      continue;
    }
    const one = source[i];
    switch (one) {
      case '(':
      case ')':
      case ',':
      case '=':
      case '<':
      case '>':
      case '+':
      case '-':
      case '*':
      case '/':
      case '%':
        tokens.push({ type: 'symbol', value: one, offset: start });
        i++;
        continue;
      default: {
        const cp = source.codePointAt(i) ?? c;
        const shown =
          cp < 0x20 || cp === 0x7f
            ? `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`
            : String.fromCodePoint(cp);
        return fail(`unexpected character '${shown}'`, start);
      }
    }
  }
  tokens.push({ type: 'eof', offset: n });
  return tokens;
}

function operandExpected(tokens: readonly Token[]): boolean {
  const prev = tokens[tokens.length - 1];
  if (prev === undefined) return true;
  switch (prev.type) {
    case 'symbol':
      return prev.value !== ')';
    case 'keyword':
      return operatorKeywords.has(prev.value);
    default:
      return false;
  }
}

function classifyWord(
  source: string,
  start: number,
  end: number,
  sign: 1 | -1,
  fail: (detail: string, offset: number) => never,
  tokenStart = start,
): Token {
  const text = source.slice(start, end);
  if (isAllDigits(source, start, end)) {
    const value = sign * parseDigits(text);
    if (!(value >= INT32_MIN && value <= INT32_MAX)) {
      return fail(
        `integer literal ${sign < 0 ? '-' : ''}${abbreviate(text)} is outside the 32-bit range`,
        tokenStart,
      );
    }
    // `-0` would otherwise survive as negative zero and print as `0`, changing nothing but equality checks.
    return { type: 'int', value: value | 0, offset: tokenStart };
  }
  const upper = text.toUpperCase();
  if (keywordSet.has(upper)) return { type: 'keyword', value: upper as Keyword, offset: start };
  return { type: 'name', value: text, offset: start };
}

/** The value of a digit string, or Infinity when it has more than ten significant digits. */
function parseDigits(text: string): number {
  let i = 0;
  while (i < text.length - 1 && text.charCodeAt(i) === 0x30) i++;
  return text.length - i > 10 ? Infinity : Number(text.slice(i));
}

function abbreviate(text: string): string {
  return text.length > 24 ? `${text.slice(0, 20)}… (${text.length} digits)` : text;
}

/**
 * Scans a string literal starting at its opening quote, returning its value and the offset after it.
 *
 * @remarks As in the grammar, a backslash always pairs with the next character when finding the end
 * of the literal. For the value, following the spec's EBNF and the reference implementation, only a
 * backslash before the enclosing quote is an escape; any other backslash stays in the value (LIKE
 * gives `\%` and `\_` their meaning later). A doubled enclosing quote stands for one quote, as in SQL.
 */
function scanString(
  source: string,
  open: number,
  fail: (detail: string, offset: number) => never,
): [string, number] {
  const quote = source.charCodeAt(open);
  let value = '';
  let runStart = open + 1;
  let i = open + 1;
  for (;;) {
    if (i >= source.length) return fail('unterminated string literal', open);
    const c = source.charCodeAt(i);
    if (c === 0x5c) {
      if (i + 1 >= source.length) return fail('unterminated string literal', open);
      if (source.charCodeAt(i + 1) === quote) {
        value += source.slice(runStart, i) + source[i + 1];
        runStart = i + 2;
      }
      i += 2;
    } else if (c === quote) {
      if (source.charCodeAt(i + 1) === quote) {
        value += source.slice(runStart, i + 1);
        i += 2;
        runStart = i;
      } else {
        return [value + source.slice(runStart, i), i + 1];
      }
    } else {
      i++;
    }
  }
}

function wordEnd(source: string, i: number): number {
  while (i < source.length && isWordChar(source.charCodeAt(i))) i++;
  return i;
}

function isAllDigits(source: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (!isDigit(source.charCodeAt(i))) return false;
  return end > start;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isWordChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
}
