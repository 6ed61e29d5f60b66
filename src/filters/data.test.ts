import { describe, expect, it } from 'vitest';
import { DataKind } from '../cloudevents/index.js';
import type { CloudEvent } from '../cloudevents/index.js';
import { thrownBy } from '../testing/thrown.js';
import {
  compileFilter,
  compileFilterList,
  compileFilterParam,
  compileSqlFilter,
  dataParseCount,
} from './index.js';

const encoder = new TextEncoder();
const attributes = { specversion: '1.0', id: '1', source: '/shop', type: 'order.created' };

function jsonEvent(data: unknown): CloudEvent {
  return { attributes, data: encoder.encode(JSON.stringify(data)), dataKind: DataKind.Json };
}
const textEvent = (text: string): CloudEvent => ({
  attributes,
  data: encoder.encode(text),
  dataKind: DataKind.Text,
});
const binaryEvent: CloudEvent = { attributes, data: new Uint8Array([0xff, 0x00]), dataKind: DataKind.Binary };
const noData: CloudEvent = { attributes, data: undefined, dataKind: DataKind.None };

const order = {
  total: 120.5,
  count: 3,
  code: '100',
  tier: 'gold-plus',
  paid: true,
  coupon: null,
  'a/b': 'slash',
  'm~n': 'tilde',
  items: [{ sku: 'x1' }, { sku: 'y2' }],
  nested: { deep: { value: 0 } },
};

const matches = (filter: unknown, event: CloudEvent) =>
  compileFilter(filter, '/filters/0', compileSqlFilter).matches(event);

describe('the data filter dialect', () => {
  const cases: Array<[string, unknown, CloudEvent, boolean]> = [
    ['eq on a string', { data: { '/tier': { eq: 'gold-plus' } } }, jsonEvent(order), true],
    ['eq on a different string', { data: { '/tier': { eq: 'gold' } } }, jsonEvent(order), false],
    ['eq on a number', { data: { '/count': { eq: 3 } } }, jsonEvent(order), true],
    ['a number never equals its string form', { data: { '/count': { eq: '3' } } }, jsonEvent(order), false],
    [
      'a string never equals the number it spells',
      { data: { '/code': { eq: 100 } } },
      jsonEvent(order),
      false,
    ],
    ['eq true', { data: { '/paid': { eq: true } } }, jsonEvent(order), true],
    ['eq null matches a JSON null', { data: { '/coupon': { eq: null } } }, jsonEvent(order), true],
    [
      'eq null does not match a missing member',
      { data: { '/nothing': { eq: null } } },
      jsonEvent(order),
      false,
    ],
    ['prefix on a string', { data: { '/tier': { prefix: 'gold' } } }, jsonEvent(order), true],
    ['prefix never matches a number', { data: { '/count': { prefix: '3' } } }, jsonEvent(order), false],
    ['gt', { data: { '/total': { gt: 100 } } }, jsonEvent(order), true],
    ['gt at the bound', { data: { '/count': { gt: 3 } } }, jsonEvent(order), false],
    ['gte at the bound', { data: { '/count': { gte: 3 } } }, jsonEvent(order), true],
    ['lt', { data: { '/total': { lt: 100 } } }, jsonEvent(order), false],
    ['lte with zero', { data: { '/nested/deep/value': { lte: 0 } } }, jsonEvent(order), true],
    ['a range (operators AND)', { data: { '/total': { gte: 100, lt: 200 } } }, jsonEvent(order), true],
    ['a range that excludes it', { data: { '/total': { gte: 100, lt: 110 } } }, jsonEvent(order), false],
    [
      'numeric comparison never matches a numeric string',
      { data: { '/code': { gt: 1 } } },
      jsonEvent(order),
      false,
    ],
    ['exists', { data: { '/coupon': { exists: true } } }, jsonEvent(order), true],
    ['exists on a missing path', { data: { '/nope': { exists: true } } }, jsonEvent(order), false],
    ['exists false on a missing path', { data: { '/nope': { exists: false } } }, jsonEvent(order), true],
    ['exists false on a present path', { data: { '/paid': { exists: false } } }, jsonEvent(order), false],
    ['missing intermediate member', { data: { '/a/b/c': { eq: 1 } } }, jsonEvent(order), false],
    ['path through a scalar', { data: { '/tier/x': { exists: true } } }, jsonEvent(order), false],
    ['array index', { data: { '/items/1/sku': { eq: 'y2' } } }, jsonEvent(order), true],
    ['array index out of range', { data: { '/items/2/sku': { exists: true } } }, jsonEvent(order), false],
    [
      'array index with a leading zero is not an index',
      { data: { '/items/01': { exists: true } } },
      jsonEvent(order),
      false,
    ],
    ["'-' is never an element", { data: { '/items/-': { exists: true } } }, jsonEvent(order), false],
    ['escaped / (~1)', { data: { '/a~1b': { eq: 'slash' } } }, jsonEvent(order), true],
    ['escaped ~ (~0)', { data: { '/m~0n': { eq: 'tilde' } } }, jsonEvent(order), true],
    ['the whole document ("")', { data: { '': { eq: 7 } } }, jsonEvent(7), true],
    ['a top-level string document', { data: { '': { prefix: 'he' } } }, jsonEvent('hello'), true],
    [
      'several pointers AND',
      { data: { '/tier': { prefix: 'gold' }, '/paid': { eq: false } } },
      jsonEvent(order),
      false,
    ],
    ['text data never matches', { data: { '': { prefix: 'he' } } }, textEvent('hello'), false],
    ['text that looks like JSON never matches', { data: { '/a': { eq: 1 } } }, textEvent('{"a":1}'), false],
    ['binary data never matches', { data: { '': { exists: true } } }, binaryEvent, false],
    ['no data never matches', { data: { '/x': { exists: false } } }, noData, false],
    [
      'not of a data condition on non-JSON data matches',
      { not: { data: { '/x': { exists: true } } } },
      textEvent('x'),
      true,
    ],
    [
      'inside all',
      { all: [{ exact: { type: 'order.created' } }, { data: { '/total': { gt: 100 } } }] },
      jsonEvent(order),
      true,
    ],
    [
      'inside any',
      { any: [{ data: { '/total': { gt: 1000 } } }, { data: { '/paid': { eq: true } } }] },
      jsonEvent(order),
      true,
    ],
    ['inside not', { not: { data: { '/total': { gt: 100 } } } }, jsonEvent(order), false],
  ];
  it.each(cases)('%s', (_name, filter, event, expected) => {
    expect(matches(filter, event)).toBe(expected);
  });

  const invalid: Array<[string, unknown, string]> = [
    ['not an object', { data: [] }, '/filters/0/data'],
    ['no pointer', { data: {} }, '/filters/0/data'],
    ['a pointer without a leading slash', { data: { total: { eq: 1 } } }, '/filters/0/data/total'],
    ['a bad escape', { data: { '/a~2': { eq: 1 } } }, '/filters/0/data/~1a~02'],
    ['an unknown operator', { data: { '/a': { like: 'x' } } }, '/filters/0/data/~1a/like'],
    ['no operator', { data: { '/a': {} } }, '/filters/0/data/~1a'],
    ['eq with an object', { data: { '/a': { eq: {} } } }, '/filters/0/data/~1a/eq'],
    ['gt with a string', { data: { '/a': { gt: '1' } } }, '/filters/0/data/~1a/gt'],
    ['prefix with a number', { data: { '/a': { prefix: 1 } } }, '/filters/0/data/~1a/prefix'],
    ['exists with a string', { data: { '/a': { exists: 'yes' } } }, '/filters/0/data/~1a/exists'],
  ];
  it.each(invalid)('rejects %s with HERALD_INVALID_FILTER and a pointer', (_name, filter, pointer) => {
    const error = thrownBy(() => compileFilter(filter, '/filters/0', compileSqlFilter));
    expect(error).toMatchObject({ code: 'HERALD_INVALID_FILTER', pointer });
  });

  it('parses an event’s data once however many subscriptions filter on it', () => {
    const subscriptions = Array.from({ length: 1000 }, (_, i) =>
      compileFilterList(
        [{ data: { '/count': { eq: i } } }, { data: { '/tier': { prefix: 'gold' } } }],
        '/filters',
        compileSqlFilter,
      ),
    );
    const events = Array.from({ length: 20 }, (_, i) => jsonEvent({ ...order, count: i }));
    const before = dataParseCount();
    let matched = 0;
    for (const event of events) for (const s of subscriptions) if (s.matches(event)) matched++;
    expect(matched).toBe(20);
    expect(dataParseCount() - before).toBe(events.length);
    // Non-JSON data is never parsed at all.
    for (const s of subscriptions) s.matches(textEvent('{"count":1}'));
    expect(dataParseCount() - before).toBe(events.length);
  });
});

describe('filter= on the log read API', () => {
  it('takes CESQL, or a JSON filter (object or array) with the data dialect', () => {
    const event = jsonEvent(order);
    expect(compileFilterParam("type = 'order.created'").matches(event)).toBe(true);
    expect(compileFilterParam('{"data":{"/total":{"gt":100}}}').matches(event)).toBe(true);
    expect(
      compileFilterParam('[{"exact":{"type":"order.created"}},{"data":{"/paid":{"eq":false}}}]').matches(
        event,
      ),
    ).toBe(false);
    expect(thrownBy(() => compileFilterParam('{"data":'))).toMatchObject({
      code: 'HERALD_INVALID_FILTER',
      pointer: '?filter',
    });
    expect(thrownBy(() => compileFilterParam('{"data":{"/a":{"gt":"x"}}}'))).toMatchObject({
      code: 'HERALD_INVALID_FILTER',
      pointer: '?filter/data/~1a/gt',
    });
  });
});
