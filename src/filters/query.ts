import { HeraldError } from '../errors/index.js';
import type { CompiledFilter, SqlCompiler } from './filters.js';
import { compileFilter, compileFilterList, compileSqlExpression } from './filters.js';
import { compileSqlFilter } from './sql.js';

/**
 * A `filter=` query parameter (log read API): a CESQL expression, or — when it starts with `{` or `[`,
 * which no CESQL expression can — a Subscriptions API filter object or array of filters, so the `data`
 * dialect and the other dialects work there too. Both forms are one tree within `sql`'s limits, and
 * the returned filter's `lastCost` is the string work of its last evaluation.
 */
export function compileFilterParam(
  text: string,
  sql: SqlCompiler = compileSqlFilter,
  pointer = '?filter',
): CompiledFilter {
  const trimmed = text.trimStart();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) {
    return compileSqlExpression(text, pointer, sql);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch (error) {
    throw new HeraldError(
      'HERALD_INVALID_FILTER',
      `the filter is not valid JSON: ${(error as Error).message}`,
      {
        pointer,
        cause: error,
      },
    );
  }
  return Array.isArray(parsed)
    ? compileFilterList(parsed, pointer, sql)
    : compileFilter(parsed, pointer, sql);
}
