/**
 * The one registry of Herald's error codes. Every problem response, log line and CLI failure
 * names one of these codes; `docs/errors.md` documents each (a test keeps the two in sync).
 *
 * @remarks `retryable` tells a client whether sending the same request again may succeed.
 */
export const ErrorCodes = {
  HERALD_MALFORMED_JSON: { status: 400, title: 'Malformed JSON', retryable: false },
  HERALD_INVALID_EVENT: { status: 400, title: 'Invalid CloudEvent', retryable: false },
  HERALD_MISSING_ATTRIBUTE: { status: 400, title: 'Missing required attribute', retryable: false },
  HERALD_INVALID_ATTRIBUTE: { status: 400, title: 'Invalid attribute value', retryable: false },
  HERALD_INVALID_ATTRIBUTE_NAME: { status: 400, title: 'Invalid attribute name', retryable: false },
  HERALD_UNSUPPORTED_SPECVERSION: { status: 400, title: 'Unsupported specversion', retryable: false },
  HERALD_INVALID_HEADER_ENCODING: { status: 400, title: 'Invalid header percent-encoding', retryable: false },
  HERALD_INVALID_DATA: { status: 400, title: 'Invalid event data', retryable: false },
  HERALD_INVALID_BATCH: { status: 400, title: 'Invalid batch', retryable: false },
  HERALD_INVALID_QUERY: { status: 400, title: 'Invalid query parameter', retryable: false },
  HERALD_INVALID_REQUEST: { status: 400, title: 'Invalid request body', retryable: false },
  HERALD_UNKNOWN_FIELD: { status: 400, title: 'Unknown field', retryable: false },
  HERALD_INVALID_FILTER: { status: 400, title: 'Invalid filter', retryable: false },
  HERALD_UNSUPPORTED_FILTER: { status: 400, title: 'Unsupported filter dialect', retryable: false },
  HERALD_INVALID_SINK: { status: 400, title: 'Invalid sink', retryable: false },
  HERALD_NOT_FOUND: { status: 404, title: 'Not found', retryable: false },
  HERALD_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed', retryable: false },
  HERALD_PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large', retryable: false },
  HERALD_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type', retryable: false },
  HERALD_UNSUPPORTED_ENCODING: { status: 415, title: 'Unsupported content coding', retryable: false },
  HERALD_RATE_LIMITED: { status: 429, title: 'Too many requests', retryable: true },
  HERALD_INTERNAL: { status: 500, title: 'Internal error', retryable: true },
  HERALD_LOG_CORRUPT: { status: 500, title: 'Event log damaged', retryable: false },
  HERALD_STORE_UNAVAILABLE: { status: 503, title: 'Store unavailable', retryable: true },
  HERALD_SHUTTING_DOWN: { status: 503, title: 'Shutting down', retryable: true },
  HERALD_NOT_READY: { status: 503, title: 'Not ready', retryable: true },
  HERALD_CONFLICT: { status: 409, title: 'Conflict', retryable: false },
  HERALD_SINK_REJECTED: { status: 502, title: 'Sink rejected the event', retryable: false },
  HERALD_SINK_UNAVAILABLE: { status: 502, title: 'Sink failed or asked to retry', retryable: true },
  HERALD_SINK_TIMEOUT: { status: 504, title: 'Sink did not answer in time', retryable: true },
  HERALD_SINK_UNREACHABLE: { status: 502, title: 'Sink could not be reached', retryable: true },
  HERALD_INVALID_CONFIG: { status: 500, title: 'Invalid configuration', retryable: false },
  HERALD_SINK_FORBIDDEN: { status: 400, title: 'Sink address not allowed', retryable: false },
  HERALD_SINK_REDIRECTED: { status: 502, title: 'Sink answered a redirect', retryable: false },
  HERALD_SINK_HANDSHAKE_FAILED: { status: 502, title: 'Sink did not validate', retryable: true },
  HERALD_SCHEMA_VIOLATION: { status: 400, title: 'Data violates the type schema', retryable: false },
  HERALD_UNAUTHENTICATED: { status: 401, title: 'Unauthenticated', retryable: false },
  HERALD_AUTH_UNAVAILABLE: { status: 503, title: 'Authentication backend unavailable', retryable: true },
  HERALD_FORBIDDEN: { status: 403, title: 'Forbidden', retryable: false },
  HERALD_CROSS_ORIGIN: { status: 403, title: 'Cross-origin request refused', retryable: false },
  HERALD_SUBSCRIPTION_LIMIT: { status: 403, title: 'Too many subscriptions', retryable: false },
  HERALD_AUTHORIZATION_TOO_LARGE: { status: 431, title: 'Authorization header too large', retryable: false },
  HERALD_TOO_MANY_SUBSCRIBERS: { status: 400, title: 'Too many subscribers', retryable: false },
  HERALD_TOO_MANY_SUBSCRIPTIONS: { status: 409, title: 'Too many subscriptions', retryable: false },
  HERALD_FILTER_TOO_COSTLY: { status: 400, title: 'Filter too costly', retryable: false },
  HERALD_RATE_BURST_EXCEEDED: { status: 413, title: 'Request larger than the rate burst', retryable: false },
  HERALD_JSON_TOO_DEEP: { status: 400, title: 'JSON nested too deeply', retryable: false },
  HERALD_TOO_MANY_EXTENSIONS: { status: 400, title: 'Too many extension attributes', retryable: false },
  HERALD_REQUEST_TIMEOUT: { status: 408, title: 'Request timeout', retryable: true },
  HERALD_BAD_HTTP_REQUEST: { status: 400, title: 'Malformed HTTP request', retryable: false },
  HERALD_TOO_MANY_CONNECTIONS: { status: 503, title: 'Too many connections', retryable: true },
  HERALD_TOO_MANY_STREAMS: { status: 429, title: 'Too many streams', retryable: true },
  HERALD_STREAM_CAPACITY: { status: 503, title: 'Stream capacity reached', retryable: true },
  HERALD_LOG_READ_CAPACITY: { status: 503, title: 'Log read capacity reached', retryable: true },
  HERALD_TOO_MANY_LOG_READS: { status: 429, title: 'Too many log reads for this client', retryable: true },
  HERALD_DEAD_LETTER_READ_CAPACITY: {
    status: 503,
    title: 'Dead-letter read capacity reached',
    retryable: true,
  },
  HERALD_TOO_MANY_DEAD_LETTER_READS: {
    status: 429,
    title: 'Too many dead-letter reads for this client',
    retryable: true,
  },
  HERALD_TOO_MANY_EVENTS: { status: 413, title: 'Too many events in one request', retryable: false },
  // 499 as nginx logs it: nobody reads the answer, but the code says the client ended the request.
  HERALD_CLIENT_CLOSED_REQUEST: { status: 499, title: 'Client closed the request', retryable: true },
} as const satisfies Record<string, { status: number; title: string; retryable: boolean }>;

export type ErrorCode = keyof typeof ErrorCodes;

export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ErrorCode;
  /** The CloudEvents attribute to blame, when one is. */
  readonly attribute?: string;
  /** A JSON pointer (RFC 6901) into the request body, when one input is to blame. */
  readonly pointer?: string;
  /** For batches: the index of the offending event. */
  readonly index?: number;
}

export interface HeraldErrorOptions extends ErrorOptions {
  readonly attribute?: string;
  readonly pointer?: string;
  readonly index?: number;
  /** Seconds, for 429 and 503. */
  readonly retryAfter?: number;
}

/** An error with a registry code; classify by `code`, not `instanceof` (it crosses worker threads). */
export class HeraldError extends Error {
  readonly code: ErrorCode;
  readonly attribute: string | undefined;
  readonly pointer: string | undefined;
  readonly index: number | undefined;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, detail: string, options: HeraldErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HeraldError';
    this.code = code;
    this.attribute = options.attribute;
    this.pointer = options.pointer;
    this.index = options.index;
    this.retryAfter = options.retryAfter;
  }

  get status(): number {
    return ErrorCodes[this.code].status;
  }

  /** The same error, blamed on event `index` of a batch. */
  atIndex(index: number): HeraldError {
    return new HeraldError(this.code, `event ${index}: ${this.message}`, {
      ...(this.attribute === undefined ? {} : { attribute: this.attribute }),
      pointer: `/${index}${this.pointer ?? ''}`,
      index,
      cause: this,
    });
  }

  toProblem(): ProblemDetails {
    const entry = ErrorCodes[this.code];
    return {
      type: `https://herald.dev/errors/${this.code}`,
      title: entry.title,
      status: entry.status,
      detail: this.message,
      code: this.code,
      ...(this.attribute === undefined ? {} : { attribute: this.attribute }),
      ...(this.pointer === undefined ? {} : { pointer: this.pointer }),
      ...(this.index === undefined ? {} : { index: this.index }),
    };
  }
}

export function isHeraldError(value: unknown): value is HeraldError {
  return value instanceof Error && value.name === 'HeraldError' && 'code' in value;
}

/**
 * The most characters of a request's input a problem repeats. A batch may be 16 MiB: a megabyte-long
 * attribute name was repeated in the detail, the `attribute` and the `pointer` (3 MB of answer, and of
 * debug log, per request); enough to recognise the input is all a client needs back.
 */
export const INPUT_SHOWN = 128;

/** `text` JSON-quoted for a problem's detail: whole when short, else its start and its length. */
export function quoted(text: string): string {
  return text.length <= INPUT_SHOWN
    ? JSON.stringify(text)
    : `${JSON.stringify(text.slice(0, INPUT_SHOWN))}… (${text.length} characters)`;
}
