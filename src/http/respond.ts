import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeraldError, isHeraldError } from '../errors/index.js';
import { jsonDepthExceeded } from '../limits/index.js';
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
  // RFC 6750 §3: a 401 names the scheme (and never which check failed).
  if (problem.code === 'HERALD_UNAUTHENTICATED') headers['www-authenticate'] = 'Bearer realm="herald"';
  res.writeHead(problem.status, headers);
  res.end(text);
  return problem;
}

/**
 * Reads a request body up to `limit` bytes. Over the limit it stops reading and throws 413, so a huge
 * body costs no more than the limit in memory.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    throw new HeraldError(
      'HERALD_PAYLOAD_TOO_LARGE',
      `request body of ${declared} bytes exceeds the limit of ${limit} bytes`,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.byteLength;
    if (size > limit) {
      throw new HeraldError('HERALD_PAYLOAD_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`);
    }
    chunks.push(buffer);
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
}

/** How deep a control-API body may nest (subscriptions need a handful of levels). */
const MAX_CONTROL_JSON_DEPTH = 64;

/** Reads and parses a JSON object request body (for the control API), with coded errors. */
export async function readJsonObject(
  req: IncomingMessage,
  limit = 1024 * 1024,
): Promise<Record<string, unknown>> {
  const contentType = req.headers['content-type'] ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(contentType)) {
    throw new HeraldError('HERALD_UNSUPPORTED_MEDIA_TYPE', 'the request body must be application/json');
  }
  const body = await readBody(req, limit);
  const tooDeep = jsonDepthExceeded(body, MAX_CONTROL_JSON_DEPTH);
  if (tooDeep >= 0) {
    throw new HeraldError(
      'HERALD_JSON_TOO_DEEP',
      `the JSON body nests arrays and objects deeper than ${MAX_CONTROL_JSON_DEPTH} levels (at byte ${tooDeep})`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (cause) {
    throw new HeraldError(
      'HERALD_MALFORMED_JSON',
      `request body is not valid JSON: ${(cause as Error).message}`,
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
