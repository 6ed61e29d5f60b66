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
 *
 * One subscription's filters (or one `?filter=`) compile into one tree, bounded as a whole: at most
 * `maxNodes` nodes together (see {@link FilterTreeLimits}), and one evaluation of the tree does at
 * most `evalBudget` characters of string work, shared by all of its CESQL expressions.
 */
export type EventPredicate = (event: CloudEvent) => boolean;

/** Bounds on one whole filter tree: all the filters of a subscription, or one `?filter=`. */
export interface FilterTreeLimits {
  /**
   * Most nodes in the tree (`--filter-max-nodes`): each filter object, each attribute of an
   * `exact`/`prefix`/`suffix` filter, each JSON Pointer and operator of a `data` filter, and each
   * node of a CESQL expression counts one.
   */
  readonly maxNodes: number;
  /** String work one evaluation of the whole tree may do (`--filter-eval-budget`); over it, no match. */
  readonly evalBudget: number;
}

/** A compiled `sql` filter, evaluated within what its tree's budget has left. */
export interface SqlExpression {
  /** Its CESQL nodes, counted towards the tree's `maxNodes`. */
  readonly nodes: number;
  /** The CESQL filter semantics, stopping (no match) after `budget` characters of string work. */
  matchesWithin(event: CloudEvent, budget: number): boolean;
  /** String work the last evaluation did (past `budget` by at most the charge that crossed it). */
  lastCost(): number;
  /** True when the last evaluation stopped at its budget. */
  exceededBudget(): boolean;
}

/**
 * The `sql` dialect and the broker's filter bounds: its `limits` bound every tree compiled with it
 * (when a broker supports no `sql`, {@link DEFAULT_TREE_LIMITS} do).
 */
export interface SqlCompiler {
  readonly limits: FilterTreeLimits;
  /** Compiles an expression of at most `maxNodes` nodes, or throws a coded 400. */
  compile(expression: string, pointer: string, maxNodes: number): SqlExpression;
  /** Told when a tree refuses to compile over a bound, with the bound's flag (a metric). */
  limitCrossed(limit: string): void;
  /** Told when an evaluation of a tree stops at its budget (a metric). */
  budgetExceeded(): void;
}

/** The defaults of `--filter-max-nodes` and `--filter-eval-budget`. */
export const DEFAULT_TREE_LIMITS: FilterTreeLimits = { maxNodes: 512, evalBudget: 1_000_000 };

export interface CompiledFilter {
  readonly matches: EventPredicate;
  /**
   * Values one of the indexable attributes (`type`, `source`, `subject`) must take for the filter to
   * match, when the filter implies such a constraint. Used to skip subscriptions that cannot match.
   */
  readonly required: RequiredValues | undefined;
  /** String work (characters) the last `matches` did; the log read API counts it against its bound. */
  readonly lastCost: () => number;
}

export const INDEXED_ATTRIBUTES = ['type', 'source', 'subject'] as const;
export type IndexedAttribute = (typeof INDEXED_ATTRIBUTES)[number];
export interface RequiredValues {
  readonly attribute: IndexedAttribute;
  readonly values: ReadonlySet<string>;
}

/** A filter of a tree before it is wrapped in the tree's budget. */
interface CompiledNode {
  readonly matches: EventPredicate;
  readonly required: RequiredValues | undefined;
}

/**
 * One tree being compiled: the nodes it may still hold and, at run time, the string work the current
 * evaluation has left (evaluation is synchronous, so one tree never runs two evaluations at once).
 */
class FilterTree {
  private nodesLeft: number;
  left = 0;
  exceeded = false;
  /** Whether the tree holds an `sql` node: only those spend from the evaluation budget. */
  private spends = false;

  constructor(
    readonly sql: SqlCompiler | undefined,
    readonly limits: FilterTreeLimits,
  ) {
    this.nodesLeft = limits.maxNodes;
  }

  /** Counts `nodes` more, or refuses the tree with the pointer of the filter that crossed the bound. */
  count(nodes: number, pointer: string): void {
    this.nodesLeft -= nodes;
    if (this.nodesLeft >= 0) return;
    this.sql?.limitCrossed('filter-max-nodes');
    throw new HeraldError(
      'HERALD_FILTER_TOO_COSTLY',
      `the filters have more than ${this.limits.maxNodes} nodes together (--filter-max-nodes counts every filter, attribute, data condition and CESQL node)`,
      { pointer },
    );
  }

  /** Compiles an `sql` expression within the nodes left; its evaluation spends from the tree's budget. */
  sqlNode(expression: string, pointer: string): EventPredicate {
    const sql = this.sql;
    if (sql === undefined) {
      throw new HeraldError(
        'HERALD_UNSUPPORTED_FILTER',
        "the 'sql' dialect is not supported by this broker",
        {
          pointer,
        },
      );
    }
    const compiled = sql.compile(expression, pointer, Math.max(this.nodesLeft, 0));
    this.count(compiled.nodes, pointer);
    this.spends = true;
    return (event) => {
      if (this.exceeded) return false;
      const matched = compiled.matchesWithin(event, this.left);
      this.left -= compiled.lastCost();
      if (compiled.exceededBudget()) this.exceeded = true;
      return matched;
    };
  }

  /**
   * The tree's filter: every evaluation starts with the whole budget, and over it nothing matches. A tree
   * without `sql` spends nothing and is its root as compiled: no wrapper is kept per subscription (a
   * broker may hold thousands, bench (h)) nor called per event.
   */
  finish(root: CompiledNode): CompiledFilter {
    if (!this.spends) return { matches: root.matches, required: root.required, lastCost: costsNothing };
    const { evalBudget } = this.limits;
    return {
      matches: (event) => {
        this.left = evalBudget;
        this.exceeded = false;
        const matched = root.matches(event);
        if (!this.exceeded) return matched;
        this.sql?.budgetExceeded();
        return false;
      },
      required: root.required,
      lastCost: () => evalBudget - this.left,
    };
  }
}

/** `lastCost` of a tree without `sql`: its dialects do no string work that the budget counts. */
const costsNothing = (): number => 0;

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
  tree: FilterTree,
): CompiledNode {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(pointer, `the '${dialect}' filter takes an object of attribute names to string values`);
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) throw invalid(pointer, `the '${dialect}' filter needs at least one attribute`);
  tree.count(entries.length, pointer);
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

/** Compiles one filter expression object (`{ "<dialect>": … }`) as a tree of its own. */
export function compileFilter(
  filter: unknown,
  pointer: string,
  sql: SqlCompiler | undefined,
): CompiledFilter {
  const tree = new FilterTree(sql, sql?.limits ?? DEFAULT_TREE_LIMITS);
  return tree.finish(compileNode(filter, pointer, tree, 0));
}

/**
 * Compiles a `filters` array as one tree: every filter must match (an empty or absent array matches
 * everything), and the tree's bounds cover all of them together.
 */
export function compileFilterList(
  filters: readonly unknown[],
  pointer: string,
  sql: SqlCompiler | undefined,
): CompiledFilter {
  const tree = new FilterTree(sql, sql?.limits ?? DEFAULT_TREE_LIMITS);
  const compiled = filters.map((filter, i) => compileNode(filter, `${pointer}/${i}`, tree, 0));
  return tree.finish({
    matches: allOf(compiled.map((c) => c.matches)),
    required: strongestRequirement(compiled.map((c) => c.required)),
  });
}

/** Compiles a bare CESQL expression (`?filter=` on the log read API) as a tree of its own. */
export function compileSqlExpression(
  expression: string,
  pointer: string,
  sql: SqlCompiler | undefined,
): CompiledFilter {
  const tree = new FilterTree(sql, sql?.limits ?? DEFAULT_TREE_LIMITS);
  return tree.finish({ matches: tree.sqlNode(expression, pointer), required: undefined });
}

/** What a `data` filter adds to its tree: each JSON Pointer and each operator (its shape is checked later). */
function dataNodes(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let nodes = 0;
  for (const condition of Object.values(value)) {
    nodes += 1 + (typeof condition === 'object' && condition !== null ? Object.keys(condition).length : 0);
  }
  return nodes;
}

function compileNode(filter: unknown, pointer: string, tree: FilterTree, depth: number): CompiledNode {
  if (depth > 32) throw invalid(pointer, 'filters are nested more than 32 levels deep');
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    throw invalid(pointer, 'a filter must be an object with exactly one dialect key');
  }
  tree.count(1, pointer);
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
      return compileComparison(dialect, value, at, tree);
    case 'all':
    case 'any': {
      if (!Array.isArray(value) || value.length === 0) {
        throw invalid(at, `the '${dialect}' filter takes a non-empty array of filters`);
      }
      const nested = value.map((item: unknown, i) => compileNode(item, `${at}/${i}`, tree, depth + 1));
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
      const inner = compileNode(value, at, tree, depth + 1);
      return { matches: (event) => !inner.matches(event), required: undefined };
    }
    case 'sql': {
      if (typeof value !== 'string' || value.trim() === '')
        throw invalid(at, "the 'sql' filter takes a CESQL expression string");
      return { matches: tree.sqlNode(value, at), required: undefined };
    }
    case 'data':
      tree.count(dataNodes(value), at);
      return { matches: compileDataFilter(value, at), required: undefined };
    default:
      throw new HeraldError(
        'HERALD_UNSUPPORTED_FILTER',
        `filter dialect '${dialect}' is not supported; use one of ${DIALECTS.join(', ')}`,
        { pointer: at },
      );
  }
}
