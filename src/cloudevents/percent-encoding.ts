import { HeraldError } from '../errors/index.js';

/**
 * Percent-encoding of HTTP header values, CloudEvents HTTP binding §3.1.3.2.
 *
 * @remarks `encodeURIComponent`/`decodeURIComponent` are not equivalent: they encode `:/?&=+!`, and
 * decode without rejecting overlong or otherwise invalid UTF-8.
 */

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();
const HEX = '0123456789ABCDEF';

/** Encodes space, `"`, `%` and everything outside printable ASCII, as UTF-8 bytes in upper-case hex. */
export function encodeHeaderValue(value: string): string {
  let needs = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x22 || c === 0x25) {
      needs = true;
      break;
    }
  }
  if (!needs) return value;
  let out = '';
  for (const ch of value) {
    const c = ch.codePointAt(0) ?? 0;
    if (c > 0x20 && c < 0x7f && c !== 0x22 && c !== 0x25) {
      out += ch;
      continue;
    }
    for (const byte of utf8Encoder.encode(ch)) out += '%' + HEX[byte >> 4] + HEX[byte & 0xf];
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Undoes RFC 7230 quoted-string quoting: quoted runs lose their quotes and backslash escapes. */
function unquote(raw: string, attribute: string): string {
  if (!raw.includes('"')) return raw;
  let out = '';
  let inQuotes = false;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] as string;
    if (ch === '"') {
      inQuotes = !inQuotes;
    } else if (inQuotes && ch === '\\') {
      // An escape with nothing after it leaves the quote open, which is rejected below.
      i++;
      if (i < raw.length) out += raw[i];
    } else {
      out += ch;
    }
  }
  if (inQuotes) {
    throw new HeraldError(
      'HERALD_INVALID_HEADER_ENCODING',
      `header ce-${attribute} has an unterminated quoted string`,
      {
        attribute,
      },
    );
  }
  return out;
}

/**
 * Decodes one header value: quoted-string unquoting, then a single round of percent-decoding into
 * bytes, then strict UTF-8. Node hands header bytes over as latin1 characters, so raw non-ASCII bytes
 * are kept as bytes and must form valid UTF-8 too.
 */
export function decodeHeaderValue(raw: string, attribute: string): string {
  const value = unquote(raw, attribute);
  let plain = true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 || c >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) return value;
  const bytes = new Uint8Array(value.length);
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25) {
      const hi = i + 1 < value.length ? hexValue(value.charCodeAt(i + 1)) : -1;
      const lo = i + 2 < value.length ? hexValue(value.charCodeAt(i + 2)) : -1;
      if (hi < 0 || lo < 0) {
        throw new HeraldError(
          'HERALD_INVALID_HEADER_ENCODING',
          `header ce-${attribute} has a malformed percent-escape at offset ${i}`,
          { attribute },
        );
      }
      bytes[n++] = (hi << 4) | lo;
      i += 2;
    } else if (c > 0xff) {
      throw new HeraldError('HERALD_INVALID_HEADER_ENCODING', `header ce-${attribute} is not a byte string`, {
        attribute,
      });
    } else {
      bytes[n++] = c;
    }
  }
  try {
    return utf8Strict.decode(bytes.subarray(0, n));
  } catch (cause) {
    throw new HeraldError(
      'HERALD_INVALID_HEADER_ENCODING',
      `header ce-${attribute} decodes to invalid UTF-8 (overlong, truncated or surrogate sequences are rejected)`,
      { attribute, cause },
    );
  }
}
