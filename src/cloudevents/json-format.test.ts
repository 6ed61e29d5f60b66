import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseBatch, parseStructured } from './http-binding.js';
import { dataMemberJson, eventFromJson, eventToJson, parseJsonBody, spliceData } from './json-format.js';
import type { CloudEvent } from './types.js';
import { DataKind, attributesJsonLength, attributesJsonOf, copyAttributesJson } from './types.js';
import { thrownBy } from '../testing/thrown.js';

const minimal = {
  specversion: '1.0',
  id: 'minimal',
  source: 'https://cloudevents.io',
  type: 'io.cloudevents.test',
};
const text = (bytes: Uint8Array | undefined) =>
  bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');

describe('parseJsonBody', () => {
  it('parses UTF-8 JSON', () => {
    expect(parseJsonBody(Buffer.from('{"a":"€"}'))).toEqual({ a: '€' });
  });

  it.each([
    ['truncated JSON', Buffer.from('{"specversion":"1.0"')],
    ['empty body', Buffer.alloc(0)],
    ['not JSON', Buffer.from('hello')],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])],
    ['overlong UTF-8', Buffer.from([0x22, 0xc0, 0xa0, 0x22])],
  ])('rejects %s as HERALD_MALFORMED_JSON', (_name, body) => {
    expect(thrownBy(() => parseJsonBody(body))).toMatchObject({ code: 'HERALD_MALFORMED_JSON' });
  });
});

describe('eventFromJson: data kinds (JSON format §3.1)', () => {
  it('keeps no data when there is no data member', () => {
    const event = eventFromJson({ ...minimal });
    expect(event).toEqual({ attributes: minimal, data: undefined, dataKind: DataKind.None });
  });

  it('stores a JSON value as JSON when datacontenttype is absent or JSON-ish', () => {
    expect(text(eventFromJson({ ...minimal, data: { a: [1, 'x'] } }).data)).toBe('{"a":[1,"x"]}');
    const vendor = eventFromJson({ ...minimal, datacontenttype: 'application/vnd.x+json', data: 1.5 });
    expect(vendor.dataKind).toBe(DataKind.Json);
    expect(text(vendor.data)).toBe('1.5');
  });

  it('keeps a string as a JSON string, not a parsed document (§3.1.2)', () => {
    const event = eventFromJson({ ...minimal, data: '{"not":"parsed"}' });
    expect(event.dataKind).toBe(DataKind.Json);
    expect(text(event.data)).toBe('"{\\"not\\":\\"parsed\\"}"');
  });

  it('distinguishes explicit data: null from an absent data member', () => {
    const event = eventFromJson({ ...minimal, data: null });
    expect(event.dataKind).toBe(DataKind.Json);
    expect(text(event.data)).toBe('null');
    expect(eventToJson(event)).toBe(JSON.stringify({ ...minimal, data: null }));
  });

  it('stores a string of a non-JSON type as text', () => {
    const event = eventFromJson({ ...minimal, datacontenttype: 'text/plain', data: 'hello €' });
    expect(event.dataKind).toBe(DataKind.Text);
    expect(text(event.data)).toBe('hello €');
  });

  it('decodes data_base64 into bytes, with or without datacontenttype', () => {
    const event = eventFromJson({
      ...minimal,
      datacontenttype: 'application/octet-stream',
      data_base64: 'AAEC/w==',
    });
    expect(event.dataKind).toBe(DataKind.Binary);
    expect([...(event.data ?? [])]).toEqual([0, 1, 2, 255]);
    const untyped = eventFromJson({ ...minimal, data_base64: 'TWE=' });
    expect(untyped.dataKind).toBe(DataKind.Binary);
    expect(untyped.attributes['datacontenttype']).toBeUndefined();
  });

  it('treats null attributes and a null data_base64 as unset', () => {
    const event = eventFromJson({
      ...minimal,
      subject: null,
      time: null,
      datacontenttype: null,
      dataschema: null,
      data_base64: null,
      data: { a: 1 },
    });
    expect(event.attributes).toEqual(minimal);
    expect(event.dataKind).toBe(DataKind.Json);
  });

  it('keeps extension types: Integer, Boolean, String', () => {
    const event = eventFromJson({ ...minimal, extinteger: 10, extboolean: false, extstring: '10' });
    expect(event.attributes).toEqual({ ...minimal, extinteger: 10, extboolean: false, extstring: '10' });
  });

  it.each<[string, unknown, string, Record<string, unknown>]>([
    ['an array', [minimal], 'HERALD_INVALID_EVENT', { pointer: '' }],
    ['a string', 'event', 'HERALD_INVALID_EVENT', { pointer: '' }],
    ['null', null, 'HERALD_INVALID_EVENT', { pointer: '' }],
    ['data and data_base64', { ...minimal, data: 'x', data_base64: 'TWE=' }, 'HERALD_INVALID_DATA', {}],
    ['invalid base64', { ...minimal, data_base64: 'not base64!' }, 'HERALD_INVALID_DATA', {}],
    ['non-string data_base64', { ...minimal, data_base64: 12 }, 'HERALD_INVALID_DATA', {}],
    [
      'non-string data with text/plain',
      { ...minimal, datacontenttype: 'text/plain', data: { a: 1 } },
      'HERALD_INVALID_DATA',
      { pointer: '/data' },
    ],
    [
      'a lone surrogate in text data',
      { ...minimal, datacontenttype: 'text/plain', data: 'a\uD800' },
      'HERALD_INVALID_DATA',
      { pointer: '/data' },
    ],
    ['missing id', { ...minimal, id: undefined }, 'HERALD_MISSING_ATTRIBUTE', { attribute: 'id' }],
    [
      'null specversion',
      { ...minimal, specversion: null },
      'HERALD_MISSING_ATTRIBUTE',
      { attribute: 'specversion' },
    ],
    [
      'a __proto__ member',
      JSON.parse(`{"__proto__":{"x":"y"},${JSON.stringify(minimal).slice(1)}`),
      'HERALD_INVALID_ATTRIBUTE_NAME',
      { attribute: '__proto__' },
    ],
  ])('rejects %s', (_name, value, code, extra) => {
    const input = typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...value } : value;
    expect(thrownBy(() => eventFromJson(input))).toMatchObject({ code, ...extra });
  });

  it('refuses an Integer written with a fraction or an exponent, alone and in a batch (JSON format §2.2)', () => {
    const head = '{"specversion":"1.0","id":"i","source":"/s","type":"t"';
    for (const spelling of ['1.0', '1e3', '-2E1', '0.00', '1E+2']) {
      const body = Buffer.from(`${head},"priority":${spelling},"data":1.5}`);
      expect(thrownBy(() => parseStructured('application/cloudevents+json', body))).toMatchObject({
        code: 'HERALD_INVALID_ATTRIBUTE',
        attribute: 'priority',
        pointer: '/priority',
      });
      const batch = Buffer.from(`[${head},"priority":7},${head},"p\\u0072iority":${spelling}}]`);
      expect(thrownBy(() => parseBatch('application/cloudevents-batch+json', batch))).toMatchObject({
        code: 'HERALD_INVALID_ATTRIBUTE',
        index: 1,
        pointer: '/1/priority',
      });
    }
    // JSON data numbers, and Integers as the format spells them, pass.
    const event = parseStructured(
      'application/cloudevents+json',
      Buffer.from(`${head},"low":-2147483648,"zero":-0,"data":{"n":1.5e3}}`),
    );
    expect(event.attributes).toMatchObject({ low: -2147483648, zero: -0 });
    expect(text(event.data)).toBe('{"n":1.5e3}');
  });

  it('never lets required attributes hide in a __proto__ member', () => {
    const parsed = JSON.parse('{"specversion":"1.0","source":"/s","type":"t","__proto__":{"id":"hidden"}}');
    expect(thrownBy(() => eventFromJson(parsed))).toMatchObject({
      code: 'HERALD_MISSING_ATTRIBUTE',
      attribute: 'id',
    });
  });

  it('accepts an extension named constructor', () => {
    expect(eventFromJson({ ...minimal, constructor: 'x' }).attributes).toMatchObject({ constructor: 'x' });
  });

  it('gives attribute objects no inherited members', () => {
    const { attributes } = eventFromJson({ ...minimal });
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf']) {
      expect(attributes[name]).toBeUndefined();
      expect(name in attributes).toBe(false);
    }
    expect(Object.keys(attributes).sort()).toEqual(Object.keys(minimal).sort());
    expect(JSON.parse(JSON.stringify(attributes))).toEqual(minimal);
  });
});

describe('eventToJson', () => {
  it.each([
    [{ ...minimal }],
    [{ ...minimal, data: { a: 1, b: [true, null] } }],
    [{ ...minimal, datacontenttype: 'text/plain', data: 'line1\nline2 "q"' }],
    [{ ...minimal, datacontenttype: 'application/octet-stream', data_base64: 'AAEC/w==' }],
    [{ ...minimal, data_base64: 'TWE=' }],
    [{ ...minimal, extinteger: -5, extboolean: true, data: 'a string' }],
  ])('round-trips %j', (input) => {
    expect(JSON.parse(eventToJson(eventFromJson({ ...input })))).toEqual(input);
  });

  it('renders binary data as data_base64 and nothing for no data', () => {
    const event = { attributes: minimal, data: new Uint8Array([1, 2, 3]), dataKind: DataKind.Binary };
    expect(dataMemberJson(event)).toBe('"data_base64":"AQID"');
    expect(dataMemberJson({ attributes: minimal, data: undefined, dataKind: DataKind.None })).toBe('');
  });

  it('renders text data that starts with a byte order mark with all of its bytes', () => {
    const data = Buffer.from('\uFEFFhi', 'utf8');
    const event = { attributes: minimal, data, dataKind: DataKind.Text };
    expect(dataMemberJson(event)).toBe('"data":"\uFEFFhi"');
    expect(Buffer.from((JSON.parse(eventToJson(event)) as { data: string }).data).equals(data)).toBe(true);
  });

  it('renders a subarray of a larger buffer without its neighbours', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const event = { attributes: minimal, data: backing.subarray(2, 5), dataKind: DataKind.Binary };
    expect(dataMemberJson(event)).toBe('"data_base64":"AQID"');
  });

  it('splices a data member into an object text', () => {
    expect(spliceData('{}', '"data":1')).toBe('{"data":1}');
    expect(spliceData('{"a":1}', '"data":1')).toBe('{"a":1,"data":1}');
    expect(spliceData('{"a":1}', '')).toBe('{"a":1}');
  });
});

describe('JSON data kept as sent, in structured and batch mode', () => {
  /** JSON text of `value` with random whitespace around every token. */
  const spaced = (value: unknown, space: () => string): string => {
    if (Array.isArray(value)) return `[${value.map((v) => space() + spaced(v, space) + space()).join(',')}]`;
    if (typeof value === 'object' && value !== null) {
      const members = Object.entries(value).map(
        ([name, v]) => `${space()}${JSON.stringify(name)}${space()}:${space()}${spaced(v, space)}${space()}`,
      );
      return `{${members.join(',')}}`;
    }
    return JSON.stringify(value);
  };
  const text = fc.string({
    unit: fc.constantFrom('a', 'é', '日', '"', '\\', '}', ']', ',', ':', ' '),
    minLength: 1,
  });
  const data = fc.jsonValue({ maxDepth: 3 });
  // Members as a list, so that order, duplicates, nulls and escaped names all occur; every one valid.
  const member = fc.oneof(
    fc.tuple(fc.constant('subject'), fc.oneof(text, fc.constant(null))),
    fc.tuple(
      fc.constantFrom('ext1', 'ext2'),
      fc.oneof(text, fc.integer({ min: -5, max: 5 }), fc.boolean(), fc.constant(null)),
    ),
    fc.tuple(fc.constant('data'), data),
    fc.tuple(
      fc.constant('id'),
      text.filter((s) => s.length > 0),
    ),
  );
  const event = fc
    .record({
      members: fc.array(member, { maxLength: 5 }),
      data,
      dataAt: fc.nat(),
      escapeName: fc.boolean(),
      spaces: fc.array(fc.constantFrom('', '', ' ', '\n', '\t '), { minLength: 1, maxLength: 8 }),
    })
    .map((e) => {
      const members = [...e.members];
      members.splice(e.dataAt % (members.length + 1), 0, ['data', e.data]);
      return { members, escapeName: e.escapeName, spaces: e.spaces };
    });

  /** The text of the last top-level `data` member's value, found independently of the scanner. */
  function dataText(t: string): string {
    // Re-render with a marker: the value's text is what follows the member's name and colon.
    const parsed = JSON.parse(t) as Record<string, unknown>;
    const candidates: string[] = [];
    for (let at = t.indexOf('"data"'); at >= 0; at = t.indexOf('"data"', at + 1)) {
      let from = at + 6;
      while (/\s/.test(t[from] ?? '')) from++;
      if (t[from] !== ':') continue;
      from++;
      for (let to = t.length; to > from; to--) {
        const piece = t.slice(from, to).trim();
        try {
          if (JSON.stringify(JSON.parse(piece)) === JSON.stringify(parsed['data'])) candidates.push(piece);
        } catch {
          // not a whole value
        }
      }
    }
    return candidates.at(-1) ?? '';
  }

  /** One event's JSON text: required attributes first, then the random members (last one wins). */
  function render(e: { members: [string, unknown][]; spaces: string[] }, escapeName: boolean): string {
    let n = 0;
    const space = () => e.spaces[n++ % e.spaces.length] as string;
    const parts = [
      ['specversion', '1.0'],
      ['id', 'first'],
      ['source', '/s'],
      ['type', 't'],
      ...e.members,
    ].map(([name, value]) => {
      const written = escapeName && name === 'id' ? '"\\u0069d"' : JSON.stringify(name);
      return `${space()}${written}${space()}:${space()}${spaced(value, space)}${space()}`;
    });
    return `{${parts.join(',')}}`;
  }

  it('keeps the bytes of JSON data whose parse equals the value sent, alone and in a batch', () => {
    let checkedRuns = 0;
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 4 }), (events) => {
        checkedRuns++;
        const texts = events.map((e) => render(e, e.escapeName));
        const decoded = texts.map((t) => parseStructured('application/cloudevents+json', Buffer.from(t)));
        const batch = parseBatch(
          'application/cloudevents-batch+json',
          Buffer.from(`[${texts.join(' ,\n')}]`),
        );
        for (const [i, single] of decoded.entries()) {
          const parsed = JSON.parse(texts[i] as string) as Record<string, unknown>;
          const inBatch = batch[i] as CloudEvent;
          expect({ ...inBatch.attributes }).toEqual({ ...single.attributes });
          expect(inBatch.dataKind).toBe(single.dataKind);
          for (const e of [single, inBatch]) {
            if (e.dataKind === DataKind.Json) {
              // As sent: the bytes are the text's own (spacing included), not a serialisation.
              if (!(events[i] as { escapeName: boolean }).escapeName) {
                expect(Buffer.from(e.data as Uint8Array).toString('utf8')).toBe(dataText(texts[i] as string));
              }
              expect(JSON.parse(Buffer.from(e.data as Uint8Array).toString('utf8'))).toEqual(parsed['data']);
            }
          }
        }
      }),
      { numRuns: 1000, seed: 15 },
    );
    expect(checkedRuns).toBe(1000);
  });

  /** The attributes' text an event kept, as the store writes it (the object less its data member). */
  const keptText = (e: CloudEvent): string | undefined => {
    const json = attributesJsonOf(e);
    if (json === undefined) return undefined;
    // Copied at an offset into a larger buffer, as the stores copy it after a record's header.
    const into = Buffer.alloc(attributesJsonLength(json) + 5, 0x23);
    const length = copyAttributesJson(json, into, 3);
    expect(length).toBe(attributesJsonLength(json));
    expect(into.subarray(0, 3).toString('latin1') + into.subarray(3 + length).toString('latin1')).toBe(
      '#####',
    );
    return into.subarray(3, 3 + length).toString('utf8');
  };

  it('keeps the attributes as sent only when that text reads back as exactly them, alone and in a batch', () => {
    let kept = 0;
    let dropped = 0;
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 4 }), (events) => {
        const texts = events.map((e) => render(e, e.escapeName));
        const decoded = texts.map((t) => parseStructured('application/cloudevents+json', Buffer.from(t)));
        const batch = parseBatch(
          'application/cloudevents-batch+json',
          Buffer.from(`[${texts.join(' ,\n')}]`),
        );
        for (const e of [...decoded, ...batch]) {
          const text = keptText(e);
          if (text === undefined) {
            dropped++;
            continue;
          }
          kept++;
          // No data member, no null, nothing the attributes lack: the same members and values.
          expect({ ...(JSON.parse(text) as object) }).toEqual({ ...e.attributes });
        }
      }),
      { numRuns: 1000, seed: 15 },
    );
    // Both kinds occur: texts kept (plain members) and texts left (nulls, escapes, two data members).
    expect(kept).toBeGreaterThan(500);
    expect(dropped).toBeGreaterThan(500);
  });

  it('cuts the data member wherever it is, and keeps no text the attributes would not read back as', () => {
    const structured = (t: string) => parseStructured('application/cloudevents+json', Buffer.from(t));
    const head = '"specversion":"1.0","id":"1","source":"/s","type":"t"';
    expect(keptText(structured(`{"data":{"a":1} , ${head}}`))).toBe(`{ ${head}}`);
    expect(keptText(structured(`{${head},"data":[1]}`))).toBe(`{${head}}`);
    expect(keptText(structured(`{"id":"1","data":"x","specversion":"1.0","source":"/s","type":"t"}`))).toBe(
      `{"id":"1","specversion":"1.0","source":"/s","type":"t"}`,
    );
    expect(keptText(structured(`{${head}}`))).toBe(`{${head}}`);
    expect(keptText(structured(`{${head},"subject":null}`))).toBeUndefined();
    expect(keptText(structured(`{${head},"data_base64":"AA=="}`))).toBeUndefined();
    expect(keptText(structured(`{${head},"data_base64":null,"data":1}`))).toBeUndefined();
    expect(keptText(structured(`{${head},"data":1,"data":2}`))).toBeUndefined();
    expect(keptText(structured(`{${head},"\\u0064ata":1}`))).toBeUndefined();
    expect(keptText(structured(`{${head},"\\u0069d":"2"}`))).toBeUndefined();
    expect(keptText(eventFromJson(JSON.parse(`{${head}}`)))).toBeUndefined();
    // An event derived with other attributes does not pass the original text on.
    const event = structured(`{${head}}`);
    expect(keptText({ ...event, attributes: { ...event.attributes, id: '2' } })).toBeUndefined();
  });
});
