import type { IncomingMessage } from 'node:http';

/**
 * Who sent a request. Authentication sets it once per request; authorization, per-client limits,
 * ownership of subscriptions and logs read it. One seam so that none of them imports another.
 */
export interface RequestIdentity {
  /** A principal name: a token's principal, a JWT `sub`, or `system:serviceaccount:<ns>:<name>`. */
  readonly principal: string;
  /** How it was established (`anonymous` when `--auth none`). */
  readonly method: 'anonymous' | 'tokens' | 'jwt' | 'kubernetes';
}

// Kept on the request under symbols nobody else can name, rather than in WeakMaps keyed by it: a
// WeakMap entry per request is an ephemeron the garbage collector traces on every cycle, and setting
// one cost about 2% of a broker's busy time on the ingress path.
const IDENTITY = Symbol('herald.identity');
const OWNER_SCOPE = Symbol('herald.ownerScope');
const CONTROL_BODY_LIMITS = Symbol('herald.controlBodyLimits');

/** What a control-API request body may be: the broker's flags, and who counts a refusal. */
export interface ControlBodyLimits {
  /** `--max-control-request-size`. */
  readonly maxBytes: number;
  /** `--max-json-depth`. */
  readonly maxJsonDepth: number;
  /** Told the flag name of each refusal (`herald_limit_rejections_total{limit}`). */
  readonly onRefused?: (flag: string) => void;
}

/** The flags' defaults, for a request no broker set limits on (a handler run on its own). */
const DEFAULT_CONTROL_BODY_LIMITS: ControlBodyLimits = { maxBytes: 1024 * 1024, maxJsonDepth: 64 };

interface RequestContext {
  [IDENTITY]?: RequestIdentity;
  [OWNER_SCOPE]?: string;
  [CONTROL_BODY_LIMITS]?: ControlBodyLimits;
}

function contextOf(req: IncomingMessage): RequestContext {
  return req as IncomingMessage & RequestContext;
}

export function setIdentity(req: IncomingMessage, identity: RequestIdentity): void {
  contextOf(req)[IDENTITY] = identity;
}

/** The identity authentication established, or undefined before (or without) authentication. */
export function identityOf(req: IncomingMessage): RequestIdentity | undefined {
  return contextOf(req)[IDENTITY];
}

/**
 * The key per-client limits count against: the authenticated principal, else the peer address
 * (so an anonymous client cannot spend another's budget).
 */
export function clientKeyOf(req: IncomingMessage): string {
  const identity = identityOf(req);
  if (identity !== undefined && identity.method !== 'anonymous') return `principal:${identity.principal}`;
  return `address:${req.socket.remoteAddress ?? 'unknown'}`;
}

/**
 * Set by authorization when a request may touch only its principal's own subscriptions and dead
 * letters (it lacks `admin`). Unset = every subscription.
 */
export function setOwnerScope(req: IncomingMessage, owner: string): void {
  contextOf(req)[OWNER_SCOPE] = owner;
}

/** The owner a request is confined to, or undefined when it may see every subscription. */
export function ownerScopeOf(req: IncomingMessage): string | undefined {
  return contextOf(req)[OWNER_SCOPE];
}

/** The owner to record on what a request creates: its authenticated principal (none when anonymous). */
export function ownerOf(req: IncomingMessage): string | undefined {
  const identity = identityOf(req);
  return identity === undefined || identity.method === 'anonymous' ? undefined : identity.principal;
}

/**
 * Set by the broker on the requests it routes, so that control-API handlers read bodies under its
 * configured limits without each being handed the configuration.
 */
export function setControlBodyLimits(req: IncomingMessage, limits: ControlBodyLimits): void {
  contextOf(req)[CONTROL_BODY_LIMITS] = limits;
}

export function controlBodyLimitsOf(req: IncomingMessage): ControlBodyLimits {
  return contextOf(req)[CONTROL_BODY_LIMITS] ?? DEFAULT_CONTROL_BODY_LIMITS;
}
