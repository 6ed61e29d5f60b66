import { describe, expect, it } from 'vitest';
import { closingQuote, jsonDepthExceeded, scanEventArray, scanEventObject } from './json-scan.js';

const bytes = (text: string) => Buffer.from(text);

/** The text of the member's value as the scanner finds it; JSON.parse must accept `text`. */
function dataOf(text: string): string | undefined {
  JSON.parse(text);
  const body = bytes(text);
  let at = 0;
  while (/\s/.test(text[at] ?? '')) at++;
  const scanned = scanEventObject(body, at);
  if (scanned === undefined || !('end' in scanned)) return undefined;
  const span = scanned.escapedName ? undefined : scanned.data;
  return span === undefined ? undefined : body.subarray(span[0], span[1]).toString();
}

describe('closingQuote', () => {
  it('skips escaped quotes: an odd run of backslashes escapes, an even one does not', () => {
    expect(closingQuote(bytes('ab"'), 0)).toBe(2);
    expect(closingQuote(bytes('a\\"b"'), 0)).toBe(4);
    expect(closingQuote(bytes('a\\\\"b"'), 0)).toBe(3);
    expect(closingQuote(bytes('abc'), 0)).toBe(-1);
  });

  it('finds the quote past the bytes it looks at one by one, escaped or not on either side of them', () => {
    expect(closingQuote(bytes(`${'x'.repeat(100)}"`), 0)).toBe(100);
    expect(closingQuote(bytes(`${'x'.repeat(46)}\\"${'y'.repeat(10)}"`), 0)).toBe(58);
    expect(closingQuote(bytes(`${'x'.repeat(47)}\\"${'y'.repeat(10)}"`), 0)).toBe(59);
    expect(closingQuote(bytes(`${'x'.repeat(60)}\\\\"`), 0)).toBe(62);
    expect(closingQuote(bytes(`"${'x'.repeat(60)}"`), 1)).toBe(61);
    expect(closingQuote(bytes('x'.repeat(100)), 0)).toBe(-1);
  });
});

describe('scanEventObject: the data member', () => {
  it('finds the value of every JSON type, without the whitespace around it', () => {
    expect(dataOf('{"id":"1","data":{"a":[1,{"b":"}"}]},"type":"t"}')).toBe('{"a":[1,{"b":"}"}]}');
    expect(dataOf('{"data":[1,2,[3]]}')).toBe('[1,2,[3]]');
    expect(dataOf('{"data":"a \\" , } ]","x":1}')).toBe('"a \\" , } ]"');
    expect(dataOf('{"data":-1.5e3}')).toBe('-1.5e3');
    expect(dataOf('{"data":null,"id":"x"}')).toBe('null');
    expect(dataOf('{"data":true}')).toBe('true');
    expect(dataOf(' {\n  "id" : "1" ,\n  "data" :\t{ "a" : 1 } \n}\n')).toBe('{ "a" : 1 }');
  });

  it('counts bytes, not characters, after multi-byte text', () => {
    const text = '{"source":"/é/日本","data":{"k":"ü"}}';
    expect(dataOf(text)).toBe('{"k":"ü"}');
  });

  it('takes the last of duplicate members, as JSON.parse does', () => {
    expect(dataOf('{"data":1,"id":"x","data":{"last":true}}')).toBe('{"last":true}');
  });

  it('ignores members of nested objects and strings that look like members', () => {
    expect(dataOf('{"x":{"data":1},"y":"\\"data\\":2"}')).toBeUndefined();
    expect(dataOf('{"x":[{"data":1}],"data_base64":"AA=="}')).toBeUndefined();
    expect(dataOf('{"x":{"data":1},"data":2}')).toBe('2');
  });

  it('gives up when a top-level name has escapes (it may spell the name), or the text is no object', () => {
    expect(dataOf('{"d\\u0061ta":{"a":1}}')).toBeUndefined();
    expect(dataOf('{"data":1,"\\u0064ata":2}')).toBeUndefined();
    expect(dataOf('[{"data":1}]')).toBeUndefined();
    expect(dataOf('"data"')).toBeUndefined();
    expect(dataOf('{}')).toBeUndefined();
  });
});

describe('scanEventArray', () => {
  it('scans every object of a batch in one pass, in order', () => {
    const text = ' [ {"id":"a","data":1} ,{"id":"b"},\n{"data":{"x":"]"},"id":"c"} ] ';
    const body = bytes(text);
    const elements = scanEventArray(body);
    if (!Array.isArray(elements)) throw new Error('not scanned');
    expect(elements.map((e) => body.toString('utf8', e.start, e.spans.end))).toEqual([
      '{"id":"a","data":1}',
      '{"id":"b"}',
      '{"data":{"x":"]"},"id":"c"}',
    ]);
    expect(scanEventArray(bytes('[]'))).toEqual([]);
  });

  it('stops at the object after maxElements, before scanning it', () => {
    const text = '[{"id":"a"},{"id":"b"}, {"id":"c"}]';
    expect(scanEventArray(bytes(text), Infinity, 2)).toEqual({ tooManyAt: text.indexOf('{"id":"c"') });
    expect(scanEventArray(bytes(text), Infinity, 3)).toHaveLength(3);
  });

  it('gives up on anything but an array of objects', () => {
    expect(scanEventArray(bytes('{"id":"a"}'))).toBeUndefined();
    expect(scanEventArray(bytes('[{"id":"a"},1]'))).toBeUndefined();
    expect(scanEventArray(bytes('[{"id":"a"}'))).toBeUndefined();
  });
});

describe('scanEventArray with a depth limit', () => {
  it('refuses at the same byte as jsonDepthExceeded, for every limit, in one pass', () => {
    const texts = [
      '[{"id":"a","data":{"x":[1,[2,{"y":[]}]]}},{"id":"b","data":[[[]]]}]',
      ' [ {"data":"[[[{{{"} , {"a":{"b":{"c":{}}}} ] ',
      '[{"data":1},{"data":{"k":"\\\\"},"x":[[["]"]]]}]',
    ];
    for (const text of texts) {
      JSON.parse(text);
      const body = bytes(text);
      for (let max = 0; max <= 7; max++) {
        const scanned = scanEventArray(body, max);
        const at = scanned !== undefined && 'tooDeepAt' in scanned ? scanned.tooDeepAt : -1;
        expect([text, max, at]).toEqual([text, max, jsonDepthExceeded(body, max)]);
      }
    }
  });
});
