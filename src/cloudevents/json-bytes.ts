import type { CloudEvent } from './types.js';
import { DataKind, attributesJsonOf } from './types.js';

const OPEN_BATCH = Buffer.from('[');
const CLOSE_BATCH = Buffer.from(']');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from('}');
const DATA = Buffer.from(',"data":');
const DATA_BASE64 = Buffer.from(',"data_base64":"');
const QUOTE_CLOSE = Buffer.from('"}');
/** Keeps a leading byte order mark as U+FEFF: Text data is rendered with all of its bytes (json-format.ts). */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Appends an event's JSON rendering (the JSON event format) to `parts` as byte chunks, and returns their
 * length. The attributes are the text they were decoded from when the event kept it (the producer's
 * bytes, or a store's record), copied instead of serialised again; the data bytes are copied as they are.
 *
 * @remarks Rendering to a string and then encoding it (`eventToJson`) serialised every attribute and
 * decoded the data to text only for the HTTP client to encode it back: for batch delivery that was
 * ~7.5% of the broker's busy time (bench/PROFILE.md, twelfth round).
 */
function appendEventJson(event: CloudEvent, parts: Uint8Array[]): number {
  const json = attributesJsonOf(event);
  let head: Uint8Array;
  let tail: Uint8Array;
  if (json === undefined) {
    head = Buffer.from(JSON.stringify(event.attributes));
    tail = head.subarray(head.length);
  } else {
    head = json.text.subarray(json.start, json.cutStart);
    tail = json.text.subarray(json.cutEnd, json.end);
  }
  const { data, dataKind } = event;
  if (data === undefined || dataKind === DataKind.None) {
    parts.push(head, tail);
    return head.length + tail.length;
  }
  // The attributes' closing brace, the last byte of the text, gives way to the data member.
  if (tail.length > 0) tail = tail.subarray(0, -1);
  else head = head.subarray(0, -1);
  // `{` alone (an event without attributes, which validation never lets through): no comma before data.
  const skipComma = head.length + tail.length > 1 ? 0 : 1;
  let name = DATA.subarray(skipComma);
  let value: Uint8Array;
  let close = CLOSE;
  if (dataKind === DataKind.Json) value = data;
  else if (dataKind === DataKind.Text) value = Buffer.from(JSON.stringify(utf8.decode(data)));
  else {
    name = DATA_BASE64.subarray(skipComma);
    value = Buffer.from(
      Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
      'latin1',
    );
    close = QUOTE_CLOSE;
  }
  parts.push(head, tail, name, value, close);
  return head.length + tail.length + name.length + value.length + close.length;
}

/** An event in the JSON event format (structured mode), as bytes: the same JSON as `eventToJson`. */
export function eventToJsonBytes(event: CloudEvent): Buffer {
  const parts: Uint8Array[] = [];
  const length = appendEventJson(event, parts);
  return Buffer.concat(parts, length);
}

/** Events as a JSON batch (`application/cloudevents-batch+json`), as bytes. */
export function batchToJsonBytes(events: readonly CloudEvent[]): Buffer {
  const parts: Uint8Array[] = [OPEN_BATCH];
  let length = 2;
  events.forEach((event, i) => {
    if (i > 0) {
      parts.push(COMMA);
      length++;
    }
    length += appendEventJson(event, parts);
  });
  parts.push(CLOSE_BATCH);
  return Buffer.concat(parts, length);
}
