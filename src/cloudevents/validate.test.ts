import { describe, expect, it } from 'vitest';
import {
  isAbsoluteUri,
  isBase64,
  isJsonMediaType,
  isMediaType,
  isTimestamp,
  isUriReference,
  isValidAttributeName,
  isValidString,
  validateAttributes,
} from './validate.js';

const minimal = {
  specversion: '1.0',
  id: 'minimal',
  source: 'https://cloudevents.io',
  type: 'io.cloudevents.test',
};

function validationError(input: Record<string, unknown>): unknown {
  try {
    validateAttributes(input);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('isTimestamp (RFC 3339)', () => {
  it.each([
    '2018-04-05T17:31:00Z',
    '2018-04-05T17:31:00.123456789Z',
    '2018-04-05T17:31:00+02:00',
    '2018-04-05T17:31:00-05:30',
    '2018-04-05t17:31:00z',
    '2020-02-29T00:00:00Z',
    '2000-02-29T00:00:00Z',
    '2016-12-31T23:59:60Z',
    '2018-04-05T23:59:59+23:59',
  ])('accepts %s', (value) => {
    expect(isTimestamp(value)).toBe(true);
  });

  it.each([
    'lunchtime',
    '18:31Z',
    '2018-04-05T18:31Z',
    '2018-04-05T17:31:00X',
    '2018-04-05T17:31:00+25:00',
    '2018-04-05T17:31:00+xx:00',
    '2018-04-05T17:31:00+05',
    '2018-04-05T17:31:00+05:60',
    '2018-13-05T17:31:00Z',
    '2018-00-05T17:31:00Z',
    '2018-02-30T17:31:00Z',
    '2019-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2018-04-31T00:00:00Z',
    '2018-04-00T00:00:00Z',
    '2018-04-05T24:00:00Z',
    '2018-04-05T17:60:00Z',
    '2018-04-05T17:31:61Z',
    '2018-04-05 17:31:00Z',
    '2018-04-05T17:31:00.Z',
    '2018-04-05',
    '',
  ])('rejects %j', (value) => {
    expect(isTimestamp(value)).toBe(false);
  });
});

describe('URI-reference (source) and absolute URI (dataschema)', () => {
  it.each([
    'https://cloudevents.io',
    '/sensors/tn-1234567/alerts',
    '1-555-123-4567',
    '#fragment',
    '//authority/path',
    'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66',
    'mailto:a@example.com',
    'a/b:c',
    'path?q=1#frag',
    '%E2%82%AC',
    '',
  ])('%j is a URI-reference', (value) => {
    expect(isUriReference(value)).toBe(true);
  });

  it.each(['with space', 'a"b', '1a:b', '%zz', '%2', 'a#b#c', 'tab\tx', 'caf\u00e9', '<x>', 'a\\b', '{x}'])(
    '%j is not a URI-reference',
    (value) => {
      expect(isUriReference(value)).toBe(false);
    },
  );

  it.each(['https://example.com/schema', 'urn:x', 'mailto:a@example.com', 'a+b.c-d:rest'])(
    '%j is an absolute URI',
    (value) => {
      expect(isAbsoluteUri(value)).toBe(true);
    },
  );

  it.each(['/relative', '//authority/path', '#fragment', ':nothing', '1http://x', 'http://a b', ''])(
    '%j is not an absolute URI',
    (value) => {
      expect(isAbsoluteUri(value)).toBe(false);
    },
  );
});

describe('media types (RFC 2046)', () => {
  it.each([
    'application/json',
    'text/plain',
    'text/plain; charset=utf-8',
    'TEXT/Plain; CharSet=utf-8',
    'application/vnd.apache.thrift.binary',
    'application/cloudevents+json; charset=UTF-8',
    'multipart/form-data; boundary="a b;c"',
    'text/plain;charset=utf-8;format=flowed',
    'text/plain; name="a \\"b\\" c"',
  ])('accepts %j', (value) => {
    expect(isMediaType(value)).toBe(true);
  });

  it.each([
    'xyz',
    '',
    'text/',
    '/plain',
    'text/plain;',
    'text/plain; charset',
    'text plain',
    'a/b/c',
    'tëxt/plain',
    // Quoted values are ASCII (RFC 2045 §5.1): Content-Type could not carry these in binary mode.
    'text/plain; name="€"',
    'text/plain; name="café"',
    'text/plain; name="a\\€"',
  ])('rejects %j', (value) => {
    expect(isMediaType(value)).toBe(false);
  });

  it('recognises JSON media types case-insensitively, absent meaning JSON', () => {
    expect(isJsonMediaType(undefined)).toBe(true);
    expect(isJsonMediaType('application/json')).toBe(true);
    expect(isJsonMediaType('Application/JSON; charset=utf-8')).toBe(true);
    expect(isJsonMediaType('application/vnd.foo+json')).toBe(true);
    expect(isJsonMediaType('text/json')).toBe(true);
    expect(isJsonMediaType('text/plain')).toBe(false);
    expect(isJsonMediaType('application/jsonx')).toBe(false);
    expect(isJsonMediaType('application/xml; note=json')).toBe(false);
  });
});

describe('base64', () => {
  it.each(['', 'TWE=', 'TWFu', 'TQ==', 'AAECAwQF'])('accepts %j', (value) => {
    expect(isBase64(value)).toBe(true);
  });
  it.each(['TWE', 'T===', '!!!!', 'TW E=', 'TWE=TWE=', 'TQ=', 'TWFu\n'])('rejects %j', (value) => {
    expect(isBase64(value)).toBe(false);
  });
});

describe('attribute names and string characters', () => {
  it.each(['id', 'a', 'ext1', '1ext', 'averyveryverylongextensionname', 'constructor'])(
    '%j is a valid name',
    (n) => {
      expect(isValidAttributeName(n)).toBe(true);
    },
  );
  it.each(['', 'MyExtension', 'my.extension', 'my-ext', 'my_ext', 'ext ', 'café', '__proto__'])(
    '%j is not a valid name',
    (n) => {
      expect(isValidAttributeName(n)).toBe(false);
    },
  );

  it.each(['plain', 'Euro € 😀', '\u00A0', '\uFFFD', '\u{10FFFD}', ''])('%j is a valid String', (value) => {
    expect(isValidString(value)).toBe(true);
  });
  it.each([
    ['NUL', '\u0000'],
    ['U+0001', 'a\u0001b'],
    ['LF', 'line\n'],
    ['U+001F', '\u001F'],
    ['DEL', '\u007F'],
    ['U+0080', '\u0080'],
    ['U+009F', '\u009F'],
    ['lone high surrogate', 'a\uD800'],
    ['lone low surrogate', '\uDC00b'],
    ['reversed pair', '\uDC00\uD800'],
    ['noncharacter U+FDD0', '\uFDD0'],
    ['noncharacter U+FFFE', '\uFFFE'],
    ['noncharacter U+FFFF', '\uFFFF'],
    ['noncharacter U+1FFFE', '\u{1FFFE}'],
    ['noncharacter U+10FFFF', '\u{10FFFF}'],
  ])('%s is not allowed in a String', (_name, value) => {
    expect(isValidString(value)).toBe(false);
  });
});

describe('validateAttributes', () => {
  it('accepts the minimal event and every extension type', () => {
    expect(validateAttributes({ ...minimal })).toEqual(minimal);
    const all = {
      ...minimal,
      extinteger: 10,
      extnegative: -2147483648,
      extmax: 2147483647,
      extboolean: true,
      extfalse: false,
      extstring: 'value',
      extbinary: 'TWE=',
      exttimestamp: '2023-03-31T15:12:00Z',
      exturi: 'https://example.com',
      exturiref: '//authority/path',
    };
    expect(validateAttributes({ ...all })).toEqual(all);
  });

  it('accepts every optional core attribute and a relative source', () => {
    const allCore = {
      ...minimal,
      source: '#fragment',
      datacontenttype: 'text/plain',
      dataschema: 'https://example.com/schema',
      subject: 'subject',
      time: '2018-04-05T17:31:00Z',
    };
    expect(validateAttributes({ ...allCore })).toEqual(allCore);
  });

  it.each([
    ['specversion', 'HERALD_MISSING_ATTRIBUTE'],
    ['id', 'HERALD_MISSING_ATTRIBUTE'],
    ['source', 'HERALD_MISSING_ATTRIBUTE'],
    ['type', 'HERALD_MISSING_ATTRIBUTE'],
  ])('reports missing %s', (attribute, code) => {
    const input = Object.fromEntries(Object.entries(minimal).filter(([name]) => name !== attribute));
    expect(validationError(input)).toMatchObject({ code, attribute });
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    ['unknown specversion', { specversion: '0.9' }, 'HERALD_UNSUPPORTED_SPECVERSION', 'specversion'],
    ['empty specversion', { specversion: '' }, 'HERALD_UNSUPPORTED_SPECVERSION', 'specversion'],
    ['numeric specversion', { specversion: 1 }, 'HERALD_UNSUPPORTED_SPECVERSION', 'specversion'],
    ['empty id', { id: '' }, 'HERALD_INVALID_ATTRIBUTE', 'id'],
    ['numeric id', { id: 1 }, 'HERALD_INVALID_ATTRIBUTE', 'id'],
    ['boolean id', { id: true }, 'HERALD_INVALID_ATTRIBUTE', 'id'],
    ['object id', { id: {} }, 'HERALD_INVALID_ATTRIBUTE', 'id'],
    ['empty type', { type: '' }, 'HERALD_INVALID_ATTRIBUTE', 'type'],
    ['empty source', { source: '' }, 'HERALD_INVALID_ATTRIBUTE', 'source'],
    ['source with a space', { source: 'a b' }, 'HERALD_INVALID_ATTRIBUTE', 'source'],
    ['empty subject', { subject: '' }, 'HERALD_INVALID_ATTRIBUTE', 'subject'],
    ['empty datacontenttype', { datacontenttype: '' }, 'HERALD_INVALID_ATTRIBUTE', 'datacontenttype'],
    ['datacontenttype xyz', { datacontenttype: 'xyz' }, 'HERALD_INVALID_ATTRIBUTE', 'datacontenttype'],
    ['empty dataschema', { dataschema: '' }, 'HERALD_INVALID_ATTRIBUTE', 'dataschema'],
    ['relative dataschema', { dataschema: '/schema' }, 'HERALD_INVALID_ATTRIBUTE', 'dataschema'],
    ['bad time', { time: 'lunchtime' }, 'HERALD_INVALID_ATTRIBUTE', 'time'],
    ['numeric time', { time: 1 }, 'HERALD_INVALID_ATTRIBUTE', 'time'],
    ['control character in type', { type: 'a\u0001' }, 'HERALD_INVALID_ATTRIBUTE', 'type'],
    ['lone surrogate in subject', { subject: '\uD800' }, 'HERALD_INVALID_ATTRIBUTE', 'subject'],
    ['control character in extension', { ext: 'a\u0000' }, 'HERALD_INVALID_ATTRIBUTE', 'ext'],
    ['capitalised extension name', { MyExtension: 'x' }, 'HERALD_INVALID_ATTRIBUTE_NAME', 'MyExtension'],
    ['punctuated extension name', { 'my.extension': 'x' }, 'HERALD_INVALID_ATTRIBUTE_NAME', 'my.extension'],
    ['extension named data', { data: 'x' }, 'HERALD_INVALID_ATTRIBUTE_NAME', 'data'],
    ['empty attribute name', { '': 'x' }, 'HERALD_INVALID_ATTRIBUTE_NAME', ''],
    ['extension 1.5', { ext: 1.5 }, 'HERALD_INVALID_ATTRIBUTE', 'ext'],
    ['extension 2147483648', { ext: 2147483648 }, 'HERALD_INVALID_ATTRIBUTE', 'ext'],
    ['extension -2147483649', { ext: -2147483649 }, 'HERALD_INVALID_ATTRIBUTE', 'ext'],
    ['extension NaN', { ext: Number.NaN }, 'HERALD_INVALID_ATTRIBUTE', 'ext'],
    ['extension object', { ext: { a: 1 } }, 'HERALD_INVALID_ATTRIBUTE', 'ext'],
    ['extension array', { ext: [1] }, 'HERALD_INVALID_ATTRIBUTE', 'ext'],
    ['extension named constructor 1.5', { constructor: 1.5 }, 'HERALD_INVALID_ATTRIBUTE', 'constructor'],
  ])('rejects %s', (_name, override, code, attribute) => {
    expect(validationError({ ...minimal, ...override })).toMatchObject({
      code,
      attribute,
      name: 'HeraldError',
    });
  });

  it('accepts an extension named like an Object.prototype member', () => {
    expect(validateAttributes({ ...minimal, constructor: 'x' })).toMatchObject({ constructor: 'x' });
  });

  it('does not take required attributes from a prototype', () => {
    const input = Object.assign(Object.create({ id: 'inherited' }) as Record<string, unknown>, {
      specversion: '1.0',
      source: '/s',
      type: 't',
    });
    expect(validationError(input)).toMatchObject({ code: 'HERALD_MISSING_ATTRIBUTE', attribute: 'id' });
  });
});

describe('validation rules that remember the value they last passed', () => {
  it('still refuse an invalid value right after a valid one, and pass the valid one again', () => {
    const cases: [string, unknown, unknown][] = [
      ['source', '/orders', 'not a uri reference'],
      ['type', 'com.example.a', 'bad\u0000type'],
      ['datacontenttype', 'application/json', 'not a media type'],
      ['dataschema', 'https://example.com/schema', 'relative/schema'],
      ['subject', 'order-1', ''],
    ];
    for (const [attribute, valid, invalidValue] of cases) {
      expect(validateAttributes({ ...minimal, [attribute]: valid })).toMatchObject({ [attribute]: valid });
      expect(validationError({ ...minimal, [attribute]: invalidValue })).toMatchObject({
        code: 'HERALD_INVALID_ATTRIBUTE',
        attribute,
      });
      expect(validationError({ ...minimal, [attribute]: invalidValue })).toMatchObject({ attribute });
      expect(validateAttributes({ ...minimal, [attribute]: valid })).toMatchObject({ [attribute]: valid });
    }
  });

  it('do not let a value valid for one attribute pass for another', () => {
    // 'text/plain' is a valid type (any non-empty string) but the datacontenttype rule must still see
    // 'a b', and a valid datacontenttype must not make the same string pass as a source.
    expect(validateAttributes({ ...minimal, type: 'a b' })).toMatchObject({ type: 'a b' });
    expect(validationError({ ...minimal, datacontenttype: 'a b' })).toMatchObject({
      attribute: 'datacontenttype',
    });
    expect(validateAttributes({ ...minimal, datacontenttype: 'text/plain' })).toBeDefined();
    expect(validationError({ ...minimal, source: 'a b' })).toMatchObject({ attribute: 'source' });
  });
});

describe('isTimestamp read by position', () => {
  // The RFC 3339 grammar as the regular expression it replaced, ranges left to the checks below.
  const RFC3339 =
    /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
  const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  function byRegex(value: string): boolean {
    const m = RFC3339.exec(value);
    if (m === null) return false;
    const [, y, mo, d, h, mi, s, , oh, om] = m;
    const year = Number(y);
    const month = Number(mo);
    const day = Number(d);
    if (month < 1 || month > 12 || day < 1) return false;
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    if (day > (month === 2 && !leap ? 28 : (DAYS[month - 1] ?? 31))) return false;
    if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 60) return false;
    return !(oh !== undefined && (Number(oh) > 23 || Number(om) > 59));
  }

  it('agrees with the RFC 3339 expression on valid timestamps and every one-character change of them', () => {
    const seeds = [
      '2018-04-05T17:31:00Z',
      '2016-12-31T23:59:60.5z',
      '2000-02-29t00:00:00+23:59',
      '2019-02-28T12:00:00.123456789-05:30',
    ];
    const replacements = [
      '0',
      '1',
      '2',
      '3',
      '5',
      '6',
      '9',
      '-',
      ':',
      '.',
      '+',
      'T',
      't',
      'Z',
      'z',
      'x',
      ' ',
      '٣',
    ];
    let compared = 0;
    for (const seed of seeds) {
      const variants = [seed, seed.slice(0, -1), `${seed}0`, `${seed}Z`];
      for (let i = 0; i < seed.length; i++) {
        variants.push(seed.slice(0, i) + seed.slice(i + 1));
        for (const r of replacements) {
          variants.push(seed.slice(0, i) + r + seed.slice(i + 1));
          variants.push(seed.slice(0, i) + r + seed.slice(i));
        }
      }
      for (const value of variants) {
        expect([value, isTimestamp(value)]).toEqual([value, byRegex(value)]);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(1000);
  });
});
