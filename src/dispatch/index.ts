export { Dispatcher } from './dispatcher.js';
export type { DispatcherOptions } from './dispatcher.js';
export { classifyStatus, backoffDelay, parseRetryAfter } from './retry.js';
export { SinkClient, buildDelivery } from './sink-client.js';
