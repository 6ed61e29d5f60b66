// SPDX-License-Identifier: Apache-2.0
import { nextCodePoint } from './code-points.js';
import type { CesqlPosition } from './types.js';

/**
 * The only error {@link compile} throws: a syntax error or a static error such as an integer literal
 * outside the 32-bit range or nesting deeper than {@link MAX_NESTING_DEPTH}.
 *
 * @example
 * ```ts
 * try {
 *   compile('type = ');
 * } catch (e) {
 *   if (e instanceof CesqlParseError) console.log(e.position.column, e.detail);
 * }
 * ```
 */
export class CesqlParseError extends Error {
  readonly kind = 'parse';
  readonly position: CesqlPosition;
  /** The message without the position suffix. */
  readonly detail: string;

  constructor(detail: string, position: CesqlPosition) {
    super(`${detail} at line ${position.line}, column ${position.column}`);
    this.name = 'CesqlParseError';
    this.detail = detail;
    this.position = position;
  }
}

/** Line and column of `offset` in `source`; CR, LF and CRLF each end a line. */
export function positionAt(source: string, offset: number): CesqlPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 0x0a || (c === 0x0d && source.charCodeAt(i + 1) !== 0x0a)) {
      line++;
      lineStart = i + 1;
    }
  }
  let column = 1;
  for (let i = lineStart; i < offset && i < source.length; i = nextCodePoint(source, i)) column++;
  return { offset, line, column };
}
