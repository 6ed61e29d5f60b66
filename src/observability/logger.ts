import { pino } from 'pino';
import type { Logger } from 'pino';
import { tracing } from './tracing.js';

export type { Logger };

/**
 * Structured JSON logs on stdout, one object per line. While a traced request or delivery is running,
 * lines carry its `trace_id` and `span_id` (nothing is added when tracing is off).
 */
export function createLogger(
  level: string,
  base: Record<string, unknown> = {},
  destination?: NodeJS.WritableStream,
): Logger {
  const options = {
    level,
    base: { service: 'herald', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Only with tracing on (started before the logger): no per-line cost otherwise.
    ...(tracing().enabled ? { mixin: () => tracing().logFields() } : {}),
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
