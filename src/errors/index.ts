export { ErrorCodes, HeraldError, isHeraldError } from './registry.js';
export type { ErrorCode, ProblemDetails, HeraldErrorOptions } from './registry.js';
