/**
 * Every call the dashboard makes to the broker. One place adds the bearer token, asks for one on a 401
 * (`HERALD_UNAUTHENTICATED`) and turns error answers into `ApiProblem`s, so pages show exactly what the
 * API returns to the principal whose token this is.
 */

export interface Problem {
  readonly type?: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
  readonly attribute?: string;
  readonly pointer?: string;
  readonly index?: number;
}

export class ApiProblem extends Error {
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail);
    this.name = 'ApiProblem';
    this.problem = problem;
  }

  get status(): number {
    return this.problem.status;
  }

  get code(): string {
    return this.problem.code;
  }
}

/** Any failure as a problem: the broker's own, or one that describes a network failure. */
export function asProblem(error: unknown): Problem {
  if (error instanceof ApiProblem) return error.problem;
  return {
    title: 'The broker could not be reached',
    status: 0,
    code: 'NETWORK',
    detail: error instanceof Error ? error.message : String(error),
  };
}

// ---- the token -------------------------------------------------------------------------------------

const TOKEN_KEY = 'herald.token';

/** Kept for the browser tab only: closing it forgets the token. */
export function currentToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token === null || token === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
  tokenListeners.forEach((listener) => listener());
}

/**
 * True once the broker answered 401: only then does the header offer to sign in. A token kept for the
 * tab means it did, before a reload, so forgetting that token still leaves a way to sign in again.
 */
let authenticationSeen = currentToken() !== null;
export function authenticationRequired(): boolean {
  return authenticationSeen;
}

const tokenListeners = new Set<() => void>();
export function onTokenChange(listener: () => void): () => void {
  tokenListeners.add(listener);
  return () => tokenListeners.delete(listener);
}

/** Shows the token dialog; resolves with the token entered, or undefined when the user cancels. */
export type TokenPrompt = (reason: string) => Promise<string | undefined>;
let tokenPrompt: TokenPrompt | undefined;
let pendingPrompt: Promise<string | undefined> | undefined;

export function setTokenPrompt(prompt: TokenPrompt | undefined): void {
  tokenPrompt = prompt;
}

/** Concurrent 401s share one dialog. */
function askForToken(reason: string): Promise<string | undefined> {
  if (tokenPrompt === undefined) return Promise.resolve(undefined);
  pendingPrompt ??= tokenPrompt(reason).finally(() => (pendingPrompt = undefined));
  return pendingPrompt;
}

// ---- requests --------------------------------------------------------------------------------------

/**
 * `fetch` with the bearer token. On a 401 it asks for a token and tries again with it; if the user
 * cancels, the 401 answer is returned (and shown) as is.
 */
export async function authorizedFetch(path: string, init: RequestInit = {}): Promise<Response> {
  for (;;) {
    const token = currentToken();
    const headers = new Headers(init.headers);
    if (token !== null) headers.set('authorization', `Bearer ${token}`);
    const response = await fetch(path, { ...init, headers });
    if (response.status !== 401) return response;
    if (!authenticationSeen) {
      authenticationSeen = true;
      tokenListeners.forEach((listener) => listener());
    }
    const reason =
      token === null ? 'This broker requires a bearer token.' : 'The broker did not accept the token.';
    const given = await askForToken(reason);
    if (given === undefined || given === '') return response;
    setToken(given);
  }
}

async function problemOf(response: Response): Promise<ApiProblem> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as Partial<Problem>;
    if (typeof body.code === 'string') {
      return new ApiProblem({
        ...body,
        title: body.title ?? response.statusText,
        status: body.status ?? response.status,
        detail: body.detail ?? '',
        code: body.code,
      });
    }
  } catch {
    // Not a problem document: described below from the status line.
  }
  return new ApiProblem({
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    code: `HTTP_${response.status}`,
    detail: text.slice(0, 500),
  });
}

async function call<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': contentType ?? 'application/json' };
  }
  const response = await authorizedFetch(path, init);
  if (!response.ok) throw await problemOf(response);
  const text = await response.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/**
 * Every item of a paginated list: the broker links each next page with `Link: <…>; rel="next"`. `items`
 * takes them out of a page's body (the body itself for a bare array).
 */
async function allPages<T>(
  first: string,
  items: (body: unknown) => T[] = (body) => body as T[],
): Promise<T[]> {
  const all: T[] = [];
  for (let next: string | undefined = first; next !== undefined;) {
    const response = await authorizedFetch(next, { method: 'GET' });
    if (!response.ok) throw await problemOf(response);
    all.push(...items(await response.json()));
    next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
  }
  return all;
}

// ---- the broker's resources ------------------------------------------------------------------------

export interface StatsCounters {
  readonly accepted: number;
  readonly delivered: number;
  readonly deadLettered: number;
}

export interface Stats {
  readonly time: string;
  readonly log: { first: number; last: number; events: number; bytes: number };
  readonly retention: { maxAgeMs: number; maxEvents: number; maxBytes: number };
  readonly totals: StatsCounters;
  readonly subscriptions: ReadonlyArray<{ id: string; delivered: number }>;
  readonly sampleIntervalMs: number;
  readonly samples: ReadonlyArray<StatsCounters & { t: number }>;
}

export interface SubscriptionStatus {
  readonly state: string;
  readonly cursor: number;
  readonly lag: number;
  readonly lastDeliveredAt: string | null;
  readonly lastError: { code: string; message: string; status?: number; at: string } | null;
  readonly deadLettered: number;
}

export interface Subscription {
  readonly id: string;
  readonly source?: string;
  readonly types?: readonly string[];
  readonly filters?: readonly unknown[];
  readonly sink: string;
  readonly delivery?: Record<string, unknown>;
  readonly startAt?: unknown;
  readonly status: SubscriptionStatus;
  readonly [field: string]: unknown;
}

export interface DeadLetter {
  readonly id: string;
  readonly sequence: number;
  readonly attempts: number;
  readonly deadLetteredAt: string;
  readonly error: { code: string; message: string; status?: number };
  readonly event: Record<string, unknown>;
}

export type SeekTarget = 'earliest' | 'latest' | { sequence: number } | { time: string };

const subscriptionPath = (id: string) => `/subscriptions/${encodeURIComponent(id)}`;

export const api = {
  stats: () => call<Stats>('GET', '/stats'),
  subscriptions: () => allPages<Subscription>('/subscriptions?limit=1000'),
  subscription: (id: string) => call<Subscription>('GET', subscriptionPath(id)),
  createSubscription: (body: Record<string, unknown>) => call<Subscription>('POST', '/subscriptions', body),
  deleteSubscription: (id: string) => call<Subscription>('DELETE', subscriptionPath(id)),
  pause: (id: string) => call<Subscription>('POST', `${subscriptionPath(id)}/pause`),
  resume: (id: string) => call<Subscription>('POST', `${subscriptionPath(id)}/resume`),
  seek: (id: string, to: SeekTarget) => call<Subscription>('POST', `${subscriptionPath(id)}/seek`, { to }),
  deadLetters: async (id: string, limit: number) =>
    (await call<{ deadLetters: DeadLetter[] }>('GET', `${subscriptionPath(id)}/deadletters?limit=${limit}`))
      .deadLetters,
  /** Every dead letter, following the pages (one holds at most 10,000; a subscription may keep more). */
  allDeadLetters: (id: string) =>
    allPages<DeadLetter>(
      `${subscriptionPath(id)}/deadletters?limit=1000`,
      (body) => (body as { deadLetters: DeadLetter[] }).deadLetters,
    ),
  redrive: async (id: string, ids?: readonly string[]) =>
    (
      await call<{ redriving: number }>(
        'POST',
        `${subscriptionPath(id)}/deadletters/redrive`,
        ids === undefined ? undefined : { ids },
      )
    ).redriving,
  publish: (event: Record<string, unknown>) =>
    call<undefined>('POST', '/events', event, 'application/cloudevents+json'),
};
