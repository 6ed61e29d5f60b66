import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CloudEvent } from '../cloudevents/index.js';
import {
  detectMode,
  hasBinaryHeaders,
  parseBatch,
  parseBinary,
  parseStructured,
} from '../cloudevents/index.js';
import { HeraldError } from '../errors/index.js';
import { readBody } from '../http/index.js';
import { TokenBucket } from '../limits/index.js';
import type { BrokerMetrics } from '../observability/index.js';
import type { AppendInput, EventStore, TraceHeaders } from '../store/index.js';
import type { IngressHook } from './hooks.js';

export interface IngressOptions {
  readonly store: EventStore;
  readonly metrics: BrokerMetrics;
  readonly maxEventSize: number;
  readonly maxRequestSize: number;
  /** Events per second; 0 = unlimited. */
  readonly rateLimit: number;
  /** Sees every request's events before they are stored and after they are accepted. */
  readonly hook?: IngressHook;
  /** Authorization of the parsed events (a principal's `publish` filters); throws to refuse them all. */
  readonly authorizeEvents?: (req: IncomingMessage, events: readonly CloudEvent[]) => void;
}

export interface IngressRequestOptions {
  /**
   * The original project's `/events/pub` read `application/json` bodies as structured events; that
   * route keeps doing so. Elsewhere `application/json` without `ce-` headers is not a CloudEvent.
   */
  readonly jsonIsStructured?: boolean;
}

/** Trace context headers kept with each event and forwarded on delivery. */
const TRACE_HEADERS = [
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

function captureTrace(req: IncomingMessage): TraceHeaders | undefined {
  let trace: Record<string, string> | undefined;
  for (const name of TRACE_HEADERS) {
    const value = req.headers[name];
    if (typeof value === 'string') (trace ??= {})[name] = value;
  }
  return trace;
}

function eventSize(event: CloudEvent): number {
  let size = event.data?.byteLength ?? 0;
  for (const name in event.attributes) size += name.length + String(event.attributes[name]).length + 6;
  return size;
}

function isJsonContentType(contentType: string): boolean {
  return /^application\/json\s*(?:;|$)/i.test(contentType);
}

/**
 * CloudEvents ingress: parses binary, structured and batch requests, validates every event, and
 * answers 202 only after the store has durably appended all of them (or recognised them as duplicates).
 */
export class Ingress {
  private readonly bucket: TokenBucket | undefined;

  constructor(private readonly options: IngressOptions) {
    this.bucket = options.rateLimit > 0 ? new TokenBucket(options.rateLimit) : undefined;
  }

  /** Parses and validates a request into events; throws a coded error for anything invalid. */
  async parse(req: IncomingMessage, requestOptions: IngressRequestOptions = {}): Promise<CloudEvent[]> {
    const body = await readBody(req, this.options.maxRequestSize);
    const contentType = req.headers['content-type'];
    let events: CloudEvent[];
    const mode = detectMode(contentType);
    if (mode === 'batch') events = parseBatch(contentType as string, body);
    else if (mode === 'structured') events = [parseStructured(contentType as string, body)];
    else if (hasBinaryHeaders(req.rawHeaders)) events = [parseBinary(req.rawHeaders, contentType, body)];
    else if (
      requestOptions.jsonIsStructured === true &&
      contentType !== undefined &&
      isJsonContentType(contentType)
    ) {
      events = [parseStructured('application/cloudevents+json', body)];
    } else {
      throw new HeraldError(
        'HERALD_UNSUPPORTED_MEDIA_TYPE',
        `not a CloudEvent: send application/cloudevents+json, application/cloudevents-batch+json, or binary mode with ce-* headers (got content-type ${JSON.stringify(contentType ?? null)} and no ce-* headers)`,
      );
    }
    const max = this.options.maxEventSize;
    events.forEach((event, index) => {
      const size = eventSize(event);
      if (size > max) {
        throw new HeraldError(
          'HERALD_PAYLOAD_TOO_LARGE',
          `event ${index} is ${size} bytes, over the limit of ${max} bytes`,
          {
            index,
          },
        );
      }
    });
    return events;
  }

  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    requestOptions: IngressRequestOptions = {},
  ): Promise<void> {
    if (this.bucket !== undefined && !this.bucket.tryTake(1)) {
      req.resume();
      throw new HeraldError(
        'HERALD_RATE_LIMITED',
        `ingress is limited to ${this.options.rateLimit} events per second`,
        {
          retryAfter: Math.max(1, Math.ceil(this.bucket.waitTime(1) / 1000)),
        },
      );
    }
    const events = await this.parse(req, requestOptions);
    this.options.authorizeEvents?.(req, events);
    if (this.bucket !== undefined && events.length > 1) this.bucket.tryTake(events.length - 1);
    const hook = this.options.hook;
    hook?.check?.(events);
    const trace = captureTrace(req);
    const inputs: AppendInput[] = events.map((event) => ({ event, trace }));
    const { store, metrics } = this.options;
    if (!store.isReady()) {
      throw new HeraldError('HERALD_STORE_UNAVAILABLE', 'the event store is not available', {
        retryAfter: 1,
      });
    }
    const started = performance.now();
    const outcomes = await store.append(inputs);
    metrics.appendSeconds.observe((performance.now() - started) / 1000);
    let duplicates = 0;
    for (const outcome of outcomes) if (outcome.duplicate) duplicates++;
    metrics.accepted.inc(outcomes.length - duplicates);
    if (duplicates > 0) metrics.duplicates.inc(duplicates);
    if (hook?.accepted !== undefined) {
      try {
        hook.accepted(duplicates === 0 ? events : events.filter((_, i) => outcomes[i]?.duplicate !== true));
      } catch {
        // A hook never fails a publish that was stored (see IngressHook.accepted).
      }
    }
    res.writeHead(202, { 'content-length': 0 });
    res.end();
  }
}
