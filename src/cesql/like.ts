// SPDX-License-Identifier: Apache-2.0
import { isHighSurrogate, isLowSurrogate } from './code-points.js';

/**
 * The steps one match may take (`limit`) and took (`steps`). A step is one iteration of one of the
 * matcher's loops — a code point of the text compared with one of the pattern, or a text unit scanned
 * while searching a literal — and every loop costs about the same per iteration, so that `steps` is
 * the matcher's real work and not, as before, one unit per pattern element whatever the element
 * cost (an element was a call through literal and surrogate checks: one unit of it cost ~50× one
 * character of `LOWER`). A match stops, without a match, once `steps > limit`, having gone past the
 * limit by at most one pattern's length; the evaluator charges `steps` to its budget.
 */
export interface LikeMeter {
  limit: number;
  steps: number;
}

/**
 * Budget units one step costs. The budget counts characters of string work, and a character of
 * `LOWER` (native, vectorised on ASCII) takes 0.1–0.45 ns while a step of these loops takes 3–8 ns:
 * charged one unit a step, a LIKE could do 10–50× the work of the `LOWER` the same budget allows.
 */
export const LIKE_STEP_UNITS = 4;

/** A compiled pattern; with a meter, it counts its steps there and gives up past the meter's limit. */
export type LikeMatcher = (text: string, meter?: LikeMeter) => boolean;

/** A pattern element of a segment matching any one code point (`_`); others are the code point. */
const ANY = -1;

/** The code points (or {@link ANY}) between two `%` wildcards, with its leading literal for the search. */
interface Segment {
  readonly points: Int32Array;
  /** UTF-16 units of the literal the segment starts with (empty when it starts with `_`). */
  readonly head: Uint16Array;
  /** Knuth–Morris–Pratt fallback of `head`: the longest proper border of `head[0..i]`. */
  readonly fallback: Int32Array;
}

/**
 * Compiles a LIKE pattern (CESQL v1 §3.4.3) into a matcher: `%` matches any run of characters, `_`
 * exactly one character (code point), `\%` and `\_` match themselves and every other character,
 * a backslash before anything else included, matches literally and case-sensitively.
 *
 * @remarks The pattern is split at its `%` wildcards. The part before the first `%` must match at
 * the start and the part after the last `%` at the end; each part in between is matched at the
 * leftmost place where it fits, which never loses a match because a later part can only gain from
 * an earlier end. Nothing backtracks over more than one part, so a match costs at most
 * O(text × pattern) steps and typically O(text): a part is tried only where its leading literal
 * occurs, found by Knuth–Morris–Pratt in at most twice the text's length. Every comparison is one
 * loop iteration over code units counted as a step; no regular expression is built from user input.
 *
 * @example
 * ```ts
 * const like = compileLike('/shop/%');
 * like('/shop/cart'); // true
 * ```
 */
export function compileLike(pattern: string): LikeMatcher {
  const segments = splitPattern(pattern).map(segmentOf);
  const first = segments[0] as Segment;
  const last = segments[segments.length - 1] as Segment;
  const middles = segments.slice(1, -1).filter((segment) => segment.points.length > 0);

  if (segments.length === 1) {
    if (first.points.length === 0) return (text) => text.length === 0;
    return (text, meter = unmetered()) => {
      meter.steps = 0;
      return matchAt(first.points, text, 0, text.length, meter) === text.length;
    };
  }
  return (text, meter = unmetered()) => {
    meter.steps = 0;
    let position = matchAt(first.points, text, 0, text.length, meter);
    if (position < 0) return false;
    const suffixStart = startOfLast(last.points.length, text, position, meter);
    if (suffixStart < 0 || matchAt(last.points, text, suffixStart, text.length, meter) !== text.length) {
      return false;
    }
    for (const segment of middles) {
      if (meter.steps > meter.limit) return false;
      position = search(segment, text, position, suffixStart, meter);
      if (position < 0) return false;
    }
    return meter.steps <= meter.limit;
  };
}

/** A meter without a limit, for callers that bound nothing. */
function unmetered(): LikeMeter {
  return { limit: Infinity, steps: 0 };
}

/** The pattern's code points, split at `%` (a run of `%` is one); `\%` and `\_` are literals. */
function splitPattern(pattern: string): number[][] {
  const segments: number[][] = [];
  let current: number[] = [];
  let afterPercent = false;
  for (let i = 0; i < pattern.length;) {
    const c = pattern.codePointAt(i) ?? 0;
    i += c > 0xffff ? 2 : 1;
    if (c === 0x5c && (pattern[i] === '%' || pattern[i] === '_')) {
      current.push(pattern.charCodeAt(i));
      i++;
    } else if (c === 0x25) {
      if (!afterPercent) segments.push(current);
      current = [];
      afterPercent = true;
      continue;
    } else {
      current.push(c === 0x5f ? ANY : c);
    }
    afterPercent = false;
  }
  segments.push(current);
  return segments;
}

function segmentOf(points: readonly number[]): Segment {
  let headPoints = 0;
  while (headPoints < points.length && points[headPoints] !== ANY) headPoints++;
  // By UTF-16 unit, as the text is scanned; built point by point (a pattern may be too long to spread).
  const units: number[] = [];
  for (let i = 0; i < headPoints; i++) {
    const p = points[i] as number;
    if (p > 0xffff) units.push(0xd800 + ((p - 0x10000) >> 10), 0xdc00 + ((p - 0x10000) & 0x3ff));
    else units.push(p);
  }
  const head = Uint16Array.from(units);
  const fallback = new Int32Array(head.length);
  for (let i = 1, k = 0; i < head.length; i++) {
    while (k > 0 && head[i] !== head[k]) k = fallback[k - 1] ?? 0;
    if (head[i] === head[k]) k++;
    fallback[i] = k;
  }
  return { points: Int32Array.from(points), head, fallback };
}

/**
 * Matches `points` code point by code point from `position` (a code point boundary), within `limit`;
 * returns where the match ends, or -1. One step per code point compared.
 */
function matchAt(
  points: Int32Array,
  text: string,
  position: number,
  limit: number,
  meter: LikeMeter,
): number {
  const n = points.length;
  const length = text.length;
  let j = 0;
  for (; j < n; j++) {
    if (position >= limit) break;
    let c = text.charCodeAt(position);
    let width = 1;
    if (c >= 0xd800 && c <= 0xdbff && position + 1 < length) {
      const d = text.charCodeAt(position + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
        width = 2;
      }
    }
    const p = points[j] as number;
    if (p !== ANY && p !== c) break;
    position += width;
  }
  // j comparisons matched, and one more failed (or found the text's end) when the loop broke.
  meter.steps += j < n ? j + 1 : n;
  return j === n && position <= limit ? position : -1;
}

/**
 * Where the last segment, of `count` code points, must start to end at the text's end: -1 when that
 * is before `floor` (the end of the first segment). One step per code point walked back.
 */
function startOfLast(count: number, text: string, floor: number, meter: LikeMeter): number {
  let end = text.length;
  for (let k = 0; k < count; k++) {
    if (end <= floor) return -1;
    end =
      end >= 2 && isLowSurrogate(text.charCodeAt(end - 1)) && isHighSurrogate(text.charCodeAt(end - 2))
        ? end - 2
        : end - 1;
  }
  meter.steps += count;
  return end >= floor ? end : -1;
}

function splitsPair(text: string, i: number): boolean {
  return i > 0 && isLowSurrogate(text.charCodeAt(i)) && isHighSurrogate(text.charCodeAt(i - 1));
}

/**
 * Finds the leftmost match of `segment` starting in `[from, limit)`; returns where it ends, or -1
 * (also when the meter runs out). A segment with a leading literal is tried only where that literal
 * occurs (as whole code points); one without is tried at every code point.
 */
function search(segment: Segment, text: string, from: number, limit: number, meter: LikeMeter): number {
  if (segment.head.length === 0) {
    for (let start = from; start < limit;) {
      const end = matchAt(segment.points, text, start, limit, meter);
      if (end >= 0) return end;
      if (meter.steps > meter.limit) return -1;
      start += isHighSurrogate(text.charCodeAt(start)) && isLowSurrogate(text.charCodeAt(start + 1)) ? 2 : 1;
    }
    return -1;
  }
  for (let start = find(segment, text, from, limit, meter); start >= 0;) {
    if (!splitsPair(text, start)) {
      const end = matchAt(segment.points, text, start, limit, meter);
      if (end >= 0) return end;
    }
    if (meter.steps > meter.limit) return -1;
    start = find(segment, text, start + 1, limit, meter);
  }
  return -1;
}

/**
 * Where the segment's leading literal next occurs whole in `[from, limit)`, by Knuth–Morris–Pratt
 * (at most two iterations per text unit, each a step), or -1, also once the meter runs out.
 */
function find(segment: Segment, text: string, from: number, limit: number, meter: LikeMeter): number {
  const { head, fallback } = segment;
  const m = head.length;
  const budget = meter.limit - meter.steps;
  let steps = 0;
  let found = -1;
  for (let i = from, k = 0; i < limit && steps <= budget; i++) {
    const c = text.charCodeAt(i);
    steps++;
    while (k > 0 && c !== head[k]) {
      k = fallback[k - 1] as number;
      steps++;
    }
    if (c === head[k] && ++k === m) {
      found = i - m + 1;
      break;
    }
  }
  meter.steps += steps;
  return found;
}
