import type { AttemptError } from './attempt-error.js';
import { attemptError } from './attempt-error.js';
import type { SinkClient } from './sink-client.js';

/** What a sink granted in the validation handshake. */
export type HandshakeResult =
  | {
      readonly ok: true;
      /** Events per second granted, undefined = unlimited. */ readonly rate: number | undefined;
    }
  | { readonly ok: false; readonly error: AttemptError };

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The CloudEvents HTTP Web Hook validation handshake (abuse protection, §4): `OPTIONS` to the exact
 * sink URL with `WebHook-Request-Origin`; the sink consents by answering `WebHook-Allowed-Origin`
 * (our origin or `*`), and may cap the rate with `WebHook-Allowed-Rate` (per minute, or `*`).
 * Consent is read from the headers, never from the status code, as the spec says.
 */
export async function validateSink(
  client: SinkClient,
  url: string,
  origin: string,
  timeoutMs: number,
  requestedPerSecond: number | undefined,
): Promise<HandshakeResult> {
  const headers: Record<string, string> = { 'webhook-request-origin': origin };
  if (requestedPerSecond !== undefined)
    headers['webhook-request-rate'] = String(Math.max(1, Math.ceil(requestedPerSecond * 60)));
  const response = await client.send({ url, method: 'OPTIONS', headers, timeoutMs });
  if (response.status === 0) return { ok: false, error: attemptError(response) };
  const allowedOrigin = single(response.headers['webhook-allowed-origin'])?.trim();
  if (allowedOrigin !== origin && allowedOrigin !== '*') {
    return {
      ok: false,
      error: {
        code: 'HERALD_SINK_HANDSHAKE_FAILED',
        message:
          allowedOrigin === undefined
            ? `sink answered ${response.status} without WebHook-Allowed-Origin`
            : `sink allowed origin '${allowedOrigin.slice(0, 100)}', not '${origin}'`,
        status: response.status,
      },
    };
  }
  const allowedRate = single(response.headers['webhook-allowed-rate'])?.trim();
  if (allowedRate === undefined || allowedRate === '*') return { ok: true, rate: undefined };
  if (!/^\d{1,9}$/.test(allowedRate) || Number(allowedRate) === 0) {
    return {
      ok: false,
      error: {
        code: 'HERALD_SINK_HANDSHAKE_FAILED',
        message: 'sink answered a WebHook-Allowed-Rate that is neither * nor a positive integer',
        status: response.status,
      },
    };
  }
  return { ok: true, rate: Number(allowedRate) / 60 };
}
