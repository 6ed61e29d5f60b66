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

interface RequestContext {
  [IDENTITY]?: RequestIdentity;
  [OWNER_SCOPE]?: string;
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
