export { registerLogApi } from './log-api.js';
export type { LogApiOptions, EventFilterCompiler } from './log-api.js';
