import { Agent, buildConnector } from 'undici';
import { rootCertificates } from 'node:tls';
import type { StoredEvent, TraceHeaders } from '../store/index.js';
import { eventToJson, toBinaryHeaders } from '../cloudevents/index.js';
import type { SinkGuard } from '../sink-guard/index.js';
import { SINK_FORBIDDEN } from '../sink-guard/index.js';
import type { ContentMode } from '../subscriptions/types.js';
import { timerDelay } from './timers.js';

export interface SinkRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body?: Uint8Array | string;
  /** The whole attempt (connect, headers and body of the answer) ends after this long. */
  readonly timeoutMs: number;
}

/** Why no HTTP status came back. */
export type SinkFailure = 'timeout' | 'forbidden' | 'network' | 'shutdown';

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
    body = `[${events.map((e) => eventToJson(e.event)).join(',')}]`;
  } else if (mode === 'structured') {
    headers = { 'content-type': 'application/cloudevents+json' };
    body = eventToJson(first.event);
  } else {
    headers = toBinaryHeaders(first.event);
    body = first.event.data ?? new Uint8Array(0);
  }
  traceHeaders(first.trace, headers);
  for (const name in extraHeaders) headers[name.toLowerCase()] = extraHeaders[name] as string;
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
  /** Every attempt in flight, so shutdown can abort them (one controller each, no long-lived signal). */
  private readonly inFlight = new Set<AbortController>();
  private shuttingDown = false;
  private readonly responseLimit: number;
  private readonly connectors = new Map<number, buildConnector.connector>();

  constructor(private readonly options: SinkClientOptions = {}) {
    this.responseLimit = options.responseLimit ?? 16 * 1024;
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
   */
  async send(request: SinkRequest): Promise<SinkResponse> {
    const { origin, path } = this.target(request.url);
    const attempt = new AbortController();
    let deadlinePassed = false;
    const timer = setTimeout(() => {
      deadlinePassed = true;
      attempt.abort(new DeadlineExceeded());
    }, timerDelay(request.timeoutMs));
    if (this.shuttingDown) attempt.abort(new ShuttingDown());
    this.inFlight.add(attempt);
    const signal = attempt.signal;
    try {
      const response = await this.agent.request({
        origin,
        path,
        method: request.method as 'POST',
        headers: request.headers,
        ...(request.body === undefined ? {} : { body: request.body }),
        signal,
        // The deadline above bounds the attempt; undici's own timers are idle timeouts.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      let read = 0;
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        read += chunk.length;
        if (read > this.responseLimit) {
          this.options.onTruncated?.();
          response.body.destroy();
          break;
        }
      }
      const retryAfter = response.headers['retry-after'];
      return {
        status: response.statusCode,
        failure: undefined,
        retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        headers: response.headers,
        detail: '',
      };
    } catch (error) {
      return this.failed(error, deadlinePassed, request.timeoutMs);
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(attempt);
    }
  }

  private failed(error: unknown, deadlinePassed: boolean, timeoutMs: number): SinkResponse {
    let failure: SinkFailure = 'network';
    let detail = (error as Error).message.slice(0, 300);
    if (this.shuttingDown) {
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
    for (const attempt of this.inFlight) attempt.abort(new ShuttingDown());
  }

  /** Closes at once: in-flight attempts are aborted, not awaited. */
  async close(): Promise<void> {
    this.abortAll();
    await this.agent.destroy();
  }
}
