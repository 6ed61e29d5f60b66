import { CesqlCostError, CesqlParseError, compile } from '../cesql/index.js';
import type { CompiledExpression } from '../cesql/index.js';
import { HeraldError } from '../errors/index.js';
import type { EventPredicate, SqlCompiler } from './filters.js';

/** Bounds on one CESQL filter: compile-time cost and per-event string work. */
export interface SqlFilterLimits {
  /** Longest expression, in characters. */
  readonly maxLength: number;
  readonly maxNodes: number;
  readonly maxLikePatterns: number;
  readonly maxCallDepth: number;
  /** String work (characters) one evaluation may do; over it the event does not match. */
  readonly evalBudget: number;
}

/** The flag behind each compile-time bound, as metrics label it. */
const COST_FLAGS = {
  nodes: 'filter-max-nodes',
  likePatterns: 'filter-max-like-patterns',
  callDepth: 'filter-max-call-depth',
} as const;

/** The defaults of the `--filter-*` flags. */
export const DEFAULT_SQL_FILTER_LIMITS: SqlFilterLimits = {
  maxLength: 16_384,
  maxNodes: 512,
  maxLikePatterns: 32,
  maxCallDepth: 8,
  evalBudget: 1_000_000,
};

/**
 * Compiles a CESQL expression within `limits`, or throws a coded 400: `HERALD_INVALID_FILTER` for
 * invalid CESQL, `HERALD_FILTER_TOO_COSTLY` for one over a cost bound (both name line and column).
 */
export function compileBoundedSql(
  expression: string,
  pointer: string,
  limits: SqlFilterLimits,
  onLimit: (limit: string) => void = () => undefined,
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
        maxNodes: limits.maxNodes,
        maxLikePatterns: limits.maxLikePatterns,
        maxCallDepth: limits.maxCallDepth,
      },
      budget: limits.evalBudget,
    });
  } catch (error) {
    if (error instanceof CesqlCostError) {
      onLimit(COST_FLAGS[error.limit]);
      throw new HeraldError(
        'HERALD_FILTER_TOO_COSTLY',
        `CESQL expression too costly: ${error.detail} at line ${error.position.line}, column ${error.position.column}`,
        { pointer, cause: error },
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
 * The `sql` dialect: a CESQL expression that passes an event only when it evaluates to Boolean TRUE
 * without errors (CESQL §1.2). An evaluation over its budget is such an error: the event does not
 * match, and `onBudgetExceeded` is told (the broker counts it in a metric).
 */
export function createSqlFilterCompiler(
  limits: SqlFilterLimits = DEFAULT_SQL_FILTER_LIMITS,
  onBudgetExceeded: () => void = () => undefined,
  onLimit: (limit: string) => void = () => undefined,
): SqlCompiler {
  return (expression, pointer) => {
    const compiled = compileBoundedSql(expression, pointer, limits, onLimit);
    const predicate: EventPredicate = (event) => {
      if (compiled.matches(event.attributes)) return true;
      if (compiled.exceededBudget()) onBudgetExceeded();
      return false;
    };
    return predicate;
  };
}

/** The `sql` dialect with the default limits. */
export const compileSqlFilter: SqlCompiler = createSqlFilterCompiler();
