export { createLogger } from './logger.js';
export type { Logger } from './logger.js';
export { BrokerMetrics } from './metrics.js';
export type { SubscriptionGaugeSource } from './metrics.js';
export {
  noTracing,
  resetTracing,
  startTracing,
  traceIdOf,
  tracing,
  tracingRequested,
  TracingConfigError,
} from './tracing.js';
export type {
  DeliverySpan,
  DeliveryTarget,
  IngressSpan,
  TraceCarrier,
  TracedEvent,
  Tracing,
} from './tracing.js';
export { LogThrottle } from './log-throttle.js';
export { captureTrace, isValidTraceparent, TRACE_HEADERS } from './trace-context.js';
export type { CapturedTrace } from './trace-context.js';
export { versionInfo } from './version.js';
export type { VersionInfo } from './version.js';
