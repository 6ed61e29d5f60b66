import { CesqlParseError, compile } from '../cesql/index.js';
import { HeraldError } from '../errors/index.js';
import type { EventPredicate, SqlCompiler } from './filters.js';

/** Longest CESQL expression accepted in a filter; longer ones are almost certainly abuse. */
export const MAX_SQL_LENGTH = 64 * 1024;

/**
 * The `sql` dialect: a CESQL expression that passes an event only when it evaluates to Boolean TRUE
 * without errors (CESQL §1.2). Invalid expressions are a 400 naming the line and column.
 */
export const compileSqlFilter: SqlCompiler = (expression, pointer) => {
  if (expression.length > MAX_SQL_LENGTH) {
    throw new HeraldError(
      'HERALD_INVALID_FILTER',
      `the CESQL expression is longer than ${MAX_SQL_LENGTH} characters`,
      { pointer },
    );
  }
  try {
    const compiled = compile(expression);
    const predicate: EventPredicate = (event) => compiled.matches(event.attributes);
    return predicate;
  } catch (error) {
    if (error instanceof CesqlParseError) {
      throw new HeraldError(
        'HERALD_INVALID_FILTER',
        `invalid CESQL expression: ${error.detail} at line ${error.position.line}, column ${error.position.column}`,
        { pointer, cause: error },
      );
    }
    throw error;
  }
};
