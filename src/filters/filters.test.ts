import { describe, expect, it } from 'vitest';
import { DataKind } from '../cloudevents/index.js';
import type { AttributeValue, CloudEvent } from '../cloudevents/index.js';
import { thrownBy } from '../testing/thrown.js';
import {
  allOf,
  compileFilter,
  compileFilterList,
  compileFilterParam,
  createSqlFilterCompiler,
  DEFAULT_SQL_FILTER_LIMITS,
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

describe("one subscription's filters are bounded together", () => {
  /** A compiler with the given bounds that records what it reports. */
  const bounded = (limits: { maxNodes?: number; evalBudget?: number }) => {
    const reported = { limits: [] as string[], budgetExceeded: 0 };
    const compiler = createSqlFilterCompiler(
      { ...DEFAULT_SQL_FILTER_LIMITS, ...limits },
      () => reported.budgetExceeded++,
      (limit) => reported.limits.push(limit),
    );
    return { compiler, reported };
  };
  const costly = { sql: "LOWER(subject) LIKE '%zz%'" };

  it("refuses the review's 6,000 small sql filters under one any, at the member that crossed --filter-max-nodes", () => {
    const { compiler, reported } = bounded({});
    const filters = [{ any: Array.from({ length: 6000 }, () => costly) }];
    const thrown = thrownBy(() => compileFilterList(filters, '/filters', compiler));
    // The any counts 1; each member 1 for its object and 3 CESQL nodes: member 127 ends at 513 > 512.
    expect(thrown).toMatchObject({ code: 'HERALD_FILTER_TOO_COSTLY', pointer: '/filters/0/any/127/sql' });
    expect((thrown as Error).message).toContain('more than 512 nodes together (--filter-max-nodes)');
    expect(reported.limits).toEqual(['filter-max-nodes']);
  });

  it('counts dialect filters too: 512 nodes of exact filters pass, one attribute more is refused', () => {
    const { compiler } = bounded({});
    // 1 (the any) + 255 × 2 (object + attribute) + 1 (the last object) = 512.
    const members = (n: number) => Array.from({ length: n }, () => ({ exact: { type: base.type } }));
    const list = [{ any: [...members(255), { exact: { type: base.type } }] }];
    // 1 + 256 × 2 = 513: the last member's attribute crosses the bound.
    expect(thrownBy(() => compileFilterList(list, '/filters', compiler))).toMatchObject({
      code: 'HERALD_FILTER_TOO_COSTLY',
      pointer: '/filters/0/any/255/exact',
    });
    const fits = [{ any: members(255) }, { not: { any: [{ exact: { subject: 'x' } }] } }];
    // 511 + 1 (the not) = 512: its filter (at the not's pointer) is one more.
    expect(thrownBy(() => compileFilterList(fits, '/filters', compiler))).toMatchObject({
      pointer: '/filters/1/not',
    });
    expect(compileFilterList([{ any: members(255) }], '/filters', compiler).matches(event())).toBe(true);
  });

  it('counts data conditions and sums separate sql filters, naming the bound in the detail', () => {
    const { compiler } = bounded({ maxNodes: 13 });
    // A data filter: 1 + 2 pointers + 3 operators = 6, then 3, then 6 again crosses 13.
    const data = { data: { '/a': { gt: 1, lt: 9 }, '/b': { exists: true } } };
    expect(
      thrownBy(() => compileFilterList([data, { data: { '/c': { eq: 1 } } }, data], '/filters', compiler)),
    ).toMatchObject({ pointer: '/filters/2/data' });
    // Two sql filters of 6 nodes each (5 CESQL + the object) fit; a third, of 2, is refused.
    const small = { sql: "type = 'a' OR TRUE" };
    expect(() => compileFilterList([small, small], '/filters', compiler)).not.toThrow();
    const over = thrownBy(() => compileFilterList([small, small, { sql: 'TRUE' }], '/filters', compiler));
    expect(over).toMatchObject({ code: 'HERALD_FILTER_TOO_COSTLY', pointer: '/filters/2/sql' });
    expect((over as Error).message).toContain('more than 13 nodes together (--filter-max-nodes)');
  });

  it('shares --filter-eval-budget among all sql expressions of one evaluation', () => {
    const { compiler, reported } = bounded({ evalBudget: 1000 });
    // Each costly expression does 750 units of work on a 150-character subject (LOWER builds 150
    // characters, the LIKE takes 150 steps of 4): one fits the budget, the second takes the evaluation
    // over it, so the matching third is never reached.
    const filter = compileFilterList(
      [{ any: [costly, costly, { sql: "subject LIKE 'a%'" }] }],
      '/filters',
      compiler,
    );
    const long = event({ subject: 'a'.repeat(150) });
    expect(filter.matches(long)).toBe(false);
    expect(reported.budgetExceeded).toBe(1);
    expect(filter.lastCost()).toBeLessThanOrEqual(1000 + 750);
    // Each evaluation starts with the whole budget again: a short subject matches.
    expect(filter.matches(event({ subject: 'abc' }))).toBe(true);
    expect(filter.lastCost()).toBeGreaterThan(0);
    expect(reported.budgetExceeded).toBe(1);
  });

  it('bounds the work of many expressions by one budget, whatever their number', () => {
    const { compiler, reported } = bounded({ maxNodes: 100_000, evalBudget: 1000 });
    const filter = compileFilterList([{ any: Array.from({ length: 1000 }, () => costly) }], '/f', compiler);
    expect(filter.matches(event({ subject: 'a'.repeat(150) }))).toBe(false);
    // Per expression, the 1,000 expressions would have done 750,000 units of work.
    expect(filter.lastCost()).toBeLessThanOrEqual(1000 + 750);
    expect(reported.budgetExceeded).toBe(1);
  });

  it('an evaluation over the budget matches nothing, even under not', () => {
    const { compiler } = bounded({ evalBudget: 1000 });
    const filter = compileFilter({ not: { any: [costly, costly] } }, '/filters/0', compiler);
    expect(filter.matches(event({ subject: 'a'.repeat(300) }))).toBe(false);
    expect(filter.matches(event({ subject: 'a' }))).toBe(true);
  });
});

describe('filter= on the log read API obeys the configured bounds in both forms', () => {
  const sevenTermOr = Array.from({ length: 7 }, (_, i) => `type = 't${i}'`).join(' OR ');

  it.each([
    ['CESQL', sevenTermOr, '?filter'],
    ['a JSON object', JSON.stringify({ sql: sevenTermOr }), '?filter/sql'],
    ['a JSON array', JSON.stringify([{ exact: { type: 'x' } }, { sql: sevenTermOr }]), '?filter/1/sql'],
  ])('refuses %s over --filter-max-nodes 10', (_form, text, pointer) => {
    const limits: string[] = [];
    const compiler = createSqlFilterCompiler({ ...DEFAULT_SQL_FILTER_LIMITS, maxNodes: 10 }, undefined, (l) =>
      limits.push(l),
    );
    expect(thrownBy(() => compileFilterParam(text, compiler))).toMatchObject({
      code: 'HERALD_FILTER_TOO_COSTLY',
      pointer,
    });
    expect(limits).toEqual(['filter-max-nodes']);
  });

  it('reports the string work of the JSON form, and stops it at the budget', () => {
    let exceeded = 0;
    const compiler = createSqlFilterCompiler(
      { ...DEFAULT_SQL_FILTER_LIMITS, evalBudget: 1000 },
      () => exceeded++,
    );
    const filter = compileFilterParam(JSON.stringify({ sql: "LOWER(subject) LIKE '%zz%'" }), compiler);
    expect(filter.matches(event({ subject: 'a'.repeat(100) }))).toBe(false);
    // LOWER builds 100 characters; the LIKE compares each once looking for `zz`, 4 units a step.
    expect(filter.lastCost()).toBe(500);
    expect(exceeded).toBe(0);
    expect(filter.matches(event({ subject: 'a'.repeat(300) }))).toBe(false);
    expect(exceeded).toBe(1);
  });
});
