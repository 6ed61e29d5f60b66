/**
 * Scanning JSON text as bytes, without building values: what the ingress needs before or after
 * `JSON.parse` (a depth limit, where a member's value lies) at a fraction of a parse's cost.
 *
 * @remarks String contents are skipped with the native `indexOf` to the next `"` (escaped when an odd
 * run of backslashes precedes it), not byte by byte: in events most bytes are inside strings, and a byte
 * loop costs about a microsecond per kilobyte on the ingress path.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Bytes looked at one by one before `closingQuote` calls the native `indexOf`: member names and
 * attribute values are short, and for them a call into C++ cost more than the loop.
 */
const SHORT_STRING = 48;

/** The index of the `"` that closes a string whose contents start at `from`, or -1 when none does. */
export function closingQuote(text: Uint8Array, from: number): number {
  const stop = Math.min(text.length, from + SHORT_STRING);
  let at = from;
  while (at < stop && text[at] !== QUOTE) at++;
  if (at === stop) at = text.indexOf(QUOTE, at);
  while (at >= 0) {
    let backslashes = 0;
    while (at - backslashes - 1 >= from && text[at - backslashes - 1] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
    at = text.indexOf(QUOTE, at + 1);
  }
  return -1;
}

function isSpace(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The index of the first byte from `from` on that is not JSON whitespace. */
export function skipSpace(text: Uint8Array, from: number): number {
  let i = from;
  while (isSpace(text[i])) i++;
  return i;
}

/** `text[start, end)` holds exactly the ASCII `name`. */
function spells(text: Uint8Array, start: number, end: number, name: string): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (text[start + i] !== name.charCodeAt(i)) return false;
  return true;
}

/** What one scan of an event's JSON object text finds (offsets into the scanned text). */
export interface EventObjectSpans {
  /** Where the object starts (its `{`). */
  readonly start: number;
  /** Where the object ends (the index after its `}`). */
  readonly end: number;
  /** `[start, end)` of the last `data` member's value, without whitespace; undefined without one. */
  readonly data: [number, number] | undefined;
  /** A member name was written with escapes (it may spell `data`): `data` must not be used. */
  readonly escapedName: boolean;
  /**
   * How many members the object's text holds, repeated names counted each time: more than the parsed
   * object has when a name is repeated (`JSON.parse` keeps the last), and the text then says more than
   * the attributes do.
   */
  readonly members: number;
  /**
   * `[start, end)` of the text to cut out of the object to leave it without its `data` member: the
   * member with the comma that separated it from its neighbour. Undefined without a `data` member,
   * or with more than one (the text without the last would still hold the others).
   */
  readonly dataMember: [number, number] | undefined;
  /**
   * `[start, end)` of each member name (with its quotes) whose value is a JSON number written with a
   * fraction or an exponent (`1.0`, `1e3`), or undefined when there is none. The JSON format's Integer
   * is "only the integer component optionally prefixed with a minus sign": `JSON.parse` reads `1.0` as
   * the integer 1, so only the text can tell such an attribute apart (see `eventFromJson`).
   */
  readonly nonIntegerNames: [number, number][] | undefined;
}

/** True for a byte that may start a JSON number. */
function startsNumber(c: number | undefined): boolean {
  return c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39);
}

/** True when the JSON number at `text[at]` has a fraction or an exponent. */
function hasFractionOrExponent(text: Uint8Array, at: number): boolean {
  for (let i = at; i < text.length; i++) {
    const c = text[i];
    if (c === 0x2e || c === 0x65 || c === 0x45) return true;
    if (!(c === 0x2d || c === 0x2b || (c !== undefined && c >= 0x30 && c <= 0x39))) return false;
  }
  return false;
}

/** The scan stopped at the `[` or `{` at `at`, nested deeper than the limit it was given. */
export interface TooDeep {
  readonly tooDeepAt: number;
}

/**
 * One pass over the JSON object starting at `text[at]` (`{`), which `JSON.parse` has accepted as part of
 * its text: where it ends, and where the value of its `data` member lies (with duplicate members the
 * last, as in `JSON.parse`). Undefined when `text[at]` does not start an object.
 */
export function scanEventObject(
  text: Uint8Array,
  at: number,
  maxDepth = Infinity,
  outerDepth = 0,
): EventObjectSpans | TooDeep | undefined {
  if (text[at] !== 0x7b) return undefined;
  const deepest = maxDepth - outerDepth;
  let depth = 0;
  let expectName = false;
  let escapedName = false;
  let members = 0;
  let valueStart = -1;
  let data: [number, number] | undefined;
  let dataMembers = 0;
  let dataMember: [number, number] | undefined;
  let nonIntegerNames: [number, number][] | undefined;
  /** The `,` before the member being read at depth 1 (-1 for the first member), and where that member's name starts. */
  let commaBefore = -1;
  let memberStart = -1;
  // `at` is the `,` or `}` after the data member's value: the cut takes the comma before the member,
  // or for a first member the comma after it (`{"data":1,"id":…}` → `{"id":…}`).
  const close = (at: number) => {
    let end = at;
    while (end > valueStart && isSpace(text[end - 1])) end--;
    data = [valueStart, end];
    dataMember =
      commaBefore >= 0 ? [commaBefore, end] : text[at] === 0x2c ? [memberStart, at + 1] : [memberStart, end];
    valueStart = -1;
  };
  const length = text.length;
  for (let i = at; i < length; i++) {
    const c = text[i];
    if (c === QUOTE) {
      const end = closingQuote(text, i + 1);
      if (end < 0) return undefined;
      if (depth === 1 && expectName) {
        expectName = false;
        members++;
        for (let k = i + 1; k < end; k++) if (text[k] === BACKSLASH) escapedName = true;
        let next = end + 1;
        while (isSpace(text[next])) next++; // then the `:`
        next++;
        while (isSpace(text[next])) next++;
        if (spells(text, i + 1, end, 'data')) {
          valueStart = next;
          memberStart = i;
          dataMembers++;
        } else if (startsNumber(text[next]) && hasFractionOrExponent(text, next)) {
          (nonIntegerNames ??= []).push([i, end + 1]);
        }
        i = next - 1;
      } else {
        i = end;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > deepest) return { tooDeepAt: i };
      if (depth === 1) expectName = true;
    } else if (c === 0x7d || c === 0x5d) {
      if (depth === 1) {
        if (valueStart >= 0) close(i);
        return {
          start: at,
          end: i + 1,
          data,
          escapedName,
          members,
          dataMember: dataMembers === 1 ? dataMember : undefined,
          nonIntegerNames,
        };
      }
      depth--;
    } else if (c === 0x2c && depth === 1) {
      if (valueStart >= 0) close(i);
      commaBefore = i;
      expectName = true;
    }
  }
  return undefined;
}

/** Each object of a batch with where it starts, in order. */
export type EventArrayElements = { readonly start: number; readonly spans: EventObjectSpans }[];

/** The scan stopped at the `{` at `at`, the element one past the most it was told to accept. */
export interface TooManyElements {
  readonly tooManyAt: number;
}

/**
 * The objects of a JSON array of objects, each scanned as `scanEventObject` does, in order, in one pass
 * that also applies `jsonDepthExceeded`'s limit (the array is level 1). Meant to run before `JSON.parse`:
 * the spans are right only for text that `JSON.parse` then accepts, and the depth only reaches the
 * caller as a refusal. It stops at the element after `maxElements` (a batch over the event cap costs a
 * scan of the elements it may hold, not a parse of all it holds). Undefined when the text is not an array
 * of objects (the caller checks the depth with `jsonDepthExceeded` then, and validation says what is wrong).
 */
export function scanEventArray(
  text: Uint8Array,
  maxDepth = Infinity,
  maxElements = Infinity,
): EventArrayElements | TooDeep | TooManyElements | undefined {
  let i = skipSpace(text, 0);
  if (text[i] !== 0x5b) return undefined;
  if (maxDepth < 1) return { tooDeepAt: i };
  i++;
  const elements: EventArrayElements = [];
  for (;;) {
    while (isSpace(text[i])) i++;
    if (text[i] === 0x5d) return elements;
    if (text[i] === 0x2c) {
      i++;
      continue;
    }
    if (elements.length === maxElements && text[i] === 0x7b) return { tooManyAt: i };
    const spans = scanEventObject(text, i, maxDepth, 1);
    if (spans === undefined || 'tooDeepAt' in spans) return spans;
    elements.push({ start: i, spans });
    i = spans.end;
  }
}

/**
 * Where element number `max` (counting from 0) of the top-level JSON array `text` starts (the comma before
 * it), or -1 when the array holds at most `max` elements or `text` is not an array. A single pass over the
 * raw bytes, whatever the elements are: a batch the event scan cannot walk (an element that is not an
 * object) is still counted before it is parsed.
 */
export function arrayElementsOver(text: Uint8Array, max: number): number {
  let i = skipSpace(text, 0);
  if (text[i] !== 0x5b) return -1;
  let depth = 0;
  let commas = 0;
  const length = text.length;
  for (; i < length; i++) {
    const c = text[i];
    if (c === QUOTE) {
      i = closingQuote(text, i + 1);
      if (i < 0) return -1;
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
    } else if (c === 0x5d || c === 0x7d) {
      if (--depth === 0) return -1;
    } else if (c === 0x2c && depth === 1 && ++commas >= max) {
      return i;
    }
  }
  return -1;
}

/**
 * The byte offset at which JSON `text` nests arrays and objects deeper than `maxDepth`, or -1 when it
 * does not. A single pass over the raw bytes, without recursion and before anything is parsed, so a
 * body nested thousands of levels deep costs one scan instead of a stack overflow later (JSON.parse
 * accepts it, but serialising or walking the value again may not). Invalid JSON is left to the parser.
 * String contents are skipped natively (`closingQuote`).
 */
export function jsonDepthExceeded(text: Uint8Array, maxDepth: number): number {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text[i];
    if (c === QUOTE) {
      i = closingQuote(text, i + 1);
      if (i < 0) return -1; // an unterminated string: nothing after it nests
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}
