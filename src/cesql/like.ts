// SPDX-License-Identifier: Apache-2.0
import { isHighSurrogate, isLowSurrogate, nextCodePoint, previousCodePoint } from './code-points.js';

/** A literal run, or a number of `_` wildcards in a row (each matches one code point). */
type Element = string | number;
/** The elements between two `%` wildcards. */
type Segment = readonly Element[];

/**
 * The steps one match may take (`limit`) and took (`steps`): a literal compared costs its length, a
 * `_` one. A match that would take more stops, without a match, at `steps > limit`; the evaluator charges
 * `steps` to its budget, so that a pattern's cost per event is what it does and not only the text's
 * length (a segment mixing literals and `_` is tried at every start: text × segment steps).
 */
export interface LikeMeter {
  limit: number;
  steps: number;
}

/** A compiled pattern; with a meter, it counts its steps there and gives up past the meter's limit. */
export type LikeMatcher = (text: string, meter?: LikeMeter) => boolean;

/**
 * Literals up to this long are searched with the engine's `indexOf`, which takes up to text × literal
 * steps (V8's Boyer–Moore is quadratic on texts like `aaa…` for literals like `aa…ab…aa`): at most this
 * many times the text, a constant. Longer ones are searched in linear time (Knuth–Morris–Pratt).
 */
const SHORT_LITERAL = 16;

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
export function compileLike(pattern: string): LikeMatcher {
  const segments = splitPattern(pattern);
  const first = segments[0] ?? [];
  const last = segments[segments.length - 1] ?? [];
  const middles = segments.slice(1, -1).filter((segment) => segment.length > 0);

  if (segments.length === 1) {
    const [only] = first;
    if (first.length === 0) return (text) => text.length === 0;
    if (first.length === 1 && typeof only === 'string') return (text) => text === only;
    return (text, meter = unmetered()) => {
      meter.steps = 0;
      return matchForward(first, text, 0, text.length, meter) === text.length;
    };
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
    if (inner !== undefined) {
      const find = finderOf(inner);
      return (text) => find(text, 0) >= 0;
    }
  }
  // The literal each middle segment starts with, found in linear time however long (see SHORT_LITERAL).
  const finders = middles.map((segment) => {
    const [head] = segment;
    return typeof head === 'string' ? finderOf(head) : undefined;
  });
  return (text, meter = unmetered()) => {
    meter.steps = 0;
    let position = matchForward(first, text, 0, text.length, meter);
    if (position < 0) return false;
    const suffixStart = matchBackward(last, text, text.length, position, meter);
    if (suffixStart < 0) return false;
    for (const [i, segment] of middles.entries()) {
      position = search(segment, finders[i], text, position, suffixStart, meter);
      if (position < 0) return false;
    }
    return true;
  };
}

/** A meter without a limit, for callers that bound nothing. */
function unmetered(): LikeMeter {
  return { limit: Infinity, steps: 0 };
}

/** Counts `steps` more; false once the meter is over its limit (the match then gives up). */
function spend(meter: LikeMeter, steps: number): boolean {
  meter.steps += steps;
  return meter.steps <= meter.limit;
}

/** Where `literal` next occurs in `text` at or after `from` (or -1): linear in the text (see SHORT_LITERAL). */
type Finder = (text: string, from: number) => number;

function finderOf(literal: string): Finder {
  if (literal.length <= SHORT_LITERAL) return (text, from) => text.indexOf(literal, from);
  const m = literal.length;
  // fallback[i]: the length of the longest proper prefix of literal[0..i] that is also its suffix.
  const fallback = new Int32Array(m);
  for (let i = 1, k = 0; i < m; i++) {
    while (k > 0 && literal.charCodeAt(i) !== literal.charCodeAt(k)) k = fallback[k - 1] ?? 0;
    if (literal.charCodeAt(i) === literal.charCodeAt(k)) k++;
    fallback[i] = k;
  }
  return (text, from) => {
    for (let i = Math.max(from, 0), k = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      while (k > 0 && c !== literal.charCodeAt(k)) k = fallback[k - 1] ?? 0;
      if (c === literal.charCodeAt(k) && ++k === m) return i - m + 1;
    }
    return -1;
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

/**
 * Matches `segment` starting at `position`, within `limit`; returns where it ends, or -1 (also when
 * the meter runs out).
 */
function matchForward(
  segment: Segment,
  text: string,
  position: number,
  limit: number,
  meter: LikeMeter,
): number {
  for (const element of segment) {
    if (!spend(meter, typeof element === 'string' ? element.length : element)) return -1;
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
function matchBackward(segment: Segment, text: string, end: number, floor: number, meter: LikeMeter): number {
  for (let e = segment.length - 1; e >= 0; e--) {
    const element = segment[e] ?? '';
    if (!spend(meter, typeof element === 'string' ? element.length : element)) return -1;
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

/**
 * Finds the leftmost match of `segment` in `[from, limit)`; returns where it ends, or -1 (also when the
 * meter runs out). `find` finds the segment's leading literal, when it has one.
 */
function search(
  segment: Segment,
  find: Finder | undefined,
  text: string,
  from: number,
  limit: number,
  meter: LikeMeter,
): number {
  const [head] = segment;
  if (typeof head === 'string' && find !== undefined) {
    for (let start = find(text, from); start >= 0 && start + head.length <= limit;) {
      const end = matchForward(segment, text, start, limit, meter);
      if (end >= 0) return end;
      if (meter.steps > meter.limit) return -1;
      start = find(text, start + 1);
    }
    return -1;
  }
  for (let start = from; start < limit; start = nextCodePoint(text, start)) {
    const end = matchForward(segment, text, start, limit, meter);
    if (end >= 0) return end;
    if (meter.steps > meter.limit) return -1;
  }
  return -1;
}
