import { describe, expect, it } from 'vitest';
import { isHeraldError } from '../errors/index.js';
import { decodeHeaderValue, encodeHeaderValue } from './percent-encoding.js';

// Vectors of the HTTP binding §3.1.3.2, as collected in cloudevents-specs.md §11.5 (sdk-csharp
// HttpUtilitiesTest, sdk-python test_http).

/** Node hands header values over as latin1 strings: one character per byte. */
const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

function rejection(raw: string): unknown {
  try {
    decodeHeaderValue(raw, 'subject');
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('percent-encoding round trips', () => {
  it.each([
    ['simple', 'simple'],
    ['Euro € 😀', 'Euro%20%E2%82%AC%20%F0%9F%98%80'],
    ['space encoded', 'space%20encoded'],
    ['percent%encoded', 'percent%25encoded'],
    ['quote"encoded', 'quote%22encoded'],
    ['café', 'caf%C3%A9'],
    ['line1\r\nline2', 'line1%0D%0Aline2'],
    ['Hello World!', 'Hello%20World!'],
    ['tab\there', 'tab%09here'],
    ['del\u007F', 'del%7F'],
    ['nbsp\u00A0', 'nbsp%C2%A0'],
  ])('%j <-> %j', (decoded, encoded) => {
    expect(encodeHeaderValue(decoded)).toBe(encoded);
    expect(decodeHeaderValue(encoded, 'subject')).toBe(decoded);
  });

  it('leaves printable ASCII other than space, quote and percent alone', () => {
    const printable = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i))
      .filter((ch) => ch !== '"' && ch !== '%')
      .join('');
    expect(encodeHeaderValue(printable)).toBe(printable);
    expect(encodeHeaderValue('https://example.com/a?b=c&d=e+f:g')).toBe('https://example.com/a?b=c&d=e+f:g');
    expect(encodeHeaderValue('2023-01-15T10:30:45Z')).toBe('2023-01-15T10:30:45Z');
  });

  it('encodes with upper-case hex and encodes a surrogate pair as one character', () => {
    expect(encodeHeaderValue('\u00e9')).toBe('%C3%A9');
    expect(encodeHeaderValue('😀')).toBe('%F0%9F%98%80');
  });

  it('round-trips every code point class through encode then decode', () => {
    const samples = ['', 'a', ' ', '%', '"', '\u0000', '\u0080', '\u07FF', '\u0800', '\uFFFD', '\u{10FFFF}'];
    for (const sample of samples) {
      expect(decodeHeaderValue(encodeHeaderValue(sample), 'x')).toBe(sample);
    }
  });
});

describe('lenient decoding', () => {
  it.each([
    ['%30%31', '01'],
    ['caf%c3%a9', 'café'],
    ['caf%C3%a9', 'café'],
    ['2023-01-15T10%3A30%3A45Z', '2023-01-15T10:30:45Z'],
    ['"  quoted  text  "unquoted', '  quoted  text  unquoted'],
    ['"a\\"b"', 'a"b'],
    ['"a\\\\b"', 'a\\b'],
    ['"\\x"', 'x'],
    ['back\\slash', 'back\\slash'],
    ['"Euro%20%E2%82%AC"', 'Euro €'],
    ['%2520', '%20'],
  ])('%j decodes to %j', (raw, decoded) => {
    expect(decodeHeaderValue(raw, 'subject')).toBe(decoded);
  });

  it('accepts raw UTF-8 bytes (latin1 characters) that form valid UTF-8', () => {
    expect(decodeHeaderValue(latin1('café 😀'), 'subject')).toBe('café 😀');
  });
});

describe('decoding rejects', () => {
  it.each([
    '%',
    '%0',
    '%g0',
    '%0g',
    '%0$',
    'abc%',
    '%ED%B0%80',
    '%ED%A0%80',
    '%ED%A0%80%ED%B0%80',
    '%C0%A0',
    '%E2',
    '%E2%',
    '%E2x',
    '%E2%82',
    '%82',
    '%E2%E2',
    '%FF',
    '"unterminated',
    '"unterminated escape\\',
    '"a"b"',
    '\u00ff',
    '\u0100',
  ])('%j', (raw) => {
    const error = rejection(raw);
    expect(isHeraldError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'HERALD_INVALID_HEADER_ENCODING', attribute: 'subject' });
  });
});
