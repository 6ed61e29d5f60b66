import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeraldError, isHeraldError } from '../errors/index.js';
import { jsonDepthExceeded } from '../limits/index.js';
import { controlBodyLimitsOf } from './request-context.js';
import { inviteBody } from './body-invitation.js';
import { MethodNotAllowedError } from './router.js';

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

export function sendJsonText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Converts any thrown value into an `application/problem+json` response; unknown errors become 500. */
export function sendProblem(res: ServerResponse, error: unknown): HeraldError {
  const problem = isHeraldError(error)
    ? error
    : new HeraldError('HERALD_INTERNAL', 'internal error', { cause: error });
  if (res.headersSent) {
    res.destroy();
    return problem;
  }
  const text = JSON.stringify(problem.toProblem());
  const headers: Record<string, string | number> = {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(text),
  };
  if (problem.retryAfter !== undefined) headers['retry-after'] = String(problem.retryAfter);
  if (problem instanceof MethodNotAllowedError) headers['allow'] = problem.allow.join(', ');
  // RFC 9110 §15.5.16: a 415 for a content coding names the codings that would have been taken.
  if (problem.code === 'HERALD_UNSUPPORTED_ENCODING') headers['accept-encoding'] = 'identity';
  // RFC 6750 §3: a 401 names the scheme (and never which check failed).
  if (problem.code === 'HERALD_UNAUTHENTICATED') headers['www-authenticate'] = 'Bearer realm="herald"';
  res.writeHead(problem.status, headers);
  res.end(text);
  return problem;
}

/** The flag a body-size limit comes from, named in the refusal and counted by `onRefused`. */
export interface BodyLimitFlag {
  readonly flag: string;
  /** Called once per refusal (`herald_limit_rejections_total{limit=flag}`). */
  readonly onRefused?: (flag: string) => void;
}

/**
 * Reads a request body up to `limit` bytes. Over the limit it stops reading and throws 413, so a huge
 * body costs no more than the limit in memory; `from` names the flag that set the limit and counts the
 * refusal. A client that closes or resets the request before its body ended is
 * `HERALD_CLIENT_CLOSED_REQUEST`: its doing, not the broker's.
 *
 * @remarks Plain `data`/`end` listeners, not `for await`: an async iterator per request (its
 * end-of-stream watcher, promise per chunk and listener bookkeeping) cost more than the rest of reading
 * a 1 KB body. The outcomes are the iterator's: the request is destroyed when the limit is crossed, a
 * stream error rejects with that error, and a close before the end rejects with a premature close.
 */
export function readBody(req: IncomingMessage, limit: number, from?: BodyLimitFlag): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(tooLarge(`request body of ${declared} bytes exceeds`, limit, from));
  }
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  if (req.destroyed) return Promise.reject(clientClosed(req.errored ?? prematureClose()));
  inviteBody(req);
  return new Promise<Buffer>((resolve, reject) => {
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    let size = 0;
    let settled = false;
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.byteLength;
      if (size > limit) {
        settled = true;
        abandon(req);
        reject(tooLarge('request body exceeds', limit, from));
        return;
      }
      if (first === undefined) first = chunk;
      else (chunks ??= [first]).push(chunk);
    });
    req.on('end', () => {
      if (settled) return;
      settled = true;
      if (chunks !== undefined) resolve(Buffer.concat(chunks, size));
      else resolve(first ?? Buffer.alloc(0));
    });
    req.on('error', (error: Error) => {
      if (settled) return;
      settled = true;
      reject(clientClosed(error));
    });
    req.on('close', () => {
      if (settled) return;
      settled = true;
      reject(clientClosed(req.errored ?? prematureClose()));
    });
  });
}

function tooLarge(what: string, limit: number, from: BodyLimitFlag | undefined): HeraldError {
  from?.onRefused?.(from.flag);
  const flag = from === undefined ? '' : ` (--${from.flag})`;
  return new HeraldError('HERALD_PAYLOAD_TOO_LARGE', `${what} the limit of ${limit} bytes${flag}`);
}

/**
 * A request stream's error or premature close while its body is read: the client went away (closed or
 * reset its connection, or Node aborted the request). Its error stays the cause.
 */
export function clientClosed(cause: Error): HeraldError {
  return new HeraldError(
    'HERALD_CLIENT_CLOSED_REQUEST',
    `the client closed the request before its body ended (${cause.message})`,
    { cause },
  );
}

/**
 * Stops reading a request whose body went over the limit the way `for await` stopping early does
 * (Node's stream `destroyer` for server requests): the request is destroyed detached from its socket,
 * so the socket stays open for the problem response, and Node closes the connection after it.
 */
function abandon(req: IncomingMessage): void {
  (req as unknown as { socket: unknown }).socket = null;
  req.destroy();
}

/** The error `for await` over a stream gives when it closes before its end. */
function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * V8's JSON.parse message without the text it quotes from the input (`Unexpected token 'o', ..."sstoken":
 * tok-SECRET-"... is not valid JSON`): a control request body may hold a credential, and the problem
 * detail is logged. Messages that give a position quote nothing and are kept as they are.
 */
function unquoted(message: string): string {
  return message.includes('"') || message.startsWith('Unexpected token')
    ? 'an unexpected character'
    : message;
}

/**
 * Reads and parses a JSON object request body (for the control API), with coded errors. Its size and
 * depth limits are the broker's `--max-control-request-size` and `--max-json-depth`, which the broker
 * puts on each request (`setControlBodyLimits`); without them, their defaults.
 */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const contentType = req.headers['content-type'] ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType)) {
    throw new HeraldError('HERALD_UNSUPPORTED_MEDIA_TYPE', 'the request body must be application/json');
  }
  const limits = controlBodyLimitsOf(req);
  const body = await readBody(req, limits.maxBytes, {
    flag: 'max-control-request-size',
    ...(limits.onRefused === undefined ? {} : { onRefused: limits.onRefused }),
  });
  const tooDeep = jsonDepthExceeded(body, limits.maxJsonDepth);
  if (tooDeep >= 0) {
    limits.onRefused?.('max-json-depth');
    throw new HeraldError(
      'HERALD_JSON_TOO_DEEP',
      `the JSON body nests arrays and objects deeper than ${limits.maxJsonDepth} levels (at byte ${tooDeep}); see --max-json-depth`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new HeraldError(
      'HERALD_MALFORMED_JSON',
      `request body is not valid JSON: ${unquoted((cause as Error).message)}`,
      { cause },
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HeraldError('HERALD_INVALID_REQUEST', 'the request body must be a JSON object', {
      pointer: '',
    });
  }
  return value as Record<string, unknown>;
}

/**
 * Like `readJsonObject`, for requests whose body is optional: a request without a body (no
 * Content-Length and no Transfer-Encoding, or Content-Length 0) gives undefined.
 */
export async function readOptionalJsonObject(
  req: IncomingMessage,
): Promise<Record<string, unknown> | undefined> {
  const length = req.headers['content-length'];
  if (length === '0' || (length === undefined && req.headers['transfer-encoding'] === undefined)) {
    await readBody(req, 0);
    return undefined;
  }
  return readJsonObject(req);
}
