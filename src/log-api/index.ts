export { registerLogApi } from './log-api.js';
export type { LogApiOptions, EventFilterCompiler, LogFilter, LogReadBounds } from './log-api.js';
