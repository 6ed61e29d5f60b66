import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DataKind } from '../cloudevents/index.js';
import type { CloudEvent } from '../cloudevents/index.js';
import { BrokerMetrics } from '../observability/index.js';
import { thrownBy } from '../testing/thrown.js';
import { linearRegExp } from './linear-regexp.js';
import { EventTypeRegistry } from './registry.js';
import { SchemaValidators, UnusableSchemaError } from './schema-validator.js';
import type { DeclaredEventType, EventTypeBackend } from './types.js';

/** Patterns and the strings each is tried on: the answers must be V8's, as before RE2. */
const SAME_AS_BEFORE: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['^\\d{3}-\\d{4}$', ['555-1234', '555-12345', 'x555-1234', '٣٣٣-1234']],
  ['^\\w+$', ['abc_123', 'abc-1', 'é', '']],
  ['\\bend\\b', ['the end', 'ending', 'end.']],
  ['^[A-Z][a-z]+$', ['Hello', 'hello', 'HeLlo']],
  ['b', ['abc', 'xyz']], // unanchored: found anywhere
  ['^a', ['ab', 'ba']],
  ['a$', ['ba', 'ab', 'a\n']],
  ['^\\p{L}+$', ['Grüße', 'Ελληνικά', '日本語', 'abc1']],
  ['^\\p{Lu}', ['Émile', 'émile']],
  ['^\\P{L}+$', ['123 !', 'a1']],
  ['^\\p{Script=Greek}+$', ['Ελληνικά', 'Greek']],
  ['^\\p{sc=Latin}+$', ['Latin', 'Ελληνικά']],
  ['^\\p{Letter}+$', ['Grüße', 'a1']],
  ['^\\p{General_Category=Uppercase_Letter}\\p{gc=Ll}$', ['Ab', 'ab', 'AB']],
  ['^[\\p{N}\\p{Currency_Symbol}]+$', ['12€', '12e']],
  ['^.$', ['😀', 'ab', 'é']], // one code point, as with the u flag
  ['^[😀-😂]$', ['😁', '😃']],
  ['^\\u00e9$', ['é', 'e']],
  ['^\\u{1F600}$', ['😀', '😁']],
  ['^(?<year>\\d{4})-(?:0[1-9]|1[0-2])$', ['2024-12', '2024-13']],
  ['^[^/]+/[^/]+$', ['a/b', 'a/b/c']],
  ['^a{2,3}$', ['a', 'aa', 'aaa', 'aaaa']],
  ['^(a+)+$', ['aaaa', 'aaab']],
  ['^[\\s\\S]*x', ['line\nx', 'line\ny']],
];

describe('linearRegExp (Ajv code.regExp on RE2)', () => {
  it.each(SAME_AS_BEFORE)('%s matches as a JavaScript u RegExp does', (pattern, inputs) => {
    const re2 = linearRegExp(pattern, 'u');
    const v8 = new RegExp(pattern, 'u');
    for (const input of inputs) expect(re2.test(input), JSON.stringify(input)).toBe(v8.test(input));
  });

  it('answers a hostile input to ^(a+)+$ (V8 backtracks for minutes on it)', () => {
    // Bounded by the test's timeout: V8 took minutes on this input.
    expect(linearRegExp('^(a+)+$', 'u').test(`${'a'.repeat(40)}!`)).toBe(false);
    expect(linearRegExp('^(a|aa)+$', 'u').test(`${'a'.repeat(10_000)}!`)).toBe(false);
  });

  it('honours the flags i, m and s', () => {
    expect(linearRegExp('^abc$', 'iu').test('ABC')).toBe(true);
    expect(linearRegExp('^b$', 'mu').test('a\nb')).toBe(true);
    expect(linearRegExp('^b$', 'u').test('a\nb')).toBe(false);
    expect(linearRegExp('a.b', 'su').test('a\nb')).toBe(true);
    expect(thrownBy(() => linearRegExp('a', 'g'))).toMatchObject({ code: 'HERALD_INVALID_CONFIG' });
  });

  it.each([
    ['a lookahead', '^(?=a)a'],
    ['a negative lookahead', '^(?!b)a'],
    ['a lookbehind', '(?<=a)b'],
    ['a negative lookbehind', '(?<!a)b'],
    ['a backreference', '^(a)\\1$'],
    ['a named backreference', '^(?<x>a)\\k<x>$'],
    ['a pattern JavaScript refuses too', '\\e'],
  ])('refuses %s with HERALD_INVALID_CONFIG naming the pattern', (_what, pattern) => {
    const error = thrownBy(() => linearRegExp(pattern, 'u'));
    expect(error).toMatchObject({ code: 'HERALD_INVALID_CONFIG' });
    expect((error as Error).message).toContain(JSON.stringify(pattern));
  });
});

describe('SchemaValidators', () => {
  it('compiles pattern and patternProperties to RE2: each pattern keeps its own meaning', () => {
    const validate = new SchemaValidators().validator({
      type: 'object',
      properties: { a: { type: 'string', pattern: '^a+$' }, b: { type: 'string', pattern: '^b+$' } },
      patternProperties: { '^x-\\d+$': { type: 'number' } },
    });
    expect(validate({ a: 'aa', b: 'bb', 'x-1': 3 })).toBe(true);
    expect(validate({ a: 'bb' })).toBe(false);
    expect(validate({ b: 'aa' })).toBe(false);
    expect(validate({ 'x-1': 'three' })).toBe(false);
    expect(validate({ 'x-a': 'not a number, not a pattern property' })).toBe(true);
  });

  it('refuses a schema whose pattern RE2 cannot run (reason invalid)', () => {
    const error = thrownBy(() =>
      new SchemaValidators().validator({ type: 'string', pattern: '^(?=.*\\d)\\w+$' }),
    );
    expect(error).toBeInstanceOf(UnusableSchemaError);
    expect(error).toMatchObject({ code: 'HERALD_INVALID_CONFIG', problem: 'invalid' });
    expect((error as Error).message).toContain('lookahead');
  });

  it.each([
    { $ref: '#' },
    { allOf: [{ $ref: '#' }] },
    { not: { $ref: '#' } },
    { anyOf: [{ type: 'string' }, { $ref: '#' }] },
  ])('refuses %j, which refers to itself without descending into the data (reason recursive)', (schema) => {
    const validators = new SchemaValidators();
    const error = thrownBy(() => validators.validator(schema));
    expect(error).toBeInstanceOf(UnusableSchemaError);
    expect(error).toMatchObject({ code: 'HERALD_INVALID_CONFIG', problem: 'recursive' });
    expect(validators.compilations).toBe(0);
  });

  it('keeps a recursive schema that descends into the data (a tree)', () => {
    const validate = new SchemaValidators().validator({
      type: 'object',
      properties: { children: { type: 'array', items: { $ref: '#' } } },
    });
    expect(validate({ children: [{ children: [] }, {}] })).toBe(true);
    expect(validate({ children: [1] })).toBe(false);
  });
});

describe('EventTypeRegistry with a schema that refers to itself', () => {
  const declared = (schema: Record<string, unknown>) =>
    ({ type: 't', validation: 'enforce', schema }) as const satisfies DeclaredEventType;
  const withData = (data: unknown): CloudEvent => ({
    attributes: { specversion: '1.0', id: 'x', type: 't', source: '/s' },
    data: new TextEncoder().encode(JSON.stringify(data)),
    dataKind: DataKind.Json,
  });
  function registry() {
    const lines: string[] = [];
    const metrics = new BrokerMetrics(false);
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const backend: EventTypeBackend = {
      paced: false,
      start: async () => {},
      write: async () => {},
      stop: () => {},
    };
    return { r: new EventTypeRegistry({ backend, metrics, logger, max: 10, rate: 10 }), lines, metrics };
  }
  const counted = async (metrics: BrokerMetrics, reason: string) =>
    (await metrics.eventTypeSchemaErrors.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

  it('does not enforce one that always recurses: warned and counted once, however often it is declared again', async () => {
    const { r, lines, metrics } = registry();
    // A Kubernetes status write is an update event: the same declaration comes again and again.
    for (let i = 0; i < 3; i++) r.declare('k', declared({ allOf: [{ $ref: '#' }] }));
    expect(() => r.check([withData({ a: 1 }), withData('x')])).not.toThrow();
    expect(lines.filter((line) => line.includes('refers to itself'))).toHaveLength(1);
    expect(await counted(metrics, 'recursive')).toBe(1);
  });

  it('refuses the data one recursing only on some shapes cannot evaluate, and keeps enforcing', async () => {
    const { r, lines, metrics } = registry();
    r.declare('k', declared({ type: 'object', if: { required: ['loop'] }, then: { $ref: '#' } }));
    for (let i = 0; i < 2; i++) {
      expect(thrownBy(() => r.check([withData({ ok: 1 }), withData({ loop: 1 })]))).toMatchObject({
        code: 'HERALD_SCHEMA_VIOLATION',
        pointer: '/1/data',
        index: 1,
      });
    }
    expect(thrownBy(() => r.check([withData('not an object')]))).toMatchObject({
      code: 'HERALD_SCHEMA_VIOLATION',
    });
    expect(() => r.check([withData({ ok: 1 })])).not.toThrow();
    expect(lines.filter((line) => line.includes('refers to itself'))).toHaveLength(1);
    expect(await counted(metrics, 'overflow')).toBe(2);
  });
});
