// SPDX-License-Identifier: Apache-2.0
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Delivery, DeliverySource, ParseOptions } from './parse.js';
import { MalformedDeliveryError, parseDelivery } from './parse.js';

/**
 * What a consumer does with a delivery. Return nothing (or a 2xx status) to acknowledge; return another
 * status (e.g. 503) to ask for a retry; a thrown error answers 500, so the broker retries.
 */
export type DeliveryListener = (delivery: Delivery) => unknown;

export interface ReceiverOptions extends ParseOptions {
  /**
   * Origins accepted in the CloudEvents webhook validation handshake (`WebHook-Request-Origin`); the
   * default `'*'` accepts any origin, echoing it in `WebHook-Allowed-Origin`.
   */
  readonly allowedOrigins?: '*' | readonly string[];
  /** `WebHook-Allowed-Rate` answered in the handshake: requests per minute, or `'*'`. Absent: not sent. */
  readonly allowedRate?: number | '*';
  /** Called with errors thrown by the listener (default: written to stderr). */
  readonly onError?: (error: unknown) => void;
}

/** A framework-neutral answer: status, headers and an optional JSON body. */
export interface ReceiverAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

function problem(status: number, code: string, detail: string): ReceiverAnswer {
  const body = JSON.stringify({ title: 'Delivery refused', status, code, detail });
  return { status, headers: { 'content-type': 'application/problem+json' }, body };
}

/**
 * The CloudEvents HTTP Web Hook validation handshake (spec §4.2): `OPTIONS` with
 * `WebHook-Request-Origin` is answered with `WebHook-Allowed-Origin` when the origin is accepted.
 */
export function answerHandshake(
  origin: string | undefined,
  options: Pick<ReceiverOptions, 'allowedOrigins' | 'allowedRate'> = {},
): ReceiverAnswer {
  if (origin === undefined || origin.trim() === '') {
    return { status: 204, headers: { allow: 'POST, OPTIONS' } };
  }
  const allowed = options.allowedOrigins ?? '*';
  if (allowed !== '*' && !allowed.includes(origin)) {
    return problem(403, 'HERALD_FORBIDDEN', `origin ${JSON.stringify(origin)} may not deliver here`);
  }
  const headers: Record<string, string> = { allow: 'POST, OPTIONS', 'webhook-allowed-origin': origin };
  if (options.allowedRate !== undefined) headers['webhook-allowed-rate'] = String(options.allowedRate);
  return { status: 200, headers };
}

/**
 * Handles one request: the handshake, or a delivery given to `listener`. Never throws: a malformed
 * delivery is a 400 with the reason, a failing listener a 500.
 */
export async function receive(
  method: string,
  source: DeliverySource,
  origin: string | undefined,
  listener: DeliveryListener,
  options: ReceiverOptions = {},
): Promise<ReceiverAnswer> {
  try {
    if (method === 'OPTIONS') return answerHandshake(origin, options);
    if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH') {
      return {
        ...problem(405, 'HERALD_METHOD_NOT_ALLOWED', `${method} is not a delivery`),
        headers: { allow: 'POST, OPTIONS', 'content-type': 'application/problem+json' },
      };
    }
    const delivery = await parseDelivery(source, options);
    const status = await listener(delivery);
    return { status: typeof status === 'number' ? status : 204, headers: {} };
  } catch (error) {
    if (error instanceof MalformedDeliveryError) return problem(error.status, error.code, error.message);
    (
      options.onError ??
      ((e: unknown) => process.stderr.write(`herald receiver: ${String((e as Error)?.stack ?? e)}\n`))
    )(error);
    return problem(500, 'HERALD_INTERNAL', 'the consumer failed to process the delivery');
  }
}

/**
 * A node:http request listener (also an Express handler: mount it without a JSON body parser, or after
 * `express.raw({ type: '*\/*' })`).
 *
 * @example
 * ```ts
 * createServer(createNodeHandler(({ events }) => console.log(events[0]?.type))).listen(3000);
 * ```
 */
export function createNodeHandler(
  listener: DeliveryListener,
  options: ReceiverOptions = {},
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const origin = req.headers['webhook-request-origin'];
    const answer = await receive(
      req.method ?? 'GET',
      req,
      typeof origin === 'string' ? origin : undefined,
      listener,
      options,
    );
    if (!req.complete) req.resume();
    if (res.headersSent) return;
    res.writeHead(answer.status, {
      ...answer.headers,
      'content-length': answer.body === undefined ? 0 : Buffer.byteLength(answer.body),
    });
    res.end(answer.body);
  };
}

/**
 * A Web `Request` → `Response` handler (Hono, Deno, Bun, Cloudflare Workers, Next.js route handlers).
 *
 * @example
 * ```ts
 * app.all('/events', (c) => handle(c.req.raw)); // Hono
 * ```
 */
export function createFetchHandler(
  listener: DeliveryListener,
  options: ReceiverOptions = {},
): (request: Request) => Promise<Response> {
  return async (request) => {
    const answer = await receive(
      request.method,
      request,
      request.headers.get('webhook-request-origin') ?? undefined,
      listener,
      options,
    );
    return new Response(answer.body ?? null, { status: answer.status, headers: answer.headers });
  };
}
