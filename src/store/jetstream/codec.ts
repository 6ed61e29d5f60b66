import { hash } from 'node:crypto';
import type { CloudEvent, DataKind } from '../../cloudevents/index.js';
import {
  attributesJsonLength,
  attributesJsonOf,
  copyAttributesJson,
  storedAttributesJson,
} from '../../cloudevents/index.js';
import { parseJsonObject } from '../record-json.js';
import type { DeadLetter, NewDeadLetter, TraceHeaders } from '../types.js';

/**
 * How Herald's records look inside JetStream. An event is one message: the body is the attributes as
 * JSON followed by the data bytes, and small headers say where the one ends (`Herald-Attrs`), what kind
 * of data follows (`Herald-Kind`) and carry the trace context (`Herald-Trace`). Attributes stay out of
 * the headers because NATS caps a message's headers at 64 KiB while an extension attribute may be larger.
 */
export const HEADER = {
  attrs: 'Herald-Attrs',
  kind: 'Herald-Kind',
  trace: 'Herald-Trace',
  sequence: 'Herald-Sequence',
  error: 'Herald-Error',
  attempts: 'Herald-Attempts',
  at: 'Herald-At',
  /** A dead letter's key (`NewDeadLetter.key`), when it was added with one. */
  letterKey: 'Herald-Letter-Key',
} as const;

/** A record ready to publish: headers as plain pairs (a fresh `MsgHdrs` is built per attempt). */
export interface EncodedRecord {
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array;
  /** `Nats-Msg-Id`, when deduplication is on. */
  readonly msgId: string | undefined;
  /** Where the data starts in `body` (after the attributes). */
  readonly dataOffset: number;
  /** What was encoded: what a reader gets back once the record is stored. */
  readonly event: CloudEvent;
  readonly trace: TraceHeaders | undefined;
}

/** Header access as `MsgHdrs` offers it. */
export interface HeaderReader {
  get(name: string): string;
  has(name: string): boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A stable `Nats-Msg-Id` for (`source`, `id`) published by `principal`: 144 bits of SHA-256, base64url
 * (24 characters). The anonymous (empty) principal hashes `[source, id]` as before principals were in
 * the key, so a stream written then keeps deduplicating alike; a named one hashes `[source, id,
 * principal]`, so one principal never makes another's event a duplicate.
 */
export function dedupeId(source: string, id: string, principal = ''): string {
  const key = principal === '' ? JSON.stringify([source, id]) : JSON.stringify([source, id, principal]);
  // One-shot hashing (no Hash object per event); 24 base64url characters are exactly 18 bytes.
  return hash('sha256', key, 'base64url').slice(0, 24);
}

function frame(event: CloudEvent): { body: Uint8Array; attrsLength: number } {
  const dataLength = event.data?.byteLength ?? 0;
  // The producer's own JSON text of the attributes when the decoder kept it: copied, not serialised
  // (as the embedded store does; bench/PROFILE.md, ninth and tenth rounds).
  const json = attributesJsonOf(event);
  if (json !== undefined) {
    const attrsLength = attributesJsonLength(json);
    const body = Buffer.allocUnsafe(attrsLength + dataLength);
    copyAttributesJson(json, body, 0);
    if (event.data !== undefined) body.set(event.data, attrsLength);
    return { body, attrsLength };
  }
  // One allocation: the attributes are written straight into the body, not encoded and then copied.
  const attrs = JSON.stringify(event.attributes);
  const attrsLength = Buffer.byteLength(attrs);
  const body = Buffer.allocUnsafe(attrsLength + dataLength);
  body.write(attrs, 0, attrsLength, 'utf8');
  if (event.data !== undefined) body.set(event.data, attrsLength);
  return { body, attrsLength };
}

/** `principal`: who published the event ('' or undefined: anonymous), for its `Nats-Msg-Id`. */
export function encodeEvent(
  event: CloudEvent,
  trace: TraceHeaders | undefined,
  dedupe: boolean,
  principal?: string,
): EncodedRecord {
  const { body, attrsLength } = frame(event);
  const headers: Array<[string, string]> = [
    [HEADER.attrs, String(attrsLength)],
    [HEADER.kind, String(event.dataKind)],
  ];
  if (trace !== undefined) headers.push([HEADER.trace, JSON.stringify(trace)]);
  const msgId = dedupe
    ? dedupeId(String(event.attributes['source']), String(event.attributes['id']), principal)
    : undefined;
  return { headers, body, msgId, dataOffset: attrsLength, event, trace };
}

/** Reads a record written by `encodeEvent`; undefined when the message is not one of Herald's. */
export function decodeEvent(
  headers: HeaderReader | undefined,
  body: Uint8Array,
): { event: CloudEvent; trace: TraceHeaders | undefined } | undefined {
  if (headers === undefined || !headers.has(HEADER.attrs) || !headers.has(HEADER.kind)) return undefined;
  const attrsLength = Number(headers.get(HEADER.attrs));
  const dataKind = Number(headers.get(HEADER.kind)) as DataKind;
  if (!Number.isInteger(attrsLength) || attrsLength < 0 || attrsLength > body.byteLength) return undefined;
  // A message with Herald's headers but not Herald's JSON (written by hand or by a tool, or cut short)
  // is skipped like any message Herald did not write.
  const attributes = parseJsonObject<CloudEvent['attributes']>(decoder.decode(body.subarray(0, attrsLength)));
  const trace = headers.has(HEADER.trace)
    ? parseJsonObject<TraceHeaders>(headers.get(HEADER.trace))
    : undefined;
  if (attributes === undefined || (headers.has(HEADER.trace) && trace === undefined)) return undefined;
  return {
    event: {
      attributes,
      data: dataKind === 0 ? undefined : body.subarray(attrsLength),
      dataKind,
      attributesJson: storedAttributesJson(attributes, body, attrsLength),
    },
    trace,
  };
}

export function encodeDeadLetter(letter: NewDeadLetter): EncodedRecord {
  const encoded = encodeEvent(letter.event, letter.trace, false);
  return {
    ...encoded,
    headers: [
      ...encoded.headers,
      [HEADER.sequence, String(letter.sequence)],
      [HEADER.error, JSON.stringify(letter.error)],
      [HEADER.attempts, String(letter.attempts)],
      [HEADER.at, String(letter.deadLetteredAt)],
      ...(letter.key === undefined ? [] : [[HEADER.letterKey, letter.key] as const]),
    ],
  };
}

export function decodeDeadLetter(
  id: string,
  subscription: string,
  headers: HeaderReader | undefined,
  body: Uint8Array,
): DeadLetter | undefined {
  const decoded = decodeEvent(headers, body);
  if (decoded === undefined || headers === undefined) return undefined;
  // As in `decodeEvent`: one letter not in Herald's JSON must not fail every list of the subscription.
  const error = parseJsonObject<DeadLetter['error']>(headers.get(HEADER.error));
  if (error === undefined) return undefined;
  return {
    id,
    subscription,
    sequence: Number(headers.get(HEADER.sequence)),
    event: decoded.event,
    trace: decoded.trace,
    error,
    attempts: Number(headers.get(HEADER.attempts)),
    deadLetteredAt: Number(headers.get(HEADER.at)),
  };
}

/**
 * Encodes any id as a KV key and subject token: letters, digits, `-` and `_` stay, every other UTF-8
 * byte becomes `=XX`. Reversible, and free of `.`, `*`, `>` and whitespace.
 */
export function encodeToken(id: string): string {
  let out = '';
  for (const char of id) {
    if (/^[A-Za-z0-9_-]$/.test(char)) {
      out += char;
      continue;
    }
    for (const byte of encoder.encode(char)) out += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function decodeToken(token: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '=') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  return decoder.decode(new Uint8Array(bytes));
}
