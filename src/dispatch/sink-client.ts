import { Agent, buildConnector } from 'undici';
import type { Dispatcher } from 'undici';
import { rootCertificates } from 'node:tls';
import type { StoredEvent, TraceHeaders } from '../store/index.js';
import {
  batchToJsonBytes,
  binaryModeCarries,
  eventToJsonBytes,
  toBinaryHeaders,
} from '../cloudevents/index.js';
import type { SinkGuard } from '../sink-guard/index.js';
import { SINK_FORBIDDEN } from '../sink-guard/index.js';
import type { ContentMode } from '../subscriptions/types.js';
import { isReservedDeliveryHeader } from '../subscriptions/validate.js';
import { timerDelay } from './timers.js';

export interface SinkRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body?: Uint8Array | string;
  /** The whole attempt (connect, headers and body of the answer) ends after this long. */
  readonly timeoutMs: number;
  /** Attempts that can be ended together (a subscription's delivery lane being stopped or sought). */
  readonly group?: AttemptGroup;
}

/** What an attempt in a group offers it: ending it now. */
interface Stoppable {
  stop(reason: Error): void;
}

/**
 * Attempts in flight for one owner, which can end them all at once (`abort`): a subscription changed,
 * sought or stopped ends its attempts so that the next delivery of the same events never overlaps them.
 * An attempt started in an aborted group ends at once.
 */
export class AttemptGroup {
  private readonly attempts = new Set<Stoppable>();
  private abortedBy: Error | undefined;

  get aborted(): boolean {
    return this.abortedBy !== undefined;
  }

  /** Ends every attempt in flight and any started later (they end as `abandoned` failures). */
  abort(): void {
    this.abortedBy ??= new Abandoned();
    for (const attempt of [...this.attempts]) attempt.stop(this.abortedBy);
  }

  /** @internal the client's bookkeeping. */
  add(attempt: Stoppable): void {
    if (this.abortedBy !== undefined) attempt.stop(this.abortedBy);
    else this.attempts.add(attempt);
  }

  /** @internal */
  delete(attempt: Stoppable): void {
    this.attempts.delete(attempt);
  }
}

/**
 * Why no HTTP status came back. `abandoned`: its `AttemptGroup` was aborted (the subscription changed,
 * was sought or stopped); `shutdown`: the broker is stopping.
 */
export type SinkFailure = 'timeout' | 'forbidden' | 'network' | 'shutdown' | 'abandoned';

export interface SinkResponse {
  /** HTTP status, or 0 when no response arrived (see `failure`). */
  readonly status: number;
  readonly failure: SinkFailure | undefined;
  readonly retryAfter: string | undefined;
  /** Response headers (lower-case names), empty when no response arrived. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /**
   * The transport's error message when no response arrived. Never any of the sink's response body:
   * a sink's answer is discarded, so status cannot become a channel to read an internal service.
   */
  readonly detail: string;
}

export interface SinkClientOptions {
  readonly guard?: SinkGuard;
  /** PEM of extra CAs trusted for https sinks (`--sink-ca`), besides the system's. */
  readonly ca?: string;
  /** Bytes of a sink's answer read (and discarded) before the connection is dropped. */
  readonly responseLimit?: number;
  /** Called when an answer was longer than `responseLimit`. */
  readonly onTruncated?: () => void;
  /** Called when an attempt was aborted at its deadline. */
  readonly onDeadline?: () => void;
}

class DeadlineExceeded extends Error {
  constructor() {
    super('the attempt deadline passed');
    this.name = 'DeadlineExceeded';
  }
}

class Abandoned extends Error {
  constructor() {
    super('aborted: the subscription changed, was sought or stopped');
    this.name = 'Abandoned';
  }
}

class ShuttingDown extends Error {
  constructor() {
    super('the broker is shutting down');
    this.name = 'ShuttingDown';
  }
}

function traceHeaders(trace: TraceHeaders | undefined, into: Record<string, string>): void {
  if (trace === undefined) return;
  for (const name in trace) into[name] = trace[name] as string;
}

/** Builds the HTTP request that delivers `events` in a content mode (batch mode sends them all at once). */
export function buildDelivery(
  events: readonly StoredEvent[],
  mode: ContentMode,
  extraHeaders: Readonly<Record<string, string>>,
): { headers: Record<string, string>; body: Uint8Array | string } {
  const first = events[0] as StoredEvent;
  let headers: Record<string, string>;
  let body: Uint8Array | string;
  if (mode === 'batch') {
    headers = { 'content-type': 'application/cloudevents-batch+json' };
    body = batchToJsonBytes(events.map((e) => e.event));
  } else if (mode === 'structured' || !binaryModeCarries(first.event)) {
    // An event whose datacontenttype is itself a CloudEvents format has no binary-mode message: the sink
    // would read its Content-Type as structured mode and its data as the event (`binaryModeCarries`).
    headers = { 'content-type': 'application/cloudevents+json' };
    body = eventToJsonBytes(first.event);
  } else {
    headers = toBinaryHeaders(first.event);
    body = first.event.data ?? new Uint8Array(0);
  }
  traceHeaders(first.trace, headers);
  for (const name in extraHeaders) {
    const lower = name.toLowerCase();
    // Configured headers are added, never put in place of the delivery's own (content type, trace
    // context, attributes, Herald's metadata); a `ce-*` one would add an attribute the event lacks.
    // Validation refuses both prefixes; this keeps definitions stored before it did from forging them.
    if (Object.hasOwn(headers, lower) || isReservedDeliveryHeader(lower)) continue;
    headers[lower] = extraHeaders[name] as string;
  }
  return { headers, body };
}

/**
 * The sink transport: one undici Agent, which keeps a keep-alive connection pool per sink origin, so
 * deliveries reuse connections instead of setting one up per event. Every new connection goes
 * through the sink guard (literal addresses, and every address a name resolves to); redirects are
 * never followed (undici does not follow them without an interceptor).
 */
export class SinkClient {
  private readonly agent: Agent;
  /** Every attempt in flight, so shutdown can abort them. */
  private readonly inFlight = new Set<Attempt>();
  private shuttingDown = false;
  private readonly connectors = new Map<number, buildConnector.connector>();
  private readonly attempts: AttemptHost;

  constructor(private readonly options: SinkClientOptions = {}) {
    this.attempts = {
      responseLimit: options.responseLimit ?? 16 * 1024,
      onTruncated: () => this.options.onTruncated?.(),
      failure: (error, deadlinePassed, timeoutMs) => this.failed(error, deadlinePassed, timeoutMs),
      settled: (attempt) => this.inFlight.delete(attempt),
    };
    this.agent = new Agent({
      connections: 256,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      connect: (connectOptions, callback) => this.connect(connectOptions, callback),
    });
  }

  private connect(connectOptions: buildConnector.Options, callback: buildConnector.Callback): void {
    const { guard, ca } = this.options;
    const port = Number(connectOptions.port || (connectOptions.protocol === 'https:' ? 443 : 80));
    const hostname = connectOptions.hostname;
    const refused = guard?.checkConnect(hostname, port);
    if (refused !== undefined) {
      callback(refused, null);
      return;
    }
    let connector = this.connectors.get(port);
    if (connector === undefined) {
      // One connector per port: the guard's lookup needs the port to refuse the broker's own listeners.
      connector = buildConnector({
        timeout: 10_000,
        ...(ca === undefined ? {} : { ca: [...rootCertificates, ca] }),
        ...(guard === undefined ? {} : { lookup: guard.lookupFor(port) }),
      } as buildConnector.BuildOptions);
      this.connectors.set(port, connector);
    }
    connector(connectOptions, callback);
  }

  /** Parsed sink URLs: a subscription sends to the same one for every event. */
  private readonly targets = new Map<string, { origin: string; path: string }>();

  private target(sink: string): { origin: string; path: string } {
    let target = this.targets.get(sink);
    if (target === undefined) {
      const url = new URL(sink);
      target = { origin: url.origin, path: `${url.pathname}${url.search}` };
      if (this.targets.size > 10_000) this.targets.clear();
      this.targets.set(sink, target);
    }
    return target;
  }

  /**
   * One attempt, bounded by an overall deadline (not an idle timeout: a sink trickling a byte at a
   * time cannot keep it open) and by shutdown. The answer's body is read up to `responseLimit` bytes
   * and discarded; past that the connection is dropped.
   *
   * Dispatched with a handler of its own rather than `agent.request()`: per delivery that saves an
   * `AbortController` and its signal's listeners, a body stream and an async iterator over it.
   */
  send(request: SinkRequest): Promise<SinkResponse> {
    const { origin, path } = this.target(request.url);
    return new Promise<SinkResponse>((resolve) => {
      const attempt = new Attempt(this.attempts, request.timeoutMs, resolve, request.group);
      if (this.shuttingDown) {
        attempt.stop(new ShuttingDown());
        return;
      }
      this.inFlight.add(attempt);
      request.group?.add(attempt);
      if (attempt.ended) return;
      try {
        this.agent.dispatch(
          {
            origin,
            path,
            method: request.method as Dispatcher.HttpMethod,
            headers: request.headers,
            ...(request.body === undefined ? {} : { body: request.body }),
            // The deadline bounds the attempt; undici's own timers are idle timeouts.
            headersTimeout: 0,
            bodyTimeout: 0,
          },
          attempt,
        );
      } catch (error) {
        attempt.onResponseError(undefined, error as Error);
      }
    });
  }

  private failed(error: unknown, deadlinePassed: boolean, timeoutMs: number): SinkResponse {
    let failure: SinkFailure = 'network';
    let detail = (error as Error).message.slice(0, 300);
    if (error instanceof Abandoned) {
      failure = 'abandoned';
    } else if (this.shuttingDown) {
      failure = 'shutdown';
      detail = 'aborted: the broker is shutting down';
    } else if (deadlinePassed) {
      failure = 'timeout';
      detail = `no complete answer within ${timeoutMs} ms`;
      this.options.onDeadline?.();
    } else if ((error as { code?: unknown }).code === SINK_FORBIDDEN) {
      failure = 'forbidden';
    }
    return { status: 0, failure, retryAfter: undefined, headers: {}, detail };
  }

  /** Aborts every attempt in flight (they end as `shutdown` failures) and refuses new ones. */
  abortAll(): void {
    this.shuttingDown = true;
    for (const attempt of [...this.inFlight]) attempt.stop(new ShuttingDown());
  }

  /** Closes at once: in-flight attempts are aborted, not awaited. */
  async close(): Promise<void> {
    this.abortAll();
    await this.agent.destroy();
  }
}

/** What an attempt needs from its client. */
interface AttemptHost {
  readonly responseLimit: number;
  onTruncated(): void;
  /** How an attempt that got no answer is reported. */
  failure(error: unknown, deadlinePassed: boolean, timeoutMs: number): SinkResponse;
  /** The attempt ended (answered, failed or aborted). */
  settled(attempt: Attempt): void;
}

/**
 * One delivery attempt as an undici dispatch handler: it records the status and headers, counts (and
 * drops) the body, and settles once: on the end of the answer, on an error, at its deadline or at
 * shutdown. An attempt stopped while still queued for a connection is aborted as soon as it starts.
 */
class Attempt implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private done = false;
  private deadlinePassed = false;
  private stopReason: Error | undefined;
  private status = 0;
  private headers: Record<string, string | string[] | undefined> = {};
  private read = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly client: AttemptHost,
    private readonly timeoutMs: number,
    private readonly resolve: (response: SinkResponse) => void,
    private readonly group: AttemptGroup | undefined,
  ) {
    this.timer = setTimeout(() => {
      this.deadlinePassed = true;
      this.stop(new DeadlineExceeded());
    }, timerDelay(timeoutMs));
  }

  /** True once settled. */
  get ended(): boolean {
    return this.done;
  }

  /** Ends the attempt now (deadline, shutdown, its group); the request is aborted once it has started. */
  stop(reason: Error): void {
    if (this.done) return;
    this.stopReason = reason;
    if (this.controller !== undefined) this.controller.abort(reason);
    else this.settle(this.client.failure(reason, this.deadlinePassed, this.timeoutMs));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.stopReason !== undefined) controller.abort(this.stopReason);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    this.status = statusCode;
    this.headers = headers;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return;
    this.read += chunk.length;
    if (this.read <= this.client.responseLimit) return;
    this.client.onTruncated();
    this.answered();
    controller.abort(new Error('the answer is longer than the response limit'));
  }

  onResponseEnd(): void {
    this.answered();
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    // Stopped on purpose: the reason says why, whatever error the abort surfaced as.
    this.settle(this.client.failure(this.stopReason ?? error, this.deadlinePassed, this.timeoutMs));
  }

  private answered(): void {
    const retryAfter = this.headers['retry-after'];
    this.settle({
      status: this.status,
      failure: undefined,
      retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
      headers: this.headers,
      detail: '',
    });
  }

  private settle(response: SinkResponse): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.client.settled(this);
    this.group?.delete(this);
    this.resolve(response);
  }
}
