// SPDX-License-Identifier: Apache-2.0

/** A CESQL value: Boolean, Integer (always a 32-bit signed integer) or String. */
export type CesqlValue = boolean | number | string;

/** The error kinds of CESQL v1 §3.3, spelled as in the conformance TCK. */
export type CesqlErrorKind =
  'parse' | 'math' | 'cast' | 'missingFunction' | 'functionEvaluation' | 'missingAttribute' | 'generic';

/**
 * A place in the expression source.
 *
 * @remarks `offset` indexes the source string (UTF-16 code units, 0-based); `line` and `column` are
 * 1-based and `column` counts code points, which is what an editor shows.
 */
export interface CesqlPosition {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
}

/** One error of an evaluation (the secondary output of CESQL v1 §1). */
export interface CesqlError {
  readonly kind: CesqlErrorKind;
  readonly message: string;
  /** Where the failing operator, function call or attribute reference starts. */
  readonly position?: CesqlPosition;
}

/**
 * The context attributes of one event, extensions included, keyed by attribute name.
 *
 * @remarks Integer attributes are numbers, Boolean attributes booleans and everything else (String,
 * URI, URI-reference, Timestamp, Binary as base64) its canonical string; a Timestamp keeps its
 * original lexical form. `undefined` (and, defensively, `null`) means the attribute is absent.
 */
export type EventAttributes = Readonly<Record<string, string | number | boolean | undefined>>;

/** The result of {@link CompiledExpression.evaluate}. */
export interface CesqlResult {
  readonly value: CesqlValue;
  /** Empty when the evaluation succeeded. This engine stops at the first error, so it has at most one entry. */
  readonly errors: readonly CesqlError[];
}

/** A compiled expression; compile once, evaluate many times. */
export interface CompiledExpression {
  /** The expression text it was compiled from. */
  readonly source: string;
  /** Nodes (operators, operands, calls, literals) in its tree, as the `maxNodes` bound counts them. */
  readonly nodes: number;
  /** Evaluates against one event's attributes. Never throws. */
  evaluate(event: EventAttributes): CesqlResult;
  /**
   * The filter semantics of CESQL v1 §1.2: `true` only when the value is Boolean `true` and no error
   * occurred. Never throws and allocates nothing.
   */
  matches(event: EventAttributes): boolean;
  /**
   * `matches` with at most `budget` characters of string work (or the compiled budget, when that is
   * smaller): lets several expressions share one budget. A second parameter of `matches` would take
   * an array index when it is passed to `Array.prototype.filter`, so this is its own method.
   */
  matchesWithin(event: EventAttributes, budget: number): boolean;
  /** String work (characters) the last `evaluate` or `matches` did. */
  lastCost(): number;
  /** True when the last `evaluate` or `matches` stopped because it would exceed its budget. */
  exceededBudget(): boolean;
}
