// Acceptance: every ingress mode round-trips. What `GET /events` returns is the event that was sent:
// the same attributes (typed extensions included), and the same data (bytes for binary bodies, the same
// JSON value for JSON).
import { describe, expect, it } from 'vitest';
import { useBroker } from '../harness/processes.js';
import { binaryHeaders, findEvent, getLogPage, readLog, send } from '../support/http.js';
import type { JsonEvent } from '../support/http.js';

const ctx = useBroker();

const SOURCE = '/herald/tests';
const TYPE = 'dev.herald.test';
const required = (id: string) => ({ specversion: '1.0', id, source: SOURCE, type: TYPE });

/** The data bytes of a read-back event: from data_base64, a data string, or a JSON value. */
function dataBytes(event: JsonEvent): Buffer {
  if (typeof event['data_base64'] === 'string') return Buffer.from(event['data_base64'], 'base64');
  if (typeof event['data'] === 'string') return Buffer.from(event['data'], 'utf8');
  return Buffer.from(JSON.stringify(event['data']), 'utf8');
}

async function publish(
  path: string,
  headers: Record<string, string | readonly string[]>,
  body?: string | Uint8Array,
) {
  const response = await send(ctx.broker.url, { path, headers, ...(body === undefined ? {} : { body }) });
  expect(response.status, response.text()).toBe(202);
  return response;
}

describe('binary mode', () => {
  it('round-trips a JSON body, a percent-encoded non-ASCII subject, time and extensions', async () => {
    await publish(
      '/events',
      binaryHeaders('bin-json', {
        'content-type': 'application/json; charset=utf-8',
        'ce-subject': 'Euro%20%E2%82%AC%20%F0%9F%98%80',
        'ce-time': '2018-04-05T17:31:00+02:00',
        'ce-dataschema': 'https://example.com/schema',
        'ce-comexampleextension1': 'value',
        'ce-comexampleothervalue': '5',
        'ce-traceid': 'a%22quoted%22%25value',
      }),
      JSON.stringify({ message: 'héllo', list: [1, 2.5, true, null] }),
    );
    const { event } = await findEvent(ctx.broker.adminUrl, 'bin-json');
    expect(event).toEqual({
      ...required('bin-json'),
      datacontenttype: 'application/json; charset=utf-8',
      subject: 'Euro € 😀',
      time: '2018-04-05T17:31:00+02:00',
      dataschema: 'https://example.com/schema',
      comexampleextension1: 'value',
      comexampleothervalue: '5',
      traceid: 'a"quoted"%value',
      data: { message: 'héllo', list: [1, 2.5, true, null] },
    });
  });

  it('round-trips a text body as the same text', async () => {
    const text = 'line 1 — ünïcödé 😀\nline 2\r\n';
    await publish(
      '/events',
      binaryHeaders('bin-text', { 'content-type': 'text/plain; charset=utf-8' }),
      text,
    );
    const { event } = await findEvent(ctx.broker.adminUrl, 'bin-text');
    expect(event).toEqual({
      ...required('bin-text'),
      datacontenttype: 'text/plain; charset=utf-8',
      data: text,
    });
  });

  it('round-trips an opaque binary body byte for byte (data_base64)', async () => {
    const bytes = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) % 256));
    await publish(
      '/events',
      binaryHeaders('bin-bytes', { 'content-type': 'application/octet-stream' }),
      bytes,
    );
    const { event } = await findEvent(ctx.broker.adminUrl, 'bin-bytes');
    expect(event['datacontenttype']).toBe('application/octet-stream');
    expect(event['data']).toBeUndefined();
    expect(dataBytes(event).equals(bytes)).toBe(true);
  });

  it('keeps invalid UTF-8 under a text type and invalid JSON under a JSON type as bytes', async () => {
    const notUtf8 = Buffer.from([0x68, 0x69, 0xff, 0xfe, 0x00]);
    await publish('/events', binaryHeaders('bin-badtext', { 'content-type': 'text/plain' }), notUtf8);
    expect(dataBytes((await findEvent(ctx.broker.adminUrl, 'bin-badtext')).event).equals(notUtf8)).toBe(true);
    const notJson = Buffer.from('{"unterminated": ');
    await publish('/events', binaryHeaders('bin-badjson', { 'content-type': 'application/json' }), notJson);
    const { event } = await findEvent(ctx.broker.adminUrl, 'bin-badjson');
    expect(event['datacontenttype']).toBe('application/json');
    expect(dataBytes(event).equals(notJson)).toBe(true);
  });

  it('round-trips a body without Content-Type as bytes and no datacontenttype', async () => {
    const bytes = Buffer.from('{"looks":"like json"}');
    await publish('/events', binaryHeaders('bin-untyped'), bytes);
    const { event } = await findEvent(ctx.broker.adminUrl, 'bin-untyped');
    expect(event['datacontenttype']).toBeUndefined();
    expect(dataBytes(event).equals(bytes)).toBe(true);
  });

  it('stores an event without a body as an event without data', async () => {
    await publish('/events', binaryHeaders('bin-nodata', { 'ce-subject': 'no body' }));
    const { event } = await findEvent(ctx.broker.adminUrl, 'bin-nodata');
    expect(event).toEqual({ ...required('bin-nodata'), subject: 'no body' });
  });

  it('decodes quoted-string header values, raw UTF-8 header bytes and mixed-case header names', async () => {
    await publish('/events', {
      'CE-SpecVersion': '1.0',
      'Ce-Id': 'bin-quoted',
      'CE-SOURCE': SOURCE,
      'ce-type': TYPE,
      'ce-subject': '"  quoted  text  "unquoted',
      // Node sends these latin1 characters as the raw bytes of UTF-8 "café".
      'ce-place': Buffer.from('café', 'utf8').toString('latin1'),
      'ce-lower': 'caf%c3%a9',
    });
    const { event } = await findEvent(ctx.broker.adminUrl, 'bin-quoted');
    expect(event).toEqual({
      ...required('bin-quoted'),
      subject: '  quoted  text  unquoted',
      place: 'café',
      lower: 'café',
    });
  });

  it('accepts an extension named constructor', async () => {
    await publish('/events', binaryHeaders('bin-constructor', { 'ce-constructor': 'builder' }));
    expect((await findEvent(ctx.broker.adminUrl, 'bin-constructor')).event['constructor']).toBe('builder');
  });
});

describe('structured mode', () => {
  async function roundTrip(
    event: JsonEvent,
    contentType = 'application/cloudevents+json; charset=UTF-8',
    path = '/events',
  ) {
    await publish(path, { 'content-type': contentType }, JSON.stringify(event));
    return (await findEvent(ctx.broker.adminUrl, event['id'] as string)).event;
  }

  it('round-trips a JSON data value with every core attribute', async () => {
    const event = {
      ...required('st-json'),
      source: 'https://cloudevents.io',
      subject: 'Euro € 😀',
      time: '2018-04-05T17:31:00.123456789Z',
      datacontenttype: 'application/json',
      dataschema: 'urn:example:schema',
      data: { nested: { array: [1, -2, 3.25, 'x', false, null] }, empty: {} },
    };
    expect(await roundTrip(event)).toEqual(event);
  });

  it('round-trips a string of text/plain data', async () => {
    const event = { ...required('st-text'), datacontenttype: 'text/plain', data: 'just text, "quoted" 😀' };
    expect(await roundTrip(event)).toEqual(event);
  });

  it('round-trips data_base64 byte for byte', async () => {
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
    const event = {
      ...required('st-base64'),
      datacontenttype: 'application/vnd.apache.thrift.binary',
      data_base64: bytes.toString('base64'),
    };
    const back = await roundTrip(event);
    expect(back).toEqual(event);
    expect(dataBytes(back).equals(bytes)).toBe(true);
  });

  it('round-trips data_base64 without datacontenttype', async () => {
    const event = { ...required('st-base64-untyped'), data_base64: 'eyAieHl6IjogMTIzIH0=' };
    expect(await roundTrip(event)).toEqual(event);
  });

  it('keeps an explicit data: null distinct from no data', async () => {
    const back = await roundTrip({ ...required('st-null'), data: null });
    expect(back).toEqual({ ...required('st-null'), data: null });
    expect('data' in back).toBe(true);
    const none = await roundTrip({ ...required('st-absent') });
    expect('data' in none).toBe(false);
  });

  it('keeps a JSON string as a string, not a parsed document', async () => {
    const event = { ...required('st-string'), data: '{"not":"parsed"}' };
    expect(await roundTrip(event)).toEqual(event);
  });

  it('keeps the types of Integer, Boolean and String extensions', async () => {
    const event = {
      ...required('st-ext'),
      extinteger: 10,
      extnegative: -2147483648,
      extmax: 2147483647,
      exttrue: true,
      extfalse: false,
      extstring: '10',
      extbinary: 'TWE=',
      exttimestamp: '2023-03-31T15:12:00Z',
      exturi: 'https://example.com/',
      exturiref: '//authority/path',
      data: 1.5,
    };
    expect(await roundTrip(event)).toEqual(event);
  });

  it('treats null optional attributes as unset and accepts a relative source', async () => {
    const back = await roundTrip({
      ...required('st-nulls'),
      source: '#fragment',
      subject: null,
      time: null,
      datacontenttype: null,
      dataschema: null,
      data_base64: null,
    });
    expect(back).toEqual({ ...required('st-nulls'), source: '#fragment' });
  });

  it('matches the structured media type case-insensitively', async () => {
    const event = { ...required('st-case'), data: [1] };
    expect(await roundTrip(event, 'Application/CloudEvents+JSON')).toEqual(event);
  });

  it('takes the body as authoritative when ce- headers are present too', async () => {
    const event = { ...required('st-headers'), subject: 'from the body' };
    await publish(
      '/events',
      { 'content-type': 'application/cloudevents+json', 'ce-subject': 'from%20a%20header', 'ce-id': 'other' },
      JSON.stringify(event),
    );
    expect((await findEvent(ctx.broker.adminUrl, 'st-headers')).event).toEqual(event);
  });
});

describe('batch mode', () => {
  it('stores every event of a batch, in order, with consecutive sequences', async () => {
    const batch = [
      { ...required('batch-1'), data: { n: 1 } },
      { ...required('batch-2'), datacontenttype: 'text/plain', data: 'two' },
      { ...required('batch-3'), data_base64: 'AAEC' },
      { ...required('batch-4'), extinteger: 4, extboolean: true },
    ];
    const before = await getLogPage(ctx.broker.adminUrl);
    await publish('/events', { 'content-type': 'application/cloudevents-batch+json' }, JSON.stringify(batch));
    const stored = (await readLog(ctx.broker.adminUrl)).filter((entry) => entry.sequence >= before.next);
    expect(stored.map((entry) => entry.event)).toEqual(batch);
    const sequences = stored.map((entry) => entry.sequence);
    expect(sequences).toEqual([0, 1, 2, 3].map((i) => sequences[0]! + i));
  });

  it('accepts an empty batch and stores nothing', async () => {
    const before = await getLogPage(ctx.broker.adminUrl);
    await publish('/events', { 'content-type': 'application/cloudevents-batch+json; charset=UTF-8' }, '[]');
    const after = await getLogPage(ctx.broker.adminUrl);
    expect(after.events.length).toBe(before.events.length);
    expect(after.next).toBe(before.next);
  });
});

describe('ingress routes', () => {
  it('accepts binary, structured and batch requests on POST /', async () => {
    await publish('/', binaryHeaders('root-binary', { 'content-type': 'text/plain' }), 'root');
    await publish(
      '/',
      { 'content-type': 'application/cloudevents+json' },
      JSON.stringify(required('root-structured')),
    );
    await publish(
      '/',
      { 'content-type': 'application/cloudevents-batch+json' },
      JSON.stringify([required('root-batch')]),
    );
    expect((await findEvent(ctx.broker.adminUrl, 'root-binary')).event['data']).toBe('root');
    await findEvent(ctx.broker.adminUrl, 'root-structured');
    await findEvent(ctx.broker.adminUrl, 'root-batch');
  });

  it('accepts binary and structured events on the seed route POST /events/pub', async () => {
    await publish(
      '/events/pub',
      binaryHeaders('pub-binary', { 'content-type': 'application/json' }),
      '{"a":1}',
    );
    expect((await findEvent(ctx.broker.adminUrl, 'pub-binary')).event['data']).toEqual({ a: 1 });
    const structured = { ...required('pub-structured'), data: { b: 2 } };
    await publish(
      '/events/pub',
      { 'content-type': 'application/cloudevents+json' },
      JSON.stringify(structured),
    );
    expect((await findEvent(ctx.broker.adminUrl, 'pub-structured')).event).toEqual(structured);
  });

  it('reads an application/json body without ce- headers as a structured event on /events/pub only', async () => {
    const event = { ...required('pub-json'), subject: 'seed publisher', data: { c: 3 } };
    await publish(
      '/events/pub',
      { 'content-type': 'application/json; charset=utf-8' },
      JSON.stringify(event),
    );
    expect((await findEvent(ctx.broker.adminUrl, 'pub-json')).event).toEqual(event);

    const elsewhere = { ...required('events-json') };
    const response = await send(ctx.broker.url, {
      path: '/events',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(elsewhere),
    });
    expect(response.status).toBe(415);
    expect((await readLog(ctx.broker.adminUrl)).some((entry) => entry.event['id'] === 'events-json')).toBe(
      false,
    );
  });
});
