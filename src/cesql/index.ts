// SPDX-License-Identifier: Apache-2.0
// CloudEvents SQL (CESQL v1.0.0): compile an expression once, then evaluate or match it per event.
// See README.md in this folder for the semantics and the choices made where the spec is open.
export { compile } from './compiler.js';
export type { CompileOptions } from './compiler.js';
export { CesqlCostError } from './cost.js';
export type { CostLimits } from './cost.js';
export { CesqlParseError } from './errors.js';
export { MAX_NESTING_DEPTH, parse } from './parser.js';
export { print } from './printer.js';
export type { BinaryOperator, CesqlNode } from './ast.js';
export type {
  CesqlError,
  CesqlErrorKind,
  CesqlPosition,
  CesqlResult,
  CesqlValue,
  CompiledExpression,
  EventAttributes,
} from './types.js';
