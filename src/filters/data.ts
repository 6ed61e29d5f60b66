import { DataKind } from '../cloudevents/index.js';
import type { CloudEvent } from '../cloudevents/index.js';
import { HeraldError } from '../errors/index.js';

/**
 * The `data` filter dialect (a Herald extension of the Subscriptions API dialects): conditions on the
 * event's JSON `data`, addressed by JSON Pointers (RFC 6901).
 *
 * ```json
 * { "data": { "/order/total": { "gte": 100 }, "/customer/tier": { "eq": "gold" } } }
 * ```
 *
 * - operators: `eq` (a JSON string, number, boolean or null; compared with its JSON type, so `"100"` is
 *   not `100`), `prefix` (strings only), `gt`/`gte`/`lt`/`lte` (numbers only), `exists` (`true`/`false`);
 *   several operators on one pointer, and several pointers, must all hold;
 * - an event whose data is not JSON (no data, text, bytes) never matches a data condition, not even
 *   `exists: false`; `not` of such a condition therefore matches it.
 */
export interface DataCondition {
  readonly eq?: string | number | boolean | null;
  readonly prefix?: string;
  readonly gt?: number;
  readonly gte?: number;
  readonly lt?: number;
  readonly lte?: number;
  readonly exists?: boolean;
}

const OPERATORS = ['eq', 'prefix', 'gt', 'gte', 'lt', 'lte', 'exists'] as const;
const MAX_POINTER_LENGTH = 1024;
const NOT_JSON: unique symbol = Symbol('not JSON');
const MISSING: unique symbol = Symbol('missing');

/**
 * Parsed data per event, shared by every filter evaluated on the same event object: the dispatcher
 * evaluates all subscriptions on one object, so an event's data is parsed at most once however many
 * subscriptions filter on it. Weak, so an event leaving memory takes its parsed data with it.
 */
const parsedData = new WeakMap<CloudEvent, unknown>();
let parses = 0;
const utf8 = new TextDecoder();

/** How many times event data was parsed for data filters (a metric; tests prove sharing with it). */
export function dataParseCount(): number {
  return parses;
}

/** The last event looked at: the dispatcher evaluates every subscription on one event in a row. */
let lastEvent: CloudEvent | undefined;
let lastData: unknown;

/** The event's data as a parsed JSON value, or NOT_JSON; parsed on first use, then cached. */
function jsonData(event: CloudEvent): unknown {
  if (event === lastEvent) return lastData;
  const value = parsedDataOf(event);
  lastEvent = event;
  lastData = value;
  return value;
}

function parsedDataOf(event: CloudEvent): unknown {
  const cached = parsedData.get(event);
  if (cached !== undefined) return cached;
  let value: unknown = NOT_JSON;
  if (event.dataKind === DataKind.Json && event.data !== undefined) {
    parses++;
    try {
      value = JSON.parse(utf8.decode(event.data)) as unknown;
    } catch {
      value = NOT_JSON; // ingress only keeps parseable bytes as JSON; stay safe if a store disagrees
    }
  }
  parsedData.set(event, value);
  return value;
}

function invalid(pointer: string, detail: string): HeraldError {
  return new HeraldError('HERALD_INVALID_FILTER', detail, { pointer });
}

/** Splits an RFC 6901 pointer into unescaped reference tokens; throws for a malformed one. */
export function parseJsonPointer(text: string, at: string): string[] {
  if (text === '') return [];
  if (!text.startsWith('/'))
    throw invalid(at, `'${text}' is not a JSON Pointer: it must be '' or start with '/'`);
  if (text.length > MAX_POINTER_LENGTH)
    throw invalid(at, `the JSON Pointer is longer than ${MAX_POINTER_LENGTH} characters`);
  if (/~(?![01])/.test(text))
    throw invalid(at, `'${text}' is not a JSON Pointer: '~' must be followed by 0 or 1`);
  return text
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

function resolve(document: unknown, tokens: readonly string[]): unknown {
  let node = document;
  for (const token of tokens) {
    if (Array.isArray(node)) {
      if (!ARRAY_INDEX.test(token)) return MISSING;
      const index = Number(token);
      if (index >= node.length) return MISSING;
      node = node[index] as unknown;
    } else if (typeof node === 'object' && node !== null) {
      if (!Object.hasOwn(node, token)) return MISSING;
      node = (node as Record<string, unknown>)[token];
    } else {
      return MISSING;
    }
  }
  return node;
}

type ValueTest = (value: unknown) => boolean;

function compileCondition(condition: unknown, at: string): ValueTest {
  if (typeof condition !== 'object' || condition === null || Array.isArray(condition)) {
    throw invalid(at, `a data condition is an object of operators (${OPERATORS.join(', ')})`);
  }
  const entries = Object.entries(condition as Record<string, unknown>);
  if (entries.length === 0) throw invalid(at, 'a data condition needs at least one operator');
  const tests: ValueTest[] = [];
  for (const [operator, operand] of entries) {
    const where = `${at}/${operator}`;
    switch (operator) {
      case 'eq':
        if (operand !== null && !['string', 'number', 'boolean'].includes(typeof operand)) {
          throw invalid(where, "'eq' takes a JSON string, number, boolean or null");
        }
        tests.push((value) => value === operand);
        break;
      case 'prefix': {
        if (typeof operand !== 'string' || operand === '')
          throw invalid(where, "'prefix' takes a non-empty string");
        tests.push((value) => typeof value === 'string' && value.startsWith(operand));
        break;
      }
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte': {
        if (typeof operand !== 'number' || !Number.isFinite(operand)) {
          throw invalid(where, `'${operator}' takes a number`);
        }
        const compare =
          operator === 'gt'
            ? (n: number) => n > operand
            : operator === 'gte'
              ? (n: number) => n >= operand
              : operator === 'lt'
                ? (n: number) => n < operand
                : (n: number) => n <= operand;
        tests.push((value) => typeof value === 'number' && compare(value));
        break;
      }
      case 'exists':
        if (typeof operand !== 'boolean') throw invalid(where, "'exists' takes true or false");
        tests.push(operand ? (value) => value !== MISSING : (value) => value === MISSING);
        break;
      default:
        throw invalid(where, `unknown data operator '${operator}'; use one of ${OPERATORS.join(', ')}`);
    }
  }
  // A missing value (MISSING) fails every operator but `exists: false`.
  if (tests.length === 1) return tests[0] as ValueTest;
  return (value) => {
    for (const test of tests) if (!test(value)) return false;
    return true;
  };
}

/** Compiles the value of a `data` filter (`{ "<pointer>": { <operator>: operand, … }, … }`). */
export function compileDataFilter(value: unknown, at: string): (event: CloudEvent) => boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(at, "the 'data' filter takes an object of JSON Pointers to conditions");
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) throw invalid(at, "the 'data' filter needs at least one JSON Pointer");
  const checks = entries.map(([pointer, condition]) => {
    const where = `${at}/${pointer.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    const tokens = parseJsonPointer(pointer, where);
    const test = compileCondition(condition, where);
    return (document: unknown) => test(resolve(document, tokens));
  });
  return (event) => {
    const document = jsonData(event);
    if (document === NOT_JSON) return false;
    for (const check of checks) if (!check(document)) return false;
    return true;
  };
}
