import { CesqlCostError, CesqlParseError, compile } from '../cesql/index.js';
import type { CompiledExpression } from '../cesql/index.js';
import { HeraldError } from '../errors/index.js';
import type { FilterTreeLimits, SqlCompiler } from './filters.js';
import { DEFAULT_TREE_LIMITS } from './filters.js';

/**
 * The `--filter-*` bounds. `maxNodes` and `evalBudget` bound a whole filter tree (every filter of a
 * subscription, or one `?filter=`), and so each expression in it; the others bound each expression.
 */
export interface SqlFilterLimits extends FilterTreeLimits {
  /** Longest expression, in characters. */
  readonly maxLength: number;
  readonly maxLikePatterns: number;
  readonly maxCallDepth: number;
}

/** The flag behind each compile-time bound, as metrics label it. */
const COST_FLAGS = {
  nodes: 'filter-max-nodes',
  likePatterns: 'filter-max-like-patterns',
  callDepth: 'filter-max-call-depth',
} as const;

/** The defaults of the `--filter-*` flags. */
export const DEFAULT_SQL_FILTER_LIMITS: SqlFilterLimits = {
  ...DEFAULT_TREE_LIMITS,
  maxLength: 16_384,
  maxLikePatterns: 32,
  maxCallDepth: 8,
};

/**
 * Compiles a CESQL expression within `limits`, or throws a coded 400: `HERALD_INVALID_FILTER` for
 * invalid CESQL, `HERALD_FILTER_TOO_COSTLY` for one over a cost bound (both name line and column).
 * `maxNodes` is what the expression's tree has left of `limits.maxNodes`.
 */
export function compileBoundedSql(
  expression: string,
  pointer: string,
  limits: SqlFilterLimits,
  onLimit: (limit: string) => void = () => undefined,
  maxNodes: number = limits.maxNodes,
): CompiledExpression {
  if (expression.length > limits.maxLength) {
    onLimit('filter-max-length');
    throw new HeraldError(
      'HERALD_FILTER_TOO_COSTLY',
      `the CESQL expression is ${expression.length} characters long, more than ${limits.maxLength} (--filter-max-length)`,
      { pointer },
    );
  }
  try {
    return compile(expression, {
      limits: {
        maxNodes,
        maxLikePatterns: limits.maxLikePatterns,
        maxCallDepth: limits.maxCallDepth,
      },
      budget: limits.evalBudget,
    });
  } catch (error) {
    if (error instanceof CesqlCostError) {
      onLimit(COST_FLAGS[error.limit]);
      // Crossing what the tree has left is the tree's bound, not this expression's: say so (and leave
      // out the cause, whose count is the remainder).
      const ofTree = error.limit === 'nodes' && maxNodes < limits.maxNodes;
      const detail = ofTree
        ? `with the filters before it, more than ${limits.maxNodes} nodes together (--filter-max-nodes)`
        : error.detail;
      throw new HeraldError(
        'HERALD_FILTER_TOO_COSTLY',
        `CESQL expression too costly: ${detail} at line ${error.position.line}, column ${error.position.column}`,
        ofTree ? { pointer } : { pointer, cause: error },
      );
    }
    if (error instanceof CesqlParseError) {
      throw new HeraldError(
        'HERALD_INVALID_FILTER',
        `invalid CESQL expression: ${error.detail} at line ${error.position.line}, column ${error.position.column}`,
        { pointer, cause: error },
      );
    }
    throw error;
  }
}

/**
 * The `sql` dialect within `limits`: an expression passes an event only when it evaluates to Boolean
 * TRUE without errors (CESQL §1.2). Going over the tree's budget is such an error: the event does not
 * match, and `onBudgetExceeded` is told (the broker counts it in a metric); `onLimit` is told the flag
 * of a compile-time bound that refuses a filter.
 */
export function createSqlFilterCompiler(
  limits: SqlFilterLimits = DEFAULT_SQL_FILTER_LIMITS,
  onBudgetExceeded: () => void = () => undefined,
  onLimit: (limit: string) => void = () => undefined,
): SqlCompiler {
  return {
    limits,
    compile(expression, pointer, maxNodes) {
      const compiled = compileBoundedSql(expression, pointer, limits, onLimit, maxNodes);
      return {
        nodes: compiled.nodes,
        matchesWithin: (event, budget) => compiled.matchesWithin(event.attributes, budget),
        lastCost: () => compiled.lastCost(),
        exceededBudget: () => compiled.exceededBudget(),
      };
    },
    limitCrossed: onLimit,
    budgetExceeded: onBudgetExceeded,
  };
}

/** The `sql` dialect with the default limits. */
export const compileSqlFilter: SqlCompiler = createSqlFilterCompiler();
