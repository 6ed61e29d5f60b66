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

const identities = new WeakMap<IncomingMessage, RequestIdentity>();

export function setIdentity(req: IncomingMessage, identity: RequestIdentity): void {
  identities.set(req, identity);
}

/** The identity authentication established, or undefined before (or without) authentication. */
export function identityOf(req: IncomingMessage): RequestIdentity | undefined {
  return identities.get(req);
}

/**
 * The key per-client limits count against: the authenticated principal, else the peer address
 * (so an anonymous client cannot spend another's budget).
 */
export function clientKeyOf(req: IncomingMessage): string {
  const identity = identities.get(req);
  if (identity !== undefined && identity.method !== 'anonymous') return `principal:${identity.principal}`;
  return `address:${req.socket.remoteAddress ?? 'unknown'}`;
}

const ownerScopes = new WeakMap<IncomingMessage, string>();

/**
 * Set by authorization when a request may touch only its principal's own subscriptions and dead
 * letters (it lacks `admin`). Unset = every subscription.
 */
export function setOwnerScope(req: IncomingMessage, owner: string): void {
  ownerScopes.set(req, owner);
}

/** The owner a request is confined to, or undefined when it may see every subscription. */
export function ownerScopeOf(req: IncomingMessage): string | undefined {
  return ownerScopes.get(req);
}

/** The owner to record on what a request creates: its authenticated principal (none when anonymous). */
export function ownerOf(req: IncomingMessage): string | undefined {
  const identity = identities.get(req);
  return identity === undefined || identity.method === 'anonymous' ? undefined : identity.principal;
}
