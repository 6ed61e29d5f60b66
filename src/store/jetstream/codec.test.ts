import { describe, expect, it } from 'vitest';
import { parseBatch, parseStructured } from '../../cloudevents/index.js';
import type { HeaderReader } from './codec.js';
import { decodeEvent, encodeEvent } from './codec.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

/** The record's headers as `decodeEvent` reads them from a stored message. */
function reader(headers: ReadonlyArray<readonly [string, string]>): HeaderReader {
  const map = new Map(headers);
  return { get: (name) => map.get(name) ?? '', has: (name) => map.has(name) };
}

describe('the JetStream record codec', () => {
  it("writes the producer's attributes text as sent (less its data member), and reads the same event back", () => {
    const body =
      '{ "specversion" : "1.0", "id":"a-1", "data" : {"n": 1e1},\n "source":"/s", "type":"t", "x":10 }';
    const event = parseStructured('application/cloudevents+json', Buffer.from(body));
    const record = encodeEvent(event, undefined, true);
    expect(text(record.body.subarray(0, record.dataOffset))).toBe(
      '{ "specversion" : "1.0", "id":"a-1",\n "source":"/s", "type":"t", "x":10 }',
    );
    expect(text(record.body.subarray(record.dataOffset))).toBe('{"n": 1e1}');
    const decoded = decodeEvent(reader(record.headers), record.body);
    expect(decoded?.event.attributes).toEqual(event.attributes);
    expect(text(decoded?.event.data ?? new Uint8Array())).toBe('{"n": 1e1}');
  });

  it('serialises the attributes of an event derived with other attributes (its text is stale)', () => {
    const [event] = parseBatch(
      'application/cloudevents-batch+json',
      Buffer.from('[{"specversion":"1.0","id":"b","source":"/s","type":"t","data":2}]'),
    );
    const derived = { ...event!, attributes: { ...event!.attributes, type: 'u' } };
    const record = encodeEvent(derived, undefined, false);
    const decoded = decodeEvent(reader(record.headers), record.body);
    expect(decoded?.event.attributes).toEqual({ specversion: '1.0', id: 'b', source: '/s', type: 'u' });
    expect(text(record.body.subarray(record.dataOffset))).toBe('2');
  });
});
