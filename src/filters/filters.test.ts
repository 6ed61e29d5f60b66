import { describe, expect, it } from 'vitest';
import { DataKind } from '../cloudevents/index.js';
import type { AttributeValue, CloudEvent } from '../cloudevents/index.js';
import { thrownBy } from '../testing/thrown.js';
import {
  allOf,
  compileFilter,
  compileFilterList,
  createSqlFilterCompiler,
  strongestRequirement,
} from './index.js';
import type { RequiredValues } from './index.js';

const base = { specversion: '1.0', id: '1', source: '/shop/eu', type: 'com.example.order.created' };
const event = (extra: Record<string, AttributeValue> = {}): CloudEvent => ({
  attributes: { ...base, ...extra },
  data: undefined,
  dataKind: DataKind.None,
});
const sql = createSqlFilterCompiler();
const matches = (filter: unknown, e: CloudEvent = event()) =>
  compileFilter(filter, '/filters/0', sql).matches(e);
const required = (filter: unknown) => {
  const r = compileFilter(filter, '/filters/0', sql).required;
  return r === undefined ? undefined : { attribute: r.attribute, values: [...r.values].sort() };
};

describe('filter dialects (Subscriptions API §3.2.4)', () => {
  it.each([
    ['exact matches the whole value', { exact: { type: 'com.example.order.created' } }, true],
    ['exact is not a prefix match', { exact: { type: 'com.example.order' } }, false],
    ['exact is case-sensitive', { exact: { type: 'COM.example.order.created' } }, false],
    ['prefix', { prefix: { source: '/shop/' } }, true],
    ['prefix not at the start', { prefix: { source: 'shop' } }, false],
    ['suffix', { suffix: { type: '.created' } }, true],
    ['suffix not at the end', { suffix: { type: 'com.example' } }, false],
    ['every attribute of a comparison must hold', { exact: { type: base.type, source: '/shop/eu' } }, true],
    ['one failing attribute fails the comparison', { exact: { type: base.type, source: '/shop/us' } }, false],
    ['the first failing attribute of several', { prefix: { type: 'org.', source: '/shop' } }, false],
    ['a missing attribute never matches exact', { exact: { subject: 'x' } }, false],
    ['a missing attribute never matches prefix', { prefix: { subject: 'x' } }, false],
    ['a missing attribute among several', { suffix: { type: 'created', subject: 'x' } }, false],
    ['not of a missing attribute matches', { not: { exact: { subject: 'x' } } }, true],
    ['not of a match', { not: { exact: { type: base.type } } }, false],
    ['all: every branch', { all: [{ prefix: { type: 'com.' } }, { suffix: { type: 'created' } }] }, true],
    [
      'all: one branch fails',
      { all: [{ prefix: { type: 'com.' } }, { suffix: { type: 'deleted' } }] },
      false,
    ],
    ['any: one branch', { any: [{ exact: { type: 'x' } }, { suffix: { type: 'created' } }] }, true],
    ['any: no branch', { any: [{ exact: { type: 'x' } }, { exact: { type: 'y' } }] }, false],
    ['sql', { sql: "type LIKE '%.created' AND source = '/shop/eu'" }, true],
    ['sql false', { sql: "type = 'x'" }, false],
  ])('%s', (_name, filter, expected) => {
    expect(matches(filter)).toBe(expected);
  });

  it('compares Integer and Boolean attributes by their canonical string form', () => {
    const typed = event({ priority: 42, urgent: true });
    expect(matches({ exact: { priority: '42' } }, typed)).toBe(true);
    expect(matches({ exact: { priority: '4' } }, typed)).toBe(false);
    expect(matches({ prefix: { priority: '4' } }, typed)).toBe(true);
    expect(matches({ exact: { urgent: 'true' } }, typed)).toBe(true);
    expect(matches({ exact: { urgent: 'false' } }, typed)).toBe(false);
  });

  it('a filter list needs every filter; an empty one matches everything', () => {
    const list = (filters: unknown[]) => compileFilterList(filters, '/filters', sql).matches(event());
    expect(list([])).toBe(true);
    expect(list([{ prefix: { type: 'com.' } }])).toBe(true);
    expect(list([{ prefix: { type: 'com.' } }, { exact: { source: '/shop/eu' } }])).toBe(true);
    expect(list([{ prefix: { type: 'com.' } }, { exact: { source: '/other' } }])).toBe(false);
    expect(list([{ exact: { source: '/other' } }, { prefix: { type: 'com.' } }])).toBe(false);
  });

  it('allOf: none is true, one is itself, several must all hold', () => {
    const yes = () => true;
    const no = () => false;
    expect(allOf([])(event())).toBe(true);
    expect(allOf([no])(event())).toBe(false);
    expect(allOf([yes, yes])(event())).toBe(true);
    expect(allOf([yes, no])(event())).toBe(false);
    expect(allOf([no, yes])(event())).toBe(false);
  });
});

describe('indexable requirements (which subscriptions an event can skip)', () => {
  it.each([
    ['exact on type', { exact: { type: 't1' } }, { attribute: 'type', values: ['t1'] }],
    ['exact on source', { exact: { source: '/s' } }, { attribute: 'source', values: ['/s'] }],
    ['exact on subject', { exact: { subject: 'x' } }, { attribute: 'subject', values: ['x'] }],
    [
      'exact prefers type over source',
      { exact: { source: '/s', type: 't1' } },
      { attribute: 'type', values: ['t1'] },
    ],
    ['exact on an unindexed attribute', { exact: { region: 'eu' } }, undefined],
    ['prefix is not indexable', { prefix: { type: 't' } }, undefined],
    ['suffix is not indexable', { suffix: { type: 't' } }, undefined],
    ['not is not indexable', { not: { exact: { type: 't1' } } }, undefined],
    ['sql is not indexable', { sql: "type = 't1'" }, undefined],
    [
      'all takes the strongest branch',
      { all: [{ exact: { subject: 'x' } }, { exact: { type: 't1' } }, { prefix: { type: 't' } }] },
      { attribute: 'type', values: ['t1'] },
    ],
    [
      'any on one attribute is the union',
      { any: [{ exact: { type: 't1' } }, { exact: { type: 't2' } }] },
      { attribute: 'type', values: ['t1', 't2'] },
    ],
    [
      'any across attributes is not indexable',
      { any: [{ exact: { type: 't1' } }, { exact: { source: '/s' } }] },
      undefined,
    ],
    [
      'any with an unindexable branch',
      { any: [{ exact: { type: 't1' } }, { prefix: { type: 't' } }] },
      undefined,
    ],
    [
      'any whose first branch is unindexable',
      { any: [{ prefix: { type: 't' } }, { exact: { type: 't1' } }] },
      undefined,
    ],
  ])('%s', (_name, filter, expected) => {
    expect(required(filter)).toEqual(expected);
  });

  it('strongestRequirement prefers type, then source, then subject, then fewer values', () => {
    const of = (attribute: RequiredValues['attribute'], ...values: string[]): RequiredValues => ({
      attribute,
      values: new Set(values),
    });
    expect(strongestRequirement([])).toBeUndefined();
    expect(strongestRequirement([undefined, undefined])).toBeUndefined();
    expect(strongestRequirement([of('subject', 'x'), of('source', 's')])?.attribute).toBe('source');
    expect(strongestRequirement([of('source', 's'), of('subject', 'x')])?.attribute).toBe('source');
    expect(strongestRequirement([undefined, of('subject', 'x'), of('type', 't')])?.attribute).toBe('type');
    expect([...strongestRequirement([of('type', 'a', 'b'), of('type', 'c')])!.values]).toEqual(['c']);
    expect([...strongestRequirement([of('type', 'c'), of('type', 'a', 'b')])!.values]).toEqual(['c']);
    expect([...strongestRequirement([of('type', 'a'), of('type', 'b')])!.values]).toEqual(['a']);
  });
});

describe('invalid filters are a coded 400 naming where', () => {
  const error = (filter: unknown, withSql = true) =>
    thrownBy(() => compileFilter(filter, '/filters/0', withSql ? sql : undefined)) as {
      code: string;
      pointer: string;
      message: string;
    };

  it.each([
    ['not an object', 'x', 'HERALD_INVALID_FILTER', '/filters/0', 'exactly one dialect key'],
    ['null', null, 'HERALD_INVALID_FILTER', '/filters/0', 'exactly one dialect key'],
    ['an array', [], 'HERALD_INVALID_FILTER', '/filters/0', 'exactly one dialect key'],
    ['no dialect', {}, 'HERALD_INVALID_FILTER', '/filters/0', 'got none'],
    [
      'two dialects',
      { exact: { type: 'a' }, prefix: { type: 'a' } },
      'HERALD_INVALID_FILTER',
      '/filters/0',
      'got exact, prefix',
    ],
    ['an unknown dialect', { regex: {} }, 'HERALD_UNSUPPORTED_FILTER', '/filters/0/regex', "dialect 'regex'"],
    [
      'exact not an object',
      { exact: 'a' },
      'HERALD_INVALID_FILTER',
      '/filters/0/exact',
      'an object of attribute names',
    ],
    [
      'exact null',
      { exact: null },
      'HERALD_INVALID_FILTER',
      '/filters/0/exact',
      'an object of attribute names',
    ],
    [
      'exact an array',
      { exact: ['a'] },
      'HERALD_INVALID_FILTER',
      '/filters/0/exact',
      'an object of attribute names',
    ],
    ['exact empty', { prefix: {} }, 'HERALD_INVALID_FILTER', '/filters/0/prefix', 'at least one attribute'],
    [
      'a bad attribute name',
      { suffix: { Type: 'a' } },
      'HERALD_INVALID_FILTER',
      '/filters/0/suffix/Type',
      'not a CloudEvents attribute name',
    ],
    [
      'a name with a dash',
      { exact: { 'my-ext': 'a' } },
      'HERALD_INVALID_FILTER',
      '/filters/0/exact/my-ext',
      'not a CloudEvents attribute name',
    ],
    [
      'an empty value',
      { exact: { type: '' } },
      'HERALD_INVALID_FILTER',
      '/filters/0/exact/type',
      'non-empty string',
    ],
    [
      'a number value',
      { exact: { type: 1 } },
      'HERALD_INVALID_FILTER',
      '/filters/0/exact/type',
      'non-empty string',
    ],
    ['all not an array', { all: {} }, 'HERALD_INVALID_FILTER', '/filters/0/all', 'non-empty array'],
    ['any empty', { any: [] }, 'HERALD_INVALID_FILTER', '/filters/0/any', 'non-empty array'],
    [
      'a bad nested filter',
      { all: [{ exact: { type: 'a' } }, { exact: {} }] },
      'HERALD_INVALID_FILTER',
      '/filters/0/all/1/exact',
      'at least one',
    ],
    [
      'not of a bad filter',
      { not: { prefix: 'a' } },
      'HERALD_INVALID_FILTER',
      '/filters/0/not/prefix',
      'an object',
    ],
    ['sql not a string', { sql: 1 }, 'HERALD_INVALID_FILTER', '/filters/0/sql', 'CESQL expression string'],
    ['sql blank', { sql: '   ' }, 'HERALD_INVALID_FILTER', '/filters/0/sql', 'CESQL expression string'],
  ])('%s', (_name, filter, code, pointer, message) => {
    const thrown = error(filter);
    expect(thrown).toMatchObject({ code, pointer });
    expect(thrown.message).toContain(message);
  });

  it('refuses sql when the broker has no CESQL compiler', () => {
    expect(error({ sql: "type = 'a'" }, false)).toMatchObject({
      code: 'HERALD_UNSUPPORTED_FILTER',
      pointer: '/filters/0/sql',
    });
  });

  it('allows 32 levels of nesting and refuses 33', () => {
    const nest = (levels: number): unknown =>
      levels === 0 ? { exact: { type: base.type } } : { not: nest(levels - 1) };
    expect(matches(nest(32))).toBe(true);
    expect(matches(nest(31))).toBe(false);
    const deep = error(nest(33));
    expect(deep.code).toBe('HERALD_INVALID_FILTER');
    expect(deep.message).toContain('more than 32 levels');
  });
});
