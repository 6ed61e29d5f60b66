import { describe, expect, it } from 'vitest';
import {
  binaryModeCarries,
  detectMode,
  hasBinaryHeaders,
  parseBatch,
  parseBinary,
  parseStructured,
  toBinaryHeaders,
} from './http-binding.js';
import { eventFromJson } from './json-format.js';
import { jsonDepthExceeded } from './json-scan.js';
import type { CloudEvent } from './types.js';
import { DataKind } from './types.js';
import { thrownBy } from '../testing/thrown.js';

const minimal = {
  specversion: '1.0',
  id: 'minimal',
  source: 'https://cloudevents.io',
  type: 'io.cloudevents.test',
};
const requiredHeaders = [
  'ce-specversion',
  '1.0',
  'ce-id',
  'minimal',
  'ce-source',
  'https://cloudevents.io',
  'ce-type',
  'io.cloudevents.test',
];
const bytes = (text: string) => Buffer.from(text, 'utf8');
const empty = new Uint8Array(0);

describe('detectMode (HTTP binding §3)', () => {
  it.each([
    [undefined, 'binary'],
    ['application/json', 'binary'],
    ['text/plain', 'binary'],
    ['application/cloudevents+json', 'structured'],
    ['application/cloudevents+json; charset=UTF-8', 'structured'],
    ['Application/CloudEvents+JSON', 'structured'],
    ['application/cloudevents+avro', 'structured'],
    ['  application/cloudevents+json', 'structured'],
    ['application/cloudevents-batch+json', 'batch'],
    ['APPLICATION/CLOUDEVENTS-BATCH+JSON; charset=utf-8', 'batch'],
    ['application/cloudevents-batch', 'batch'],
    ['application/cloudeventsx', 'structured'],
    ['text/application/cloudevents+json', 'binary'],
  ])('%j is %s', (contentType, mode) => {
    expect(detectMode(contentType)).toBe(mode);
  });
});

describe('parseStructured and parseBatch', () => {
  it('parses a structured event, media type matched case-insensitively', () => {
    const event = parseStructured(
      'Application/CloudEvents+JSON; charset=utf-8',
      bytes(JSON.stringify(minimal)),
    );
    expect(event.attributes).toEqual(minimal);
  });

  it('refuses other event formats with 415', () => {
    expect(thrownBy(() => parseStructured('application/cloudevents+xml', bytes('<x/>')))).toMatchObject({
      code: 'HERALD_UNSUPPORTED_MEDIA_TYPE',
      status: 415,
    });
    expect(thrownBy(() => parseBatch('application/cloudevents-batch+avro', bytes('[]')))).toMatchObject({
      code: 'HERALD_UNSUPPORTED_MEDIA_TYPE',
    });
  });

  it('parses batches, including the empty batch', () => {
    expect(parseBatch('application/cloudevents-batch+json', bytes('[]'))).toEqual([]);
    const events = parseBatch(
      'application/cloudevents-batch+json',
      bytes(JSON.stringify([minimal, { ...minimal, id: '2', data: 1 }])),
    );
    expect(events.map((e) => e.attributes['id'])).toEqual(['minimal', '2']);
  });

  it('refuses a batch of more than maxEvents events (413), also when the scan cannot walk it', () => {
    const batch = 'application/cloudevents-batch+json';
    const three = JSON.stringify([minimal, { ...minimal, id: '2' }, { ...minimal, id: '3' }]);
    expect(parseBatch(batch, bytes(three), 64, 3)).toHaveLength(3);
    expect(thrownBy(() => parseBatch(batch, bytes(three), 64, 2))).toMatchObject({
      code: 'HERALD_TOO_MANY_EVENTS',
      status: 413,
    });
    // Non-objects make the scan give up: the parsed array is counted before any element is validated.
    expect(thrownBy(() => parseBatch(batch, bytes('[1,2,3]'), 64, 2))).toMatchObject({
      code: 'HERALD_TOO_MANY_EVENTS',
    });
    // ... and before it is parsed: the count refuses a body the parser would have choked on later.
    expect(
      thrownBy(() => parseBatch(batch, bytes('[1, "a,b", [4, 5], {"c": [6]}, 7, {'), 64, 4)),
    ).toMatchObject({ code: 'HERALD_TOO_MANY_EVENTS' });
    expect(thrownBy(() => parseBatch(batch, bytes('[1, "a,b", [4, 5], {"c": [6]}, {'), 64, 5))).toMatchObject(
      { code: 'HERALD_MALFORMED_JSON' },
    );
  });

  it.each<[string, string, Record<string, unknown>]>([
    ['an object', JSON.stringify(minimal), { code: 'HERALD_INVALID_BATCH' }],
    ['a number', '1', { code: 'HERALD_INVALID_BATCH' }],
    ['truncated JSON', '[{"specversion"', { code: 'HERALD_MALFORMED_JSON' }],
    [
      'a non-object element',
      `[${JSON.stringify(minimal)},1]`,
      { code: 'HERALD_INVALID_EVENT', index: 1, pointer: '/1' },
    ],
    [
      'a member missing id',
      JSON.stringify([minimal, { ...minimal, id: undefined }]),
      { code: 'HERALD_MISSING_ATTRIBUTE', index: 1, attribute: 'id', pointer: '/1/id' },
    ],
    [
      'mixed specversions',
      JSON.stringify([minimal, { ...minimal, specversion: '0.3' }]),
      { code: 'HERALD_UNSUPPORTED_SPECVERSION', index: 1, attribute: 'specversion' },
    ],
  ])('rejects a batch that is %s', (_name, body, expected) => {
    expect(thrownBy(() => parseBatch('application/cloudevents-batch+json', bytes(body)))).toMatchObject(
      expected,
    );
  });
});

describe('binaryModeCarries (HTTP binding §3)', () => {
  const event = (datacontenttype?: string): CloudEvent => ({
    attributes: {
      specversion: '1.0',
      id: 'e',
      source: '/s',
      type: 't',
      ...(datacontenttype === undefined ? {} : { datacontenttype }),
    },
    data: undefined,
    dataKind: DataKind.None,
  });

  it('is false for a datacontenttype a receiver would read as structured or batch mode', () => {
    for (const type of [
      'application/cloudevents+json',
      'Application/CloudEvents-Batch+JSON; charset=utf-8',
      'application/cloudevents',
      // The binding's test is the prefix, whatever follows it.
      'application/cloudeventsx+json',
    ]) {
      expect(binaryModeCarries(event(type)), type).toBe(false);
    }
    for (const type of [undefined, 'application/json', 'text/plain', 'application/json+cloudevents']) {
      expect(binaryModeCarries(event(type)), String(type)).toBe(true);
    }
  });
});

describe('parseBinary', () => {
  it('maps ce- headers case-insensitively and decodes percent-encoding', () => {
    const event = parseBinary(
      [
        'CE-SpecVersion',
        '1.0',
        'Ce-Id',
        'x',
        'ce-source',
        '/s',
        'ce-type',
        't',
        'ce-subject',
        'Euro%20%E2%82%AC%20%F0%9F%98%80',
        'Host',
        'h',
      ],
      undefined,
      empty,
    );
    expect(event.attributes).toEqual({
      specversion: '1.0',
      id: 'x',
      source: '/s',
      type: 't',
      subject: 'Euro € 😀',
    });
    expect(event.dataKind).toBe(DataKind.None);
    expect(event.data).toBeUndefined();
  });

  it('takes datacontenttype from Content-Type', () => {
    const event = parseBinary(requiredHeaders, 'application/json; charset=utf-8', bytes('{"a":1}'));
    expect(event.attributes['datacontenttype']).toBe('application/json; charset=utf-8');
    expect(event.dataKind).toBe(DataKind.Json);
  });

  it.each<[string, string | undefined, Uint8Array, number]>([
    ['JSON body', 'application/json', bytes('{"a":1}'), DataKind.Json],
    ['vendor +json body', 'application/vnd.x+json', bytes('[1]'), DataKind.Json],
    ['invalid JSON under a JSON type', 'application/json', bytes('{"a":'), DataKind.Binary],
    ['text body', 'text/plain', bytes('hello €'), DataKind.Text],
    ['XML body', 'application/xml', bytes('<much wow="xml"/>'), DataKind.Text],
    ['non-UTF-8 text', 'text/plain', new Uint8Array([0xff, 0xfe]), DataKind.Binary],
    ['octet-stream body', 'application/octet-stream', new Uint8Array([0, 1, 2]), DataKind.Binary],
    ['body without content type', undefined, bytes('{"a":1}'), DataKind.Binary],
    ['empty body', 'application/json', empty, DataKind.None],
  ])('classifies a %s', (_name, contentType, body, kind) => {
    const event = parseBinary(requiredHeaders, contentType, body);
    expect(event.dataKind).toBe(kind);
    if (kind !== DataKind.None) expect(Buffer.from(event.data ?? empty).equals(Buffer.from(body))).toBe(true);
  });

  it.each<[string, string[], string | undefined, Record<string, unknown>]>([
    [
      'missing ce-id',
      ['ce-specversion', '1.0', 'ce-source', '/s', 'ce-type', 't'],
      undefined,
      { code: 'HERALD_MISSING_ATTRIBUTE', attribute: 'id' },
    ],
    [
      'duplicate ce-id',
      [...requiredHeaders, 'CE-ID', 'again'],
      undefined,
      { code: 'HERALD_INVALID_ATTRIBUTE', attribute: 'id' },
    ],
    [
      'a ce-datacontenttype header',
      [...requiredHeaders, 'ce-datacontenttype', 'text/plain'],
      'text/plain',
      { code: 'HERALD_INVALID_ATTRIBUTE', attribute: 'datacontenttype' },
    ],
    [
      'bad percent-encoding',
      [...requiredHeaders, 'ce-subject', '%E2%82'],
      undefined,
      { code: 'HERALD_INVALID_HEADER_ENCODING', attribute: 'subject' },
    ],
    [
      'an encoded control character',
      [...requiredHeaders, 'ce-subject', 'a%00b'],
      undefined,
      { code: 'HERALD_INVALID_ATTRIBUTE', attribute: 'subject' },
    ],
    [
      'an invalid Content-Type',
      requiredHeaders,
      'xyz',
      { code: 'HERALD_INVALID_ATTRIBUTE', attribute: 'datacontenttype' },
    ],
    [
      'a ce-__proto__ header',
      [...requiredHeaders, 'ce-__proto__', 'x'],
      undefined,
      { code: 'HERALD_INVALID_ATTRIBUTE_NAME', attribute: '__proto__' },
    ],
    [
      'an upper-case-only extension made lower-case but punctuated',
      [...requiredHeaders, 'ce-my.ext', 'x'],
      undefined,
      { code: 'HERALD_INVALID_ATTRIBUTE_NAME', attribute: 'my.ext' },
    ],
  ])('rejects %s', (_name, headers, contentType, expected) => {
    expect(thrownBy(() => parseBinary(headers, contentType, empty))).toMatchObject(expected);
  });

  it('accepts an extension named constructor', () => {
    const event = parseBinary([...requiredHeaders, 'ce-constructor', 'x'], undefined, empty);
    expect(event.attributes['constructor']).toBe('x');
  });

  it('detects binary mode by any ce- header, case-insensitively', () => {
    expect(hasBinaryHeaders(['Content-Type', 'text/plain'])).toBe(false);
    expect(hasBinaryHeaders(['CE-Id', 'x'])).toBe(true);
    expect(hasBinaryHeaders(['ce-', 'x', 'cex', 'y'])).toBe(false);
  });
});

describe('toBinaryHeaders', () => {
  it('percent-encodes values and maps datacontenttype to content-type', () => {
    const event = eventFromJson({
      ...minimal,
      subject: 'Euro € 😀',
      datacontenttype: 'text/plain; charset=utf-8',
      extinteger: 10,
      extboolean: false,
      data: 'x',
    });
    expect(toBinaryHeaders(event)).toEqual({
      'ce-specversion': '1.0',
      'ce-id': 'minimal',
      'ce-source': 'https://cloudevents.io',
      'ce-type': 'io.cloudevents.test',
      'ce-subject': 'Euro%20%E2%82%AC%20%F0%9F%98%80',
      'ce-extinteger': '10',
      'ce-extboolean': 'false',
      'content-type': 'text/plain; charset=utf-8',
    });
  });

  it('sets application/json for JSON data without datacontenttype, and nothing for bytes', () => {
    expect(toBinaryHeaders(eventFromJson({ ...minimal, data: "I'm just a string" }))['content-type']).toBe(
      'application/json',
    );
    expect(
      toBinaryHeaders(eventFromJson({ ...minimal, data_base64: 'TWE=' }))['content-type'],
    ).toBeUndefined();
    expect(toBinaryHeaders(eventFromJson(minimal))['content-type']).toBeUndefined();
  });

  it('round-trips through parseBinary', () => {
    const original = eventFromJson({
      ...minimal,
      subject: 'a "quoted" 100% café 😀',
      time: '2018-04-05T17:31:00Z',
      datacontenttype: 'application/json',
      data: { a: 1 },
    });
    const headers = toBinaryHeaders(original);
    const { 'content-type': contentType, ...rest } = headers;
    const decoded = parseBinary(Object.entries(rest).flat(), contentType, original.data ?? empty);
    expect(decoded.attributes).toEqual(original.attributes);
    expect(Buffer.from(decoded.data ?? empty).toString()).toBe('{"a":1}');
  });
});

describe('structured mode data', () => {
  const body = (data: string) =>
    Buffer.from(`{"specversion":"1.0","id":"1","source":"/s","type":"t","data":${data},"subject":"x"}`);

  it('keeps JSON data as the bytes the producer sent, not serialised again', () => {
    const sent = '{ "amount" : 1.50, "tags" : [ "é" ] }';
    const event = parseStructured('application/cloudevents+json', body(sent));
    expect(Buffer.from(event.data ?? []).toString()).toBe(sent);
    expect(event.dataKind).toBe(DataKind.Json);
    expect(event.attributes['subject']).toBe('x');
  });

  it('serialises the parsed value when the bytes cannot be located safely (an escaped member name)', () => {
    const text = '{"specversion":"1.0","id":"1","source":"/s","type":"t","d\\u0061ta":{ "a" : 1 }}';
    const event = parseStructured('application/cloudevents+json', Buffer.from(text));
    expect(Buffer.from(event.data ?? []).toString()).toBe('{"a":1}');
  });
});

describe('the depth limit in the decoder’s own pass', () => {
  it('refuses structured and batch bodies at the byte jsonDepthExceeded names, and decodes them within it', () => {
    const event = '{"specversion":"1.0","id":"1","source":"/s","type":"t","data":{"a":[{"b":[[]]}]}}';
    const cases = [
      {
        parse: (max: number) => parseStructured('application/cloudevents+json', Buffer.from(event), max),
        text: event,
      },
      {
        parse: (max: number) =>
          parseBatch('application/cloudevents-batch+json', Buffer.from(`[${event}, ${event}]`), max),
        text: `[${event}, ${event}]`,
      },
    ];
    for (const { parse, text } of cases) {
      for (let max = 1; max <= 7; max++) {
        const at = jsonDepthExceeded(Buffer.from(text), max);
        if (at < 0) expect(() => parse(max)).not.toThrow();
        else {
          expect(thrownBy(() => parse(max))).toMatchObject({
            code: 'HERALD_JSON_TOO_DEEP',
            message: expect.stringContaining(`(at byte ${at})`) as unknown,
          });
        }
      }
    }
  });
});
