export { ErrorCodes, HeraldError, INPUT_SHOWN, isHeraldError, quoted } from './registry.js';
export type { ErrorCode, ProblemDetails, HeraldErrorOptions } from './registry.js';
