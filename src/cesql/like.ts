// SPDX-License-Identifier: Apache-2.0
import { isHighSurrogate, isLowSurrogate, nextCodePoint, previousCodePoint } from './code-points.js';

/** A literal run, or a number of `_` wildcards in a row (each matches one code point). */
type Element = string | number;
/** The elements between two `%` wildcards. */
type Segment = readonly Element[];

/**
 * Compiles a LIKE pattern (CESQL v1 §3.4.3) into a matcher: `%` matches any run of characters, `_`
 * exactly one character (code point), `\%` and `\_` match themselves and every other character,
 * a backslash before anything else included, matches literally and case-sensitively.
 *
 * @remarks The pattern is split at its `%` wildcards. The part before the first `%` must match at
 * the start and the part after the last `%` at the end; each part in between is matched at the
 * leftmost place where it fits, which never loses a match because a later part can only gain from
 * an earlier end. Nothing backtracks over more than one part, so a match costs at most
 * O(text × pattern) and typically O(text); no regular expression is built from user input.
 *
 * @example
 * ```ts
 * const like = compileLike('/shop/%');
 * like('/shop/cart'); // true
 * ```
 */
export function compileLike(pattern: string): (text: string) => boolean {
  const segments = splitPattern(pattern);
  const first = segments[0] ?? [];
  const last = segments[segments.length - 1] ?? [];
  const middles = segments.slice(1, -1).filter((segment) => segment.length > 0);

  if (segments.length === 1) {
    const [only] = first;
    if (first.length === 0) return (text) => text.length === 0;
    if (first.length === 1 && typeof only === 'string') return (text) => text === only;
    return (text) => matchForward(first, text, 0, text.length) === text.length;
  }
  const prefix = literalOf(first);
  const suffix = literalOf(last);
  // A literal with a lone surrogate at an edge could match half of a pair; only the general path
  // checks for that, so the shortcuts below are for well-formed literals.
  const shortcuts = segments.every((segment) =>
    segment.every((e) => typeof e !== 'string' || isWellBounded(e)),
  );
  if (shortcuts && middles.length === 0 && prefix !== undefined && suffix !== undefined) {
    if (suffix === '') return prefix === '' ? () => true : (text) => text.startsWith(prefix);
    if (prefix === '') return (text) => text.endsWith(suffix);
    const minLength = prefix.length + suffix.length;
    return (text) => text.length >= minLength && text.startsWith(prefix) && text.endsWith(suffix);
  }
  if (shortcuts && middles.length === 1 && prefix === '' && suffix === '') {
    const inner = literalOf(middles[0] ?? []);
    if (inner !== undefined) return (text) => text.includes(inner);
  }
  return (text) => {
    let position = matchForward(first, text, 0, text.length);
    if (position < 0) return false;
    const suffixStart = matchBackward(last, text, text.length, position);
    if (suffixStart < 0) return false;
    for (const segment of middles) {
      position = search(segment, text, position, suffixStart);
      if (position < 0) return false;
    }
    return true;
  };
}

function splitPattern(pattern: string): Segment[] {
  const segments: Element[][] = [];
  let current: Element[] = [];
  let literal = '';
  let afterPercent = false;
  const flush = (): void => {
    if (literal !== '') current.push(literal);
    literal = '';
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && (pattern[i + 1] === '%' || pattern[i + 1] === '_')) {
      literal += pattern[i + 1];
      i++;
    } else if (c === '%') {
      if (afterPercent) continue;
      flush();
      segments.push(current);
      current = [];
      afterPercent = true;
      continue;
    } else if (c === '_') {
      flush();
      const previous = current[current.length - 1];
      if (typeof previous === 'number') current[current.length - 1] = previous + 1;
      else current.push(1);
    } else {
      literal += c;
    }
    afterPercent = false;
  }
  flush();
  segments.push(current);
  return segments;
}

/** The segment's text when it has no `_` wildcard. */
function literalOf(segment: Segment): string | undefined {
  if (segment.length === 0) return '';
  const [only] = segment;
  return segment.length === 1 && typeof only === 'string' ? only : undefined;
}

/** Whether `literal` cannot begin or end inside a surrogate pair of the text. */
function isWellBounded(literal: string): boolean {
  return !isLowSurrogate(literal.charCodeAt(0)) && !isHighSurrogate(literal.charCodeAt(literal.length - 1));
}

/** Whether `literal` occurs at `position`, within `limit`, as whole code points of `text`. */
function literalAt(text: string, literal: string, position: number, limit: number): boolean {
  const end = position + literal.length;
  return (
    end <= limit &&
    text.startsWith(literal, position) &&
    !splitsPair(text, position) &&
    !splitsPair(text, end)
  );
}

function splitsPair(text: string, i: number): boolean {
  return i > 0 && isLowSurrogate(text.charCodeAt(i)) && isHighSurrogate(text.charCodeAt(i - 1));
}

/** Matches `segment` starting at `position`, within `limit`; returns where it ends, or -1. */
function matchForward(segment: Segment, text: string, position: number, limit: number): number {
  for (const element of segment) {
    if (typeof element === 'string') {
      if (!literalAt(text, element, position, limit)) return -1;
      position += element.length;
    } else {
      for (let k = 0; k < element; k++) {
        if (position >= limit) return -1;
        position = nextCodePoint(text, position);
      }
      if (position > limit) return -1;
    }
  }
  return position;
}

/** Matches `segment` so that it ends at `end` and starts no earlier than `floor`; returns the start, or -1. */
function matchBackward(segment: Segment, text: string, end: number, floor: number): number {
  for (let e = segment.length - 1; e >= 0; e--) {
    const element = segment[e] ?? '';
    if (typeof element === 'string') {
      const start = end - element.length;
      if (start < floor || !literalAt(text, element, start, end)) return -1;
      end = start;
    } else {
      for (let k = 0; k < element; k++) {
        if (end <= floor) return -1;
        end = previousCodePoint(text, end);
      }
      if (end < floor) return -1;
    }
  }
  return end;
}

/** Finds the leftmost match of `segment` in `[from, limit)`; returns where it ends, or -1. */
function search(segment: Segment, text: string, from: number, limit: number): number {
  const [head] = segment;
  if (typeof head === 'string') {
    for (let start = text.indexOf(head, from); start >= 0 && start + head.length <= limit;) {
      const end = matchForward(segment, text, start, limit);
      if (end >= 0) return end;
      start = text.indexOf(head, start + 1);
    }
    return -1;
  }
  for (let start = from; start < limit; start = nextCodePoint(text, start)) {
    const end = matchForward(segment, text, start, limit);
    if (end >= 0) return end;
  }
  return -1;
}
