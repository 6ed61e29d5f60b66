import { Agent, errors as undiciErrors } from 'undici';
import type { StoredEvent, TraceHeaders } from '../store/index.js';
import { eventToJson, toBinaryHeaders } from '../cloudevents/index.js';
import type { ContentMode } from '../subscriptions/types.js';

export interface SinkRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: Uint8Array | string;
  readonly timeoutMs: number;
}

export interface SinkResponse {
  /** HTTP status, or 0 when no response arrived (network error or timeout). */
  readonly status: number;
  readonly retryAfter: string | undefined;
  /** Up to 1 KiB of the response body, or the network error's message. */
  readonly detail: string;
  readonly timedOut: boolean;
}

const MAX_DETAIL = 1024;

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
 * deliveries reuse connections instead of setting one up per event.
 */
export class SinkClient {
  private readonly agent = new Agent({
    connections: 256,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connect: { timeout: 10_000 },
  });

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

  async send(request: SinkRequest): Promise<SinkResponse> {
    const { origin, path } = this.target(request.url);
    try {
      // headersTimeout and bodyTimeout bound the attempt; the agent's connect timeout bounds set-up.
      const response = await this.agent.request({
        origin,
        path,
        method: request.method as 'POST',
        headers: request.headers,
        body: request.body,
        headersTimeout: request.timeoutMs,
        bodyTimeout: request.timeoutMs,
      });
      let detail = '';
      if (response.statusCode >= 300) detail = (await response.body.text()).slice(0, MAX_DETAIL);
      else await response.body.dump();
      const retryAfter = response.headers['retry-after'];
      return {
        status: response.statusCode,
        retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        detail,
        timedOut: false,
      };
    } catch (error) {
      const timedOut =
        error instanceof undiciErrors.HeadersTimeoutError ||
        error instanceof undiciErrors.BodyTimeoutError ||
        (error as Error).name === 'TimeoutError' ||
        (error as Error).name === 'AbortError';
      return {
        status: 0,
        retryAfter: undefined,
        detail: (error as Error).message.slice(0, MAX_DETAIL),
        timedOut,
      };
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
