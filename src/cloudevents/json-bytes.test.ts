import { describe, expect, it } from 'vitest';
import { parseBatch, parseStructured } from './http-binding.js';
import { batchToJsonBytes, eventToJsonBytes } from './json-bytes.js';
import { eventToJson } from './json-format.js';
import type { CloudEvent } from './types.js';
import { DataKind, attributesJsonOf, storedAttributesJson } from './types.js';

const STRUCTURED = 'application/cloudevents+json';
const head = '"specversion" : "1.0", "id":"e1","source":"/s","type":"t"';

/** Events as a producer sends them, with the spacing of the text kept where the event keeps it. */
const sent: ReadonlyArray<readonly [string, string]> = [
  ['no data', `{ ${head} }`],
  ['JSON data last', `{ ${head}, "data" : {"n": 1,  "s":"€"} }`],
  ['JSON data first', `{"data":[1, 2] , ${head}}`],
  ['JSON data between', `{"specversion":"1.0","data":"x", "id":"e1","source":"/s","type":"t"}`],
  ['text data', `{ ${head}, "datacontenttype":"text/plain", "data":"a \\"quoted\\" line\\n" }`],
  ['base64 data', `{ ${head}, "data_base64":"AAEC/w==" }`],
  ['JSON null data', `{ ${head}, "data":null }`],
  ['text data after a byte order mark', `{ ${head}, "datacontenttype":"text/plain", "data":"\uFEFFhi" }`],
];

const parsed = (bytes: Uint8Array): unknown => JSON.parse(Buffer.from(bytes).toString('utf8'));

describe('eventToJsonBytes', () => {
  it.each(sent)('renders the same JSON as eventToJson (%s)', (_name, body) => {
    const event = parseStructured(STRUCTURED, Buffer.from(body));
    expect(parsed(eventToJsonBytes(event))).toEqual(JSON.parse(eventToJson(event)));
  });

  it('keeps a byte order mark that starts text data', () => {
    const event = parseStructured(STRUCTURED, Buffer.from(sent[7]?.[1] ?? ''));
    expect(Buffer.from(event.data ?? []).toString('hex')).toBe('efbbbf6869');
    expect(parsed(eventToJsonBytes(event))).toMatchObject({ data: '\uFEFFhi' });
    expect(parsed(batchToJsonBytes([event]))).toMatchObject([{ data: '\uFEFFhi' }]);
  });

  it("copies the producer's attribute text instead of serialising the attributes", () => {
    const event = parseStructured(STRUCTURED, Buffer.from(sent[1]?.[1] ?? ''));
    expect(attributesJsonOf(event)).toBeDefined();
    expect(Buffer.from(eventToJsonBytes(event)).toString('utf8')).toBe(
      `{ ${head} ,"data":{"n": 1,  "s":"€"}}`,
    );
  });

  it('renders the attributes an event was derived with, not the stale text of the one it came from', () => {
    const event = parseStructured(STRUCTURED, Buffer.from(sent[1]?.[1] ?? ''));
    const derived: CloudEvent = { ...event, attributes: { ...event.attributes, type: 'other' } };
    expect(parsed(eventToJsonBytes(derived))).toMatchObject({ type: 'other', data: { n: 1, s: '€' } });
  });

  it('renders a record read back from a store (the text is the attributes alone)', () => {
    const attributes = { specversion: '1.0', id: 'r', source: '/s', type: 't' };
    const text = Buffer.from(`${JSON.stringify(attributes)}[true]`);
    const length = text.length - '[true]'.length;
    const event: CloudEvent = {
      attributes,
      data: text.subarray(length),
      dataKind: DataKind.Json,
      attributesJson: storedAttributesJson(attributes, text, length),
    };
    expect(Buffer.from(eventToJsonBytes(event)).toString('utf8')).toBe(
      '{"specversion":"1.0","id":"r","source":"/s","type":"t","data":[true]}',
    );
  });

  it('never forwards a repeated attribute name: the text would say what the attributes do not', () => {
    const body = '{"specversion":"1.0","id":"e1","source":"/s","type":"allowed","type":"denied","data":1}';
    const event = parseStructured(STRUCTURED, Buffer.from(body));
    expect(event.attributes['type']).toBe('denied');
    expect(attributesJsonOf(event)).toBeUndefined();
    const rendered = Buffer.from(eventToJsonBytes(event)).toString('utf8');
    expect(rendered).not.toContain('allowed');
    expect(JSON.parse(rendered)).toMatchObject({ type: 'denied', data: 1 });
  });
});

describe('batchToJsonBytes', () => {
  it('renders a batch as the array of its events, each as eventToJson renders it', () => {
    const body = `[${sent.map(([, event]) => event).join(' , ')}]`;
    const events = parseBatch('application/cloudevents-batch+json', Buffer.from(body));
    expect(parsed(batchToJsonBytes(events))).toEqual(events.map((event) => JSON.parse(eventToJson(event))));
  });

  it('renders an empty batch as an empty array', () => {
    expect(Buffer.from(batchToJsonBytes([])).toString('utf8')).toBe('[]');
  });
});
