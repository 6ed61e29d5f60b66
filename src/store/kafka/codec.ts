import type { CloudEvent, DataKind } from '../../cloudevents/index.js';
import { DedupeWindow } from '../dedupe-window.js';
import { parseJsonObject } from '../record-json.js';
import type { DeadLetter, NewDeadLetter, TraceHeaders } from '../types.js';

/**
 * How Herald's records look inside Kafka. An event is one record: the value is the attributes as JSON
 * followed by the data bytes; headers say where the one ends (`herald-attrs`), what kind of data
 * follows (`herald-kind`) and carry the trace context (`herald-trace`). The record key is the event's
 * `partitionkey` extension when it has one, so that tools reading the topic see Kafka's usual keying.
 */
export const HEADER = {
  attrs: 'herald-attrs',
  kind: 'herald-kind',
  trace: 'herald-trace',
  subscription: 'herald-subscription',
  sequence: 'herald-sequence',
  error: 'herald-error',
  attempts: 'herald-attempts',
  at: 'herald-at',
  /**
   * The dedupe key (`DedupeWindow.key`: `source` and `id` joined by a space, after the publishing
   * principal's prefix when it has one), readable without parsing the attributes.
   */
  dedupe: 'herald-dedupe',
} as const;

/** A record as the producer takes it. */
export interface OutgoingRecord {
  readonly key: Buffer | undefined;
  readonly value: Buffer | undefined;
  readonly headers: Map<Buffer, Buffer>;
}

/** A record as a fetch returns it, with its absolute offset and its log-append time. */
export interface IncomingRecord {
  readonly offset: number;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: ReadonlyArray<readonly [Buffer | null, Buffer | null]>;
  /** Key, value and header bytes: what the record costs in the log, without Kafka's framing. */
  readonly size: number;
}

function headerMap(pairs: ReadonlyArray<readonly [string, string]>): Map<Buffer, Buffer> {
  return new Map(pairs.map(([name, value]) => [Buffer.from(name), Buffer.from(value)]));
}

/** The value of header `name` as a string, if present. */
export function header(record: IncomingRecord, name: string): string | undefined {
  for (const [key, value] of record.headers) {
    if (key !== null && key.toString('latin1') === name) return value?.toString('utf8') ?? '';
  }
  return undefined;
}

/** `principal`: who published the event ('' or undefined: anonymous), for its dedupe key. */
export function encodeEvent(
  event: CloudEvent,
  trace: TraceHeaders | undefined,
  principal?: string,
): OutgoingRecord {
  const attrs = Buffer.from(JSON.stringify(event.attributes));
  const data = event.data ?? new Uint8Array(0);
  const pairs: Array<[string, string]> = [
    [HEADER.attrs, String(attrs.byteLength)],
    [HEADER.kind, String(event.dataKind)],
  ];
  if (trace !== undefined) pairs.push([HEADER.trace, JSON.stringify(trace)]);
  pairs.push([HEADER.dedupe, dedupeKeyOf(event, principal)]);
  const partitionKey = event.attributes['partitionkey'];
  return {
    key: partitionKey === undefined ? undefined : Buffer.from(String(partitionKey)),
    value: Buffer.concat([attrs, data]),
    headers: headerMap(pairs),
  };
}

/** The dedupe key of `event` published by `principal` ('' or undefined: anonymous). */
export function dedupeKeyOf(event: CloudEvent, principal: string | undefined): string {
  return DedupeWindow.key(String(event.attributes['source']), String(event.attributes['id']), principal);
}

/** Bytes an outgoing record adds to the log (the same measure as `IncomingRecord.size`). */
export function recordSize(record: OutgoingRecord): number {
  let size = (record.key?.byteLength ?? 0) + (record.value?.byteLength ?? 0);
  for (const [k, v] of record.headers) size += k.byteLength + v.byteLength;
  return size;
}

/**
 * What a record adds to a record batch: its bytes plus 64 for its framing (lengths, offset and time
 * deltas), more than Kafka's own framing takes. Appends are checked and producer groups bounded by it.
 */
export function batchedRecordSize(record: OutgoingRecord): number {
  return recordSize(record) + 64;
}

/** Reads a record written by `encodeEvent`; undefined when the record is not one of Herald's. */
export function decodeEvent(
  record: IncomingRecord,
): { event: CloudEvent; trace: TraceHeaders | undefined } | undefined {
  const attrsHeader = header(record, HEADER.attrs);
  const kindHeader = header(record, HEADER.kind);
  const body = record.value;
  if (attrsHeader === undefined || kindHeader === undefined || body === null) return undefined;
  const attrsLength = Number(attrsHeader);
  const dataKind = Number(kindHeader) as DataKind;
  if (!Number.isInteger(attrsLength) || attrsLength < 0 || attrsLength > body.byteLength) return undefined;
  const attributes = parseJsonObject<CloudEvent['attributes']>(
    body.subarray(0, attrsLength).toString('utf8'),
  );
  const traceHeader = header(record, HEADER.trace);
  const trace = traceHeader === undefined ? undefined : parseJsonObject<TraceHeaders>(traceHeader);
  if (attributes === undefined || (traceHeader !== undefined && trace === undefined)) return undefined;
  const data = dataKind === 0 ? undefined : new Uint8Array(body.subarray(attrsLength));
  return { event: { attributes, data, dataKind }, trace };
}

export function encodeDeadLetter(letter: NewDeadLetter, key: string): OutgoingRecord {
  const encoded = encodeEvent(letter.event, letter.trace);
  const extra = headerMap([
    [HEADER.subscription, letter.subscription],
    [HEADER.sequence, String(letter.sequence)],
    [HEADER.error, JSON.stringify(letter.error)],
    [HEADER.attempts, String(letter.attempts)],
    [HEADER.at, String(letter.deadLetteredAt)],
  ]);
  return { key: Buffer.from(key), value: encoded.value, headers: new Map([...encoded.headers, ...extra]) };
}

export function decodeDeadLetter(id: string, record: IncomingRecord): DeadLetter | undefined {
  const decoded = decodeEvent(record);
  const subscription = header(record, HEADER.subscription);
  const error = header(record, HEADER.error);
  if (decoded === undefined || subscription === undefined || error === undefined) return undefined;
  // As in `decodeEvent`: one letter not in Herald's JSON must not fail every list and trim.
  const parsed = parseJsonObject<DeadLetter['error']>(error);
  if (parsed === undefined) return undefined;
  return {
    id,
    subscription,
    sequence: Number(header(record, HEADER.sequence)),
    event: decoded.event,
    trace: decoded.trace,
    error: parsed,
    attempts: Number(header(record, HEADER.attempts)),
    deadLetteredAt: Number(header(record, HEADER.at)),
  };
}
