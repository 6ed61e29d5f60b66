import type { Attributes, CloudEvent } from '../cloudevents/index.js';
import { HeraldError } from '../errors/index.js';
import { compileDataFilter } from './data.js';

/**
 * Subscriptions API filter dialects (CloudEvents Subscriptions API §3.2.4): `exact`, `prefix`,
 * `suffix`, `all`, `any`, `not`, `sql` when a CESQL compiler is supplied, and Herald's `data`
 * extension (conditions on JSON data, see data.ts).
 *
 * Comparison rules Herald documents (the spec leaves them open):
 * - a missing attribute never matches `exact`/`prefix`/`suffix` (so `not` of such a filter matches);
 * - Integer and Boolean attributes compare by their canonical string form (`42`, `true`).
 */
export type EventPredicate = (event: CloudEvent) => boolean;

/** Compiles a CESQL expression for the `sql` dialect; throws a coded 400 for an invalid one. */
export type SqlCompiler = (expression: string, pointer: string) => EventPredicate;

export interface CompiledFilter {
  readonly matches: EventPredicate;
  /**
   * Values one of the indexable attributes (`type`, `source`, `subject`) must take for the filter to
   * match, when the filter implies such a constraint. Used to skip subscriptions that cannot match.
   */
  readonly required: RequiredValues | undefined;
}

export const INDEXED_ATTRIBUTES = ['type', 'source', 'subject'] as const;
export type IndexedAttribute = (typeof INDEXED_ATTRIBUTES)[number];
export interface RequiredValues {
  readonly attribute: IndexedAttribute;
  readonly values: ReadonlySet<string>;
}

const DIALECTS = ['exact', 'prefix', 'suffix', 'all', 'any', 'not', 'sql', 'data'] as const;

function invalid(pointer: string, detail: string): HeraldError {
  return new HeraldError('HERALD_INVALID_FILTER', detail, { pointer });
}

function attributeText(attributes: Attributes, name: string): string | undefined {
  const value = attributes[name];
  return value === undefined ? undefined : typeof value === 'string' ? value : String(value);
}

function compileComparison(
  dialect: 'exact' | 'prefix' | 'suffix',
  value: unknown,
  pointer: string,
): { matches: EventPredicate; required: RequiredValues | undefined } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(pointer, `the '${dialect}' filter takes an object of attribute names to string values`);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) throw invalid(pointer, `the '${dialect}' filter needs at least one attribute`);
  const pairs: Array<[string, string]> = [];
  for (const [name, expected] of entries) {
    if (!/^[a-z0-9]+$/.test(name)) {
      throw invalid(
        `${pointer}/${name}`,
        `'${name}' is not a CloudEvents attribute name (lower-case letters and digits)`,
      );
    }
    if (typeof expected !== 'string' || expected === '') {
      throw invalid(`${pointer}/${name}`, `the '${dialect}' value for '${name}' must be a non-empty string`);
    }
    pairs.push([name, expected]);
  }
  let required: RequiredValues | undefined;
  if (dialect === 'exact') {
    for (const attribute of INDEXED_ATTRIBUTES) {
      const pair = pairs.find(([name]) => name === attribute);
      if (pair !== undefined) {
        required = { attribute, values: new Set([pair[1]]) };
        break;
      }
    }
  }
  const test =
    dialect === 'exact'
      ? (actual: string, expected: string) => actual === expected
      : dialect === 'prefix'
        ? (actual: string, expected: string) => actual.startsWith(expected)
        : (actual: string, expected: string) => actual.endsWith(expected);
  if (pairs.length === 1) {
    const [name, expected] = pairs[0] as [string, string];
    return {
      matches: ({ attributes }) => {
        const actual = attributeText(attributes, name);
        return actual !== undefined && test(actual, expected);
      },
      required,
    };
  }
  return {
    matches: ({ attributes }) => {
      for (const [name, expected] of pairs) {
        const actual = attributeText(attributes, name);
        if (actual === undefined || !test(actual, expected)) return false;
      }
      return true;
    },
    required,
  };
}

/** The most selective constraint among several that must all hold (prefer type, then source, subject). */
export function strongestRequirement(
  candidates: ReadonlyArray<RequiredValues | undefined>,
): RequiredValues | undefined {
  let best: RequiredValues | undefined;
  for (const candidate of candidates) {
    if (candidate === undefined) continue;
    if (
      best === undefined ||
      INDEXED_ATTRIBUTES.indexOf(candidate.attribute) < INDEXED_ATTRIBUTES.indexOf(best.attribute) ||
      (candidate.attribute === best.attribute && candidate.values.size < best.values.size)
    ) {
      best = candidate;
    }
  }
  return best;
}

export function allOf(predicates: readonly EventPredicate[]): EventPredicate {
  if (predicates.length === 0) return () => true;
  if (predicates.length === 1) return predicates[0] as EventPredicate;
  return (event) => {
    for (const predicate of predicates) if (!predicate(event)) return false;
    return true;
  };
}

/** Compiles one filter expression object (`{ "<dialect>": … }`). */
export function compileFilter(
  filter: unknown,
  pointer: string,
  sql: SqlCompiler | undefined,
  depth = 0,
): CompiledFilter {
  if (depth > 32) throw invalid(pointer, 'filters are nested more than 32 levels deep');
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    throw invalid(pointer, 'a filter must be an object with exactly one dialect key');
  }
  const keys = Object.keys(filter);
  if (keys.length !== 1) {
    throw invalid(
      pointer,
      `a filter must have exactly one dialect key, got ${keys.length === 0 ? 'none' : keys.join(', ')}`,
    );
  }
  const dialect = keys[0] as string;
  const value = (filter as Record<string, unknown>)[dialect];
  const at = `${pointer}/${dialect}`;
  switch (dialect) {
    case 'exact':
    case 'prefix':
    case 'suffix':
      return compileComparison(dialect, value, at);
    case 'all':
    case 'any': {
      if (!Array.isArray(value) || value.length === 0) {
        throw invalid(at, `the '${dialect}' filter takes a non-empty array of filters`);
      }
      const nested = value.map((item: unknown, i) => compileFilter(item, `${at}/${i}`, sql, depth + 1));
      if (dialect === 'all') {
        return {
          matches: allOf(nested.map((n) => n.matches)),
          required: strongestRequirement(nested.map((n) => n.required)),
        };
      }
      const predicates = nested.map((n) => n.matches);
      // `any` is indexable only when every branch constrains the same attribute: the union of values.
      const first = nested[0]?.required;
      const union =
        first !== undefined && nested.every((n) => n.required?.attribute === first.attribute)
          ? {
              attribute: first.attribute,
              values: new Set(nested.flatMap((n) => [...(n.required?.values ?? [])])),
            }
          : undefined;
      return {
        matches: (event) => {
          for (const predicate of predicates) if (predicate(event)) return true;
          return false;
        },
        required: union,
      };
    }
    case 'not': {
      const inner = compileFilter(value, at, sql, depth + 1);
      return { matches: (event) => !inner.matches(event), required: undefined };
    }
    case 'sql': {
      if (typeof value !== 'string' || value.trim() === '')
        throw invalid(at, "the 'sql' filter takes a CESQL expression string");
      if (sql === undefined) {
        throw new HeraldError(
          'HERALD_UNSUPPORTED_FILTER',
          "the 'sql' dialect is not supported by this broker",
          { pointer: at },
        );
      }
      return { matches: sql(value, at), required: undefined };
    }
    case 'data':
      return { matches: compileDataFilter(value, at), required: undefined };
    default:
      throw new HeraldError(
        'HERALD_UNSUPPORTED_FILTER',
        `filter dialect '${dialect}' is not supported; use one of ${DIALECTS.join(', ')}`,
        { pointer: at },
      );
  }
}

/** Compiles a `filters` array: every filter must match (an empty or absent array matches everything). */
export function compileFilterList(
  filters: readonly unknown[],
  pointer: string,
  sql: SqlCompiler | undefined,
): CompiledFilter {
  const compiled = filters.map((filter, i) => compileFilter(filter, `${pointer}/${i}`, sql));
  return {
    matches: allOf(compiled.map((c) => c.matches)),
    required: strongestRequirement(compiled.map((c) => c.required)),
  };
}
