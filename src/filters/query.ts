import { HeraldError } from '../errors/index.js';
import type { EventPredicate } from './filters.js';
import { compileFilter, compileFilterList } from './filters.js';
import { compileSqlFilter } from './sql.js';

/**
 * A `filter=` query parameter (log read API): a CESQL expression, or — when it starts with `{` or `[`,
 * which no CESQL expression can — a Subscriptions API filter object or array of filters, so the `data`
 * dialect and the other dialects work there too.
 */
export function compileFilterParam(text: string, pointer = '?filter'): EventPredicate {
  const trimmed = text.trimStart();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) {
    return compileSqlFilter(text, pointer);
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
    ? compileFilterList(parsed, pointer, compileSqlFilter).matches
    : compileFilter(parsed, pointer, compileSqlFilter).matches;
}
