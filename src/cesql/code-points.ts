// SPDX-License-Identifier: Apache-2.0

// CESQL counts "characters". This engine counts Unicode code points, so a character outside the
// Basic Multilingual Plane is one character, not two UTF-16 units. A lone surrogate counts as one.

export function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

export function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** The offset just after the code point starting at `i` (`i < s.length`). */
export function nextCodePoint(s: string, i: number): number {
  return isHighSurrogate(s.charCodeAt(i)) && isLowSurrogate(s.charCodeAt(i + 1)) ? i + 2 : i + 1;
}

/** The offset where the code point ending just before `i` starts (`i > 0`). */
export function previousCodePoint(s: string, i: number): number {
  return i >= 2 && isLowSurrogate(s.charCodeAt(i - 1)) && isHighSurrogate(s.charCodeAt(i - 2))
    ? i - 2
    : i - 1;
}

export function codePointLength(s: string): number {
  let count = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    if (isHighSurrogate(s.charCodeAt(i)) && isLowSurrogate(s.charCodeAt(i + 1))) {
      count--;
      i++;
    }
  }
  return count;
}

/** The UTF-16 offset of code point number `index` (0-based); `s.length` when past the end. */
export function offsetOfCodePoint(s: string, index: number): number {
  let offset = 0;
  for (let k = 0; k < index && offset < s.length; k++) offset = nextCodePoint(s, offset);
  return offset;
}

/** The code points `[start, end)` of `s`, by code point index, clamped to the string. */
export function sliceCodePoints(s: string, start: number, end: number): string {
  const from = offsetOfCodePoint(s, start);
  let to = from;
  for (let k = start; k < end && to < s.length; k++) to = nextCodePoint(s, to);
  return s.slice(from, to);
}

/** The Unicode White_Space property; every such character is in the BMP. */
export function isWhiteSpace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) ||
    c === 0x20 ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** Removes leading and trailing Unicode White_Space (unlike `String#trim`, which also strips U+FEFF and keeps U+0085). */
export function trimWhiteSpace(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isWhiteSpace(s.charCodeAt(start))) start++;
  while (end > start && isWhiteSpace(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}
