// SPDX-License-Identifier: Apache-2.0
/**
 * The client's one way of talking to a broker: a base URL, an optional bearer token, and errors that say
 * what went wrong — a refusal with the broker's problem+json (`HeraldProblemError`), or no answer at
 * all (`HeraldConnectionError`).
 */

/** An RFC 9457 problem as a Herald broker sends it (architecture §3). */
export interface Problem {
  readonly type?: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  /** A stable `HERALD_*` code; `HTTP_<status>` when the answer was not a problem document. */
  readonly code: string;
  readonly attribute?: string;
  readonly pointer?: string;
  readonly index?: number;
}

/** The broker answered, and refused: a 4xx or 5xx with its problem document. */
export class HeraldProblemError extends Error {
  readonly status: number;
  readonly code: string;
  readonly problem: Problem;
  /** Seconds from `Retry-After`, when the broker sent it (429, 503). */
  readonly retryAfter: number | undefined;

  constructor(problem: Problem, retryAfter: number | undefined) {
    super(`${problem.code}: ${problem.detail}`);
    this.name = 'HeraldProblemError';
    this.status = problem.status;
    this.code = problem.code;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

/** No HTTP answer: the broker is not reachable at the URL (refused, reset, DNS, TLS, timeout). */
export class HeraldConnectionError extends Error {
  readonly url: string;

  constructor(url: string, cause: unknown) {
    super(`cannot reach the broker at ${url}: ${reasonOf(cause)}`, { cause });
    this.name = 'HeraldConnectionError';
    this.url = url;
  }
}

/** The innermost useful reason of a fetch failure (`ECONNREFUSED`, `ENOTFOUND`, …). */
function reasonOf(cause: unknown): string {
  let error = cause as { code?: unknown; message?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; depth < 5 && error !== undefined && error !== null; depth++) {
    if (typeof error.code === 'string') return error.code;
    if (error.cause === undefined) break;
    error = error.cause as typeof error;
  }
  return typeof error?.message === 'string' ? error.message : String(cause);
}

export function isHeraldProblemError(value: unknown): value is HeraldProblemError {
  return value instanceof Error && value.name === 'HeraldProblemError';
}

export function isHeraldConnectionError(value: unknown): value is HeraldConnectionError {
  return value instanceof Error && value.name === 'HeraldConnectionError';
}

export interface ConnectionOptions {
  /** The broker's URL (the admin port's, when the broker has one, for everything but publishing). */
  readonly url: string;
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string | undefined;
  /** Replaces the global `fetch` (tests, proxies, custom agents). */
  readonly fetch?: typeof fetch;
  /**
   * How long a request waits for the answer's headers, in ms (default 30,000; 0 waits for ever). Without
   * it a broker that accepts connections but does not answer held every request for fetch's own 300 s.
   * A stream (`tail`) is bounded only until it is open.
   */
  readonly timeoutMs?: number | undefined;
}

/** `ConnectionOptions.timeoutMs` when not given. */
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface RequestOptions {
  readonly body?: string | Uint8Array;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly signal?: AbortSignal;
}

/** Parses `Retry-After` as seconds (delta or HTTP date); undefined when absent or unreadable. */
export function retryAfterSeconds(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** Reads an error answer into a problem, whether or not the body is problem+json. */
export async function problemOf(response: Response): Promise<HeraldProblemError> {
  const text = await response.text().catch(() => '');
  let problem: Problem | undefined;
  try {
    const parsed = JSON.parse(text) as Partial<Problem>;
    if (typeof parsed === 'object' && parsed !== null && typeof parsed.detail === 'string') {
      problem = {
        ...parsed,
        title: parsed.title ?? response.statusText,
        status: typeof parsed.status === 'number' ? parsed.status : response.status,
        detail: parsed.detail,
        code: typeof parsed.code === 'string' ? parsed.code : `HTTP_${response.status}`,
      };
    }
  } catch {
    // not JSON: described below from the status line and the text
  }
  problem ??= {
    title: response.statusText,
    status: response.status,
    detail: text.trim().slice(0, 300) || `HTTP ${response.status} ${response.statusText}`,
    code: `HTTP_${response.status}`,
  };
  return new HeraldProblemError(problem, retryAfterSeconds(response.headers.get('retry-after')));
}

/** A base URL plus credentials; every request of the client goes through `request`. */
export class Connection {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;

  constructor(options: ConnectionOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new TypeError(`not a URL: ${JSON.stringify(options.url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`the broker URL must be http or https, got ${JSON.stringify(options.url)}`);
    }
    this.url = parsed.href.replace(/\/+$/, '');
    this.token = options.token === '' ? undefined : options.token;
    this.fetchImpl = options.fetch ?? fetch;
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0) {
      throw new TypeError(`timeoutMs must be a whole number of ms >= 0, got ${timeoutMs}`);
    }
    this.timeoutMs = timeoutMs;
  }

  /** Sends a request; resolves with any 2xx answer, rejects with a problem or a connection error. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const response = await this.send(method, path, options);
    if (response.ok) return response;
    throw await problemOf(response);
  }

  /** Like `request`, without turning error answers into exceptions. */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = new URL(this.url + path);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { ...options.headers };
    if (this.token !== undefined) headers['authorization'] = `Bearer ${this.token}`;
    if (options.contentType !== undefined) headers['content-type'] = options.contentType;
    // Its own signal, so that the caller's still ends a stream after the timer is cleared.
    const deadline = new AbortController();
    const timer = this.timeoutMs === 0 ? undefined : setTimeout(() => deadline.abort(), this.timeoutMs);
    const signal =
      options.signal === undefined ? deadline.signal : AbortSignal.any([options.signal, deadline.signal]);
    try {
      return await this.fetchImpl(url, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: options.body }),
        signal,
      });
    } catch (error) {
      if (options.signal?.aborted === true) throw error;
      throw new HeraldConnectionError(
        this.url,
        deadline.signal.aborted ? new Error(`no answer within ${this.timeoutMs} ms`) : error,
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** A JSON request and its JSON answer. */
  async json<T>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(method, path, {
      ...options,
      ...(body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' }),
    });
    const text = await response.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }
}
