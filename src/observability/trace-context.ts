import type { IncomingHttpHeaders } from 'node:http';
import type { TraceCarrier } from './tracing.js';

/**
 * Trace context headers kept with each event and forwarded on delivery, in the order the
 * `--max-trace-context` budget is spent: the W3C `traceparent` first, so that an oversized `tracestate`
 * or B3 header never costs the trace itself.
 */
export const TRACE_HEADERS = [
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'x-request-id',
] as const;

const TRACEPARENT = /^([\da-f]{2})-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})(-.*)?$/;

/**
 * Whether `value` is a `traceparent` W3C Trace Context lets a participant continue: version `ff`, an
 * all-zero trace or parent id, or anything after a version-00 value makes it invalid.
 */
export function isValidTraceparent(value: string): boolean {
  const match = TRACEPARENT.exec(value.trim());
  if (match === null) return false;
  const [, version, traceId, parentId, , rest] = match;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return false;
  return !/^0+$/.test(traceId as string) && !/^0+$/.test(parentId as string);
}

export interface CapturedTrace {
  /** The headers to store with each event of the request; undefined when none is kept. */
  readonly trace: TraceCarrier | undefined;
  /** True when a header was left out because the budget could not hold it. */
  readonly overLimit: boolean;
}

/**
 * The trace context of a request, as stored with each of its events. A batch stores it once per event,
 * so it is bounded on its own (`maxBytes`: header names plus values): Node admits 16 KiB of headers and
 * a batch thousands of events. A header that does not fit is left out whole (a cut `tracestate` or B3
 * value would be a different, wrong context). An invalid `traceparent` is not kept, nor its
 * `tracestate` (W3C: both are then ignored); with tracing on the ingress span's context takes its place.
 */
export function captureTrace(headers: IncomingHttpHeaders, maxBytes: number): CapturedTrace {
  let trace: Record<string, string> | undefined;
  let spent = 0;
  let overLimit = false;
  const traceparent = headers['traceparent'];
  const validParent = typeof traceparent === 'string' && isValidTraceparent(traceparent);
  for (const name of TRACE_HEADERS) {
    const value = headers[name];
    if (typeof value !== 'string') continue;
    if ((name === 'traceparent' || name === 'tracestate') && !validParent) continue;
    const size = name.length + Buffer.byteLength(value);
    if (spent + size > maxBytes) {
      overLimit = true;
      continue;
    }
    spent += size;
    (trace ??= {})[name] = value;
  }
  return { trace, overLimit };
}
