import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CloudEvent } from '../cloudevents/index.js';
import {
  detectMode,
  hasBinaryHeaders,
  isJsonMediaType,
  jsonTooDeep,
  parseBatch,
  parseBinary,
  parseStructured,
} from '../cloudevents/index.js';
import { HeraldError, quoted } from '../errors/index.js';
import { clientKeyOf, ownerOf, readBody } from '../http/index.js';
import type { BodyLimitFlag } from '../http/index.js';
import { jsonDepthExceeded, RateLimiter } from '../limits/index.js';
import { captureTrace, tracing } from '../observability/index.js';
import type { BrokerMetrics, IngressSpan } from '../observability/index.js';
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
  /** Events one request may carry under the rate limit (0 = one second of the rate). */
  readonly rateBurst?: number;
  readonly rateLimitPer?: 'global' | 'client';
  readonly rateLimitClients?: number;
  /** Told when the per-client rate limit forgets its least recently seen client to stay bounded. */
  readonly onRateLimitClientForgotten?: () => void;
  /** Deepest nesting of arrays and objects in a JSON body. */
  readonly maxJsonDepth?: number;
  /** Most extension attributes per event. */
  readonly maxExtensions?: number;
  /** Most events in one batch request (`--max-batch-events`). */
  readonly maxBatchEvents?: number;
  /** Bytes of trace context headers stored with each event (`--max-trace-context`). */
  readonly maxTraceContext?: number;
}

/** The context attributes CloudEvents 1.0.2 defines; every other attribute is an extension. */
const SPEC_ATTRIBUTES = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'datacontenttype',
  'dataschema',
  'subject',
  'time',
]);

export interface IngressRequestOptions {
  /**
   * The original project's `/events/pub` read `application/json` bodies as structured events; that
   * route keeps doing so. Elsewhere `application/json` without `ce-` headers is not a CloudEvent.
   */
  readonly jsonIsStructured?: boolean;
}

/** An event's size as `--max-event-size` counts it: data bytes plus each attribute's name and value. */
function eventSize(event: CloudEvent): number {
  let size = event.data?.byteLength ?? 0;
  for (const name in event.attributes) size += name.length + String(event.attributes[name]).length + 6;
  return size;
}

/** How many of an event's attributes are extensions (not defined by CloudEvents 1.0.2 itself). */
function extensionCount(event: CloudEvent): number {
  let extensions = 0;
  for (const name in event.attributes) if (!SPEC_ATTRIBUTES.has(name)) extensions++;
  return extensions;
}

function isJsonContentType(contentType: string): boolean {
  return /^application\/json\s*(?:;|$)/i.test(contentType);
}

/**
 * Refuses a body under a content coding (`gzip`, `br`, …): Herald does not decode bodies, and reading the
 * coded bytes as they are would store them as the event's data (a gzip-compressed JSON body became opaque
 * bytes under `application/json`). RFC 9110 §8.4.1 lets a server answer 415 for a coding it does not take;
 * `identity` is no coding and passes. Refused before the body is read, so a compression bomb costs nothing.
 */
function refuseContentCoding(req: IncomingMessage): void {
  const coding = req.headers['content-encoding'];
  if (coding === undefined) return;
  for (const name of coding.split(',')) {
    const trimmed = name.trim();
    if (trimmed === '' || trimmed.toLowerCase() === 'identity') continue;
    throw new HeraldError(
      'HERALD_UNSUPPORTED_ENCODING',
      `the body is sent with Content-Encoding ${quoted(trimmed)}; Herald reads only unencoded (identity) bodies`,
    );
  }
}

/**
 * CloudEvents ingress: parses binary, structured and batch requests, validates every event, and
 * answers 202 only after the store has durably appended all of them (or recognised them as duplicates).
 */
export class Ingress {
  private readonly limiter: RateLimiter | undefined;
  private readonly requestSizeLimit: BodyLimitFlag;

  constructor(private readonly options: IngressOptions) {
    this.requestSizeLimit = {
      flag: 'max-request-size',
      onRefused: (flag) => options.metrics.limitRejections.inc({ limit: flag }),
    };
    const rate = options.rateLimit;
    this.limiter =
      rate > 0
        ? new RateLimiter({
            rate,
            burst:
              options.rateBurst !== undefined && options.rateBurst > 0
                ? options.rateBurst
                : Math.max(1, Math.ceil(rate)),
            per: options.rateLimitPer ?? 'global',
            maxClients: options.rateLimitClients ?? 10_000,
            ...(options.onRateLimitClientForgotten === undefined
              ? {}
              : { onForget: options.onRateLimitClientForgotten }),
          })
        : undefined;
  }

  /**
   * Refuses a structured event's body that cannot hold an event within `--max-event-size`, before it is
   * parsed: an event's size counts its data as sent and its attributes, so its body is at most about that
   * plus its JSON punctuation. Twice the limit and 64 KiB leaves room for escapes, whitespace and Base64,
   * while a body the size of `--max-request-size` (16 MiB) no longer holds the event loop for a parse.
   */
  private refuseOversizedEventBody(body: Uint8Array): void {
    const max = this.options.maxEventSize;
    if (body.byteLength <= 2 * max + 65_536) return;
    this.options.metrics.limitRejections.inc({ limit: 'max-event-size' });
    throw new HeraldError(
      'HERALD_PAYLOAD_TOO_LARGE',
      `a structured event of ${body.byteLength} bytes cannot be within the limit of ${max} bytes (--max-event-size)`,
    );
  }

  /** Refuses a JSON body nested deeper than `--max-json-depth`, before it is parsed. */
  private checkDepth(body: Uint8Array): void {
    const max = this.options.maxJsonDepth ?? 64;
    const at = jsonDepthExceeded(body, max);
    if (at >= 0) this.refuseTooDeep(jsonTooDeep(max, at));
  }

  private refuseTooDeep(error: HeraldError): never {
    this.options.metrics.limitRejections.inc({ limit: 'max-json-depth' });
    throw error;
  }

  /**
   * Structured and batch mode: the decoder applies the depth limit (and for a batch the event cap) in
   * its own pass over the body; a refusal by either is counted under its flag.
   */
  private decodeCounted<T>(decode: (maxDepth: number) => T): T {
    try {
      return decode(this.options.maxJsonDepth ?? 64);
    } catch (error) {
      const code = (error as HeraldError).code;
      if (code === 'HERALD_JSON_TOO_DEEP') this.refuseTooDeep(error as HeraldError);
      if (code === 'HERALD_TOO_MANY_EVENTS') {
        this.options.metrics.limitRejections.inc({ limit: 'max-batch-events' });
      }
      throw error;
    }
  }

  /** Parses and validates a request into events; throws a coded error for anything invalid. */
  async parse(req: IncomingMessage, requestOptions: IngressRequestOptions = {}): Promise<CloudEvent[]> {
    refuseContentCoding(req);
    return this.parseBody(req, await this.readBody(req), requestOptions);
  }

  /** The body, up to `--max-request-size`; a larger one is refused and counted under that flag. */
  private readBody(req: IncomingMessage): Promise<Buffer> {
    return readBody(req, this.options.maxRequestSize, this.requestSizeLimit);
  }

  /** `parse` once the body is read. */
  private parseBody(req: IncomingMessage, body: Buffer, requestOptions: IngressRequestOptions): CloudEvent[] {
    const contentType = req.headers['content-type'];
    let events: CloudEvent[];
    const mode = detectMode(contentType);
    if (mode === 'batch') {
      const maxEvents = this.options.maxBatchEvents ?? 5000;
      events = this.decodeCounted((max) => parseBatch(contentType as string, body, max, maxEvents));
    } else if (mode === 'structured') {
      this.refuseOversizedEventBody(body);
      events = [this.decodeCounted((max) => parseStructured(contentType as string, body, max))];
    } else {
      if (contentType !== undefined && isJsonMediaType(contentType)) this.checkDepth(body);
      if (hasBinaryHeaders(req.rawHeaders)) events = [parseBinary(req.rawHeaders, contentType, body)];
      else if (
        requestOptions.jsonIsStructured === true &&
        contentType !== undefined &&
        isJsonContentType(contentType)
      ) {
        // A structured event, so the structured bounds: refused by its size before it is parsed (its
        // depth was checked above).
        this.refuseOversizedEventBody(body);
        events = [parseStructured('application/cloudevents+json', body)];
      } else {
        throw new HeraldError(
          'HERALD_UNSUPPORTED_MEDIA_TYPE',
          `not a CloudEvent: send application/cloudevents+json, application/cloudevents-batch+json, or binary mode with ce-* headers (got content-type ${JSON.stringify(contentType ?? null)} and no ce-* headers)`,
        );
      }
    }
    const max = this.options.maxEventSize;
    const maxExtensions = this.options.maxExtensions ?? 64;
    for (let index = 0; index < events.length; index++) {
      const event = events[index] as CloudEvent;
      const extensions = extensionCount(event);
      if (extensions > maxExtensions) {
        this.options.metrics.limitRejections.inc({ limit: 'max-extensions' });
        throw new HeraldError(
          'HERALD_TOO_MANY_EXTENSIONS',
          `event ${index} has ${extensions} extension attributes, more than ${maxExtensions} (--max-extensions)`,
          { index },
        );
      }
      const size = eventSize(event);
      if (size > max) {
        this.options.metrics.limitRejections.inc({ limit: 'max-event-size' });
        throw new HeraldError(
          'HERALD_PAYLOAD_TOO_LARGE',
          `event ${index} is ${size} bytes, over the limit of ${max} bytes (--max-event-size)`,
          { index },
        );
      }
    }
    return events;
  }

  handle(
    req: IncomingMessage,
    res: ServerResponse,
    requestOptions: IngressRequestOptions = {},
  ): Promise<void> {
    return tracing().ingress(req, res, (span) => this.accept(req, res, requestOptions, span));
  }

  private async accept(
    req: IncomingMessage,
    res: ServerResponse,
    requestOptions: IngressRequestOptions,
    span: IngressSpan,
  ): Promise<void> {
    const limiter = this.limiter;
    const client = limiter === undefined ? '' : clientKeyOf(req);
    // A cheap refusal before the body is read when not even one event could pass now.
    if (limiter !== undefined) this.limited(() => limiter.check(client), req);
    refuseContentCoding(req);
    const events = this.parseBody(req, await this.readBody(req), requestOptions);
    this.options.authorizeEvents?.(req, events);
    // Counted in events once they are known; the request passes whole or not at all.
    if (limiter !== undefined) this.limited(() => limiter.take(client, events.length), req);
    const hook = this.options.hook;
    hook?.check?.(events);
    const trace = span.storedTrace(this.captureTrace(req));
    // The dedupe key includes who published (anonymous: undefined), so that one principal cannot make
    // another's event with the same (source, id) a duplicate.
    const principal = ownerOf(req);
    const inputs: AppendInput[] = events.map((event) => ({ event, trace, principal }));
    const { store, metrics } = this.options;
    if (!store.isReady()) {
      throw new HeraldError('HERALD_STORE_UNAVAILABLE', 'the event store is not available', {
        retryAfter: 1,
      });
    }
    const started = performance.now();
    const outcomes = await span.append(inputs, () => store.append(inputs));
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

  /** The request's trace context as each of its events stores it (see `captureTrace`). */
  private captureTrace(req: IncomingMessage): TraceHeaders | undefined {
    const captured = captureTrace(req.headers, this.options.maxTraceContext ?? 2048);
    if (captured.overLimit) this.options.metrics.limitRejections.inc({ limit: 'max-trace-context' });
    return captured.trace;
  }

  private limited(check: () => void, req: IncomingMessage): void {
    try {
      check();
    } catch (error) {
      const burst = (error as HeraldError).code === 'HERALD_RATE_BURST_EXCEEDED';
      this.options.metrics.limitRejections.inc({
        limit: burst ? 'ingress-rate-burst' : 'ingress-rate-limit',
      });
      req.resume();
      throw error;
    }
  }
}
