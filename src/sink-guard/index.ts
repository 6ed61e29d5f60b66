export { SINK_CATEGORIES, categoryOf } from './addresses.js';
export type { SinkCategory } from './addresses.js';
export { SinkGuard, SinkForbiddenError, SINK_FORBIDDEN, parseSinkPolicy } from './guard.js';
export type { SinkGuardOptions, Resolver, ConnectLookup } from './guard.js';
