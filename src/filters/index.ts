export {
  compileFilter,
  compileFilterList,
  compileSqlExpression,
  DEFAULT_TREE_LIMITS,
  strongestRequirement,
  allOf,
  INDEXED_ATTRIBUTES,
} from './filters.js';
export type {
  CompiledFilter,
  EventPredicate,
  SqlCompiler,
  SqlExpression,
  FilterTreeLimits,
  RequiredValues,
  IndexedAttribute,
} from './filters.js';
export {
  compileSqlFilter,
  compileBoundedSql,
  createSqlFilterCompiler,
  DEFAULT_SQL_FILTER_LIMITS,
} from './sql.js';
export type { SqlFilterLimits } from './sql.js';
export { compileFilterParam } from './query.js';
export { compileDataFilter, dataParseCount, parseJsonPointer } from './data.js';
