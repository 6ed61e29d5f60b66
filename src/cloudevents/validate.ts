import { HeraldError, INPUT_SHOWN, quoted } from '../errors/index.js';
import type { AttributeValue, Attributes } from './types.js';
import { SUPPORTED_SPECVERSION } from './types.js';

/** CloudEvents 1.0.2 attribute names: lower-case ASCII letters and digits only. */
const ATTRIBUTE_NAME = /^[a-z0-9]+$/;

/**
 * Characters a CloudEvents String must not contain: C0/C1 controls, Unicode noncharacters and
 * unpaired surrogates (with the `u` flag a surrogate class only matches a lone half).
 */
const FORBIDDEN_STRING_CHARS = new RegExp(
  '[\\u0000-\\u001F\\u007F-\\u009F\\uFDD0-\\uFDEF\\uFFFE\\uFFFF\\uD800-\\uDFFF' +
    Array.from({ length: 16 }, (_, i) => {
      const plane = (i + 1).toString(16).toUpperCase();
      return `\\u{${plane}FFFE}\\u{${plane}FFFF}`;
    }).join('') +
    ']',
  'u',
);

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;
/** RFC 3986 characters (unreserved, reserved, `%`), with every `%` starting a valid escape. */
const URI_CHARS = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#[\]]|%[0-9A-Fa-f]{2})*$/;

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
/**
 * A quoted parameter value of ASCII only: RFC 2045 §5.1 takes RFC 822's quoted-string, whose characters
 * are ASCII (RFC 2231 spells others `name*=utf-8''%E2%82%AC`). Binary mode writes datacontenttype into
 * Content-Type as it is (no percent-encoding there), and the HTTP client refuses a header value with a
 * character above U+00FF: a `name="€"` accepted here made every binary delivery of the event fail.
 */
const QUOTED_STRING = '"(?:[\\t\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\t\\x20-\\x7e])*"';
/** RFC 2046 media type with RFC 7231 parameter syntax. */
const MEDIA_TYPE = new RegExp(
  `^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|${QUOTED_STRING}))*[ \\t]*$`,
);

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function isValidAttributeName(name: string): boolean {
  return ATTRIBUTE_NAME.test(name);
}

export function isValidString(value: string): boolean {
  return !FORBIDDEN_STRING_CHARS.test(value);
}

export function isUriReference(value: string): boolean {
  if (!URI_CHARS.test(value)) return false;
  if (value.indexOf('#') !== value.lastIndexOf('#')) return false;
  // A colon before the first `/`, `?` or `#` must end a valid scheme (RFC 3986 path-noscheme).
  const colon = value.indexOf(':');
  if (colon >= 0) {
    const firstDelimiter = value.search(/[/?#]/);
    if (firstDelimiter < 0 || colon < firstDelimiter) return SCHEME.test(value.slice(0, colon));
  }
  return true;
}

export function isAbsoluteUri(value: string): boolean {
  const colon = value.indexOf(':');
  return colon > 0 && SCHEME.test(value.slice(0, colon)) && isUriReference(value);
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The value of `count` ASCII digits of `text` from `at`, or -1 when any of them is not a digit. */
function digitsAt(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    // NaN past the end fails this test too.
    if (!(digit >= 0 && digit <= 9)) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * RFC 3339 `date-time`: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, `T` and `Z` in either case, with
 * the ranges checked (leap years, a leap second). Read by position rather than with a regular
 * expression: every event with a `time` pays for it.
 */
export function isTimestamp(value: string): boolean {
  const year = digitsAt(value, 0, 4);
  const month = digitsAt(value, 5, 2);
  const day = digitsAt(value, 8, 2);
  const hour = digitsAt(value, 11, 2);
  const minute = digitsAt(value, 14, 2);
  const second = digitsAt(value, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return false;
  if (value[4] !== '-' || value[7] !== '-' || value[13] !== ':' || value[16] !== ':') return false;
  const t = value[10];
  if (t !== 'T' && t !== 't') return false;
  let at = 19;
  if (value[at] === '.') {
    const fraction = ++at;
    while (at < value.length && digitsAt(value, at, 1) >= 0) at++;
    if (at === fraction) return false;
  }
  const zone = value[at];
  if (zone === 'Z' || zone === 'z') {
    if (at + 1 !== value.length) return false;
  } else if (zone === '+' || zone === '-') {
    if (at + 6 !== value.length || value[at + 3] !== ':') return false;
    const offsetHours = digitsAt(value, at + 1, 2);
    const offsetMinutes = digitsAt(value, at + 4, 2);
    if (offsetHours < 0 || offsetMinutes < 0 || offsetHours > 23 || offsetMinutes > 59) return false;
  } else {
    return false;
  }
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const maxDay = month === 2 && !leap ? 28 : (DAYS_IN_MONTH[month - 1] ?? 31);
  if (day > maxDay) return false;
  return hour <= 23 && minute <= 59 && second <= 60;
}

export function isMediaType(value: string): boolean {
  return MEDIA_TYPE.test(value);
}

export function isBase64(value: string): boolean {
  return BASE64.test(value);
}

/** True for `*\/json` and `*\/*+json` (parameters ignored, case-insensitive), the JSON format's rule. */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  // Asked once per event, almost always for the value asked about last.
  if (contentType === lastMediaType) return lastMediaTypeIsJson;
  const semi = contentType.indexOf(';');
  const essence = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  lastMediaTypeIsJson = essence.endsWith('/json') || essence.endsWith('+json');
  lastMediaType = contentType;
  return lastMediaTypeIsJson;
}
let lastMediaType: string | undefined;
let lastMediaTypeIsJson = true;

/** An attribute name as a detail names it, in single quotes: whole when short, else its start and length. */
function named(name: string): string {
  return name.length <= INPUT_SHOWN
    ? `'${name}'`
    : `'${name.slice(0, INPUT_SHOWN)}…' (${name.length} characters)`;
}

/** The `attribute` and `pointer` of a problem about attribute `name`: none for a name too long to repeat. */
function blame(name: string): { attribute?: string; pointer?: string } {
  return name.length <= INPUT_SHOWN ? { attribute: name, pointer: `/${name}` } : {};
}

function invalid(attribute: string, detail: string): HeraldError {
  return new HeraldError(
    'HERALD_INVALID_ATTRIBUTE',
    `attribute ${named(attribute)} ${detail}`,
    blame(attribute),
  );
}

function requireString(name: string, value: AttributeValue): string {
  if (typeof value !== 'string') throw invalid(name, `must be a String, got ${typeof value}`);
  if (!isValidString(value)) {
    throw invalid(name, 'contains a forbidden character (control character, noncharacter or lone surrogate)');
  }
  return value;
}

function requireNonEmpty(name: string, value: AttributeValue): string {
  const s = requireString(name, value);
  if (s.length === 0) throw invalid(name, 'must not be empty');
  return s;
}

type AttributeRule = (name: string, value: AttributeValue) => void;

/**
 * A rule that lets the value it last passed through without checking it again: source, type and
 * datacontenttype repeat from event to event (in a batch, and from one producer), and each rule is a
 * pure function of the value for its attribute.
 */
function passingLast(rule: AttributeRule): AttributeRule {
  let lastPassed: AttributeValue | undefined;
  return (name, value) => {
    if (value === lastPassed) return;
    rule(name, value);
    lastPassed = value;
  };
}

/** Type rules of the context attributes defined by the core specification. */
const CORE_RULES = new Map<string, AttributeRule>([
  [
    'specversion',
    (_name, value) => {
      if (value !== SUPPORTED_SPECVERSION) {
        throw new HeraldError(
          'HERALD_UNSUPPORTED_SPECVERSION',
          `specversion ${typeof value === 'string' ? quoted(value) : String(value)} is not supported; Herald accepts "${SUPPORTED_SPECVERSION}"`,
          { attribute: 'specversion', pointer: '/specversion' },
        );
      }
    },
  ],
  ['id', requireNonEmpty],
  ['type', passingLast(requireNonEmpty)],
  ['subject', passingLast(requireNonEmpty)],
  [
    'source',
    passingLast((name, value) => {
      const text = requireNonEmpty(name, value);
      if (!isUriReference(text)) throw invalid(name, 'must be a URI-reference (RFC 3986)');
    }),
  ],
  [
    'dataschema',
    passingLast((name, value) => {
      const text = requireNonEmpty(name, value);
      if (!isAbsoluteUri(text)) throw invalid(name, 'must be an absolute URI (RFC 3986)');
    }),
  ],
  [
    'datacontenttype',
    passingLast((name, value) => {
      if (!isMediaType(requireNonEmpty(name, value))) throw invalid(name, 'must be a media type (RFC 2046)');
    }),
  ],
  [
    'time',
    (name, value) => {
      if (!isTimestamp(requireString(name, value))) throw invalid(name, 'must be an RFC 3339 timestamp');
    },
  ],
]);

/**
 * The refusal of an Integer attribute written with a fraction or an exponent (`1.0`, `1e3`): JSON format
 * §2.2 allows "only the integer component optionally prefixed with a minus sign". `JSON.parse` reads such
 * a number as an integer, and the producer's text is what structured and batch deliveries carry, so a
 * sink whose SDK reads Integers strictly (sdk-go) could not read the event at all.
 */
export function nonIntegerSpelling(name: string): HeraldError {
  return invalid(name, 'must be an Integer written without a fraction or an exponent (JSON format §2.2)');
}

function validateExtension(name: string, value: AttributeValue): void {
  if (typeof value === 'string') {
    requireString(name, value);
  } else if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
      throw invalid(name, 'must be an Integer in the signed 32-bit range');
    }
  }
}

/**
 * Validates a complete attribute set (REQUIRED present, names, types, string rules) and returns it.
 * `input` holds only set attributes (JSON `null` already removed).
 */
export function validateAttributes(input: Record<string, unknown>): Attributes {
  for (const required of ['specversion', 'id', 'source', 'type'] as const) {
    if (!Object.hasOwn(input, required) || input[required] === undefined) {
      throw new HeraldError('HERALD_MISSING_ATTRIBUTE', `required attribute '${required}' is missing`, {
        attribute: required,
        pointer: `/${required}`,
      });
    }
  }
  for (const name of Object.keys(input)) {
    const value = input[name];
    // A Map, not an object: `constructor` is a valid extension name, not a rule. The core names are
    // valid names, so only extensions need the name check.
    const rule = CORE_RULES.get(name);
    if (rule === undefined && (!ATTRIBUTE_NAME.test(name) || name === 'data')) {
      throw new HeraldError(
        'HERALD_INVALID_ATTRIBUTE_NAME',
        `attribute name ${quoted(name)} must consist of lower-case ASCII letters and digits and not be 'data'`,
        blame(name),
      );
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw invalid(
        name,
        `must be a String, Integer or Boolean, got ${Array.isArray(value) ? 'array' : typeof value}`,
      );
    }
    if (rule === undefined) validateExtension(name, value);
    else rule(name, value);
  }
  return input as Attributes;
}
