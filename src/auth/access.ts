import type { IncomingMessage } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import type { CloudEvent } from '../cloudevents/index.js';
import { HeraldError, quoted } from '../errors/index.js';
import { identityOf, queryParamAnyCase, setIdentity, setOwnerScope } from '../http/index.js';
import type { RouteParams } from '../http/index.js';
import type { BrokerMetrics } from '../observability/index.js';
import { AuthenticationError, credentialExpiry } from './authenticator.js';
import type { Authenticator } from './authenticator.js';
import type { Action, PolicySet } from './policy.js';
import { isPublicPath, ROUTE_TABLE } from './routes.js';

/** The principal of every request when `--auth none`. */
export const ANONYMOUS = 'anonymous';
const ANONYMOUS_IDENTITY = Object.freeze({ principal: ANONYMOUS, method: 'anonymous' as const });

/** What access control needs to know about subscriptions to confine a principal to its own. */
export interface OwnershipLookup {
  /** The owner of subscription `id`; `exists: false` when there is none (the route then answers 404). */
  subscription(id: string): { readonly exists: boolean; readonly owner: string | undefined };
  /** The owners of the members of a seed group (empty when there is none). */
  seedGroup(group: string): readonly (string | undefined)[];
}

export interface AccessControlOptions {
  /** Undefined with `--auth none`: every request is the anonymous principal. */
  readonly authenticator: Authenticator | undefined;
  readonly policy: PolicySet;
  readonly metrics: BrokerMetrics;
  readonly ownership: OwnershipLookup;
  /**
   * `--allowed-hosts`: names a browser may address the broker by besides the built-in ones (IP literals,
   * `localhost`, Kubernetes service names); exact names, or `*.suffix` for any name under a domain.
   */
  readonly allowedHosts?: readonly string[];
}

/**
 * What a long-lived response (the live event stream) needs to end when its credential stops being good:
 * when it expires, and when a periodic re-check refuses it.
 */
export interface StreamCredential {
  /** When the request's credential expires (epoch milliseconds, from a JWT's `exp`); undefined if never. */
  readonly expiresAt: number | undefined;
  /**
   * Authenticates the request's original `Authorization` header again and authorizes its route for the
   * same principal under the rules in force now; false when either refuses.
   */
  stillAllowed(): Promise<boolean>;
}

/** `[v6]` or a name or IPv4 address, then an optional port: anything else is not a Host a browser sends. */
const HOST_HEADER = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::\d{1,5})?$/;

/**
 * Suffixes reserved for private networks, which no public DNS zone holds: `.local` (RFC 6762; the
 * default cluster domain is `cluster.local`), `.internal` (reserved by ICANN) and `home.arpa` (RFC 8375).
 * A cluster domain under one of them cannot be rebound by a web page's owner.
 */
const PRIVATE_SUFFIX = /\.(?:local|internal|home\.arpa)$/;

/**
 * Names DNS rebinding cannot point at a page's origin, so a browser request addressed to them comes from
 * a page the broker's own network position served: IP literals, `localhost` (browsers resolve it and
 * `*.localhost` to loopback themselves), names without a dot (a Kubernetes service in the same namespace,
 * resolved through the search path) and names of Kubernetes services (`*.svc`, `*.svc.<cluster domain>`)
 * whose cluster domain is a private one (`cluster.local`, `corp.internal`). A `.svc.` label alone proves
 * nothing: whoever owns `evil.example` can make `x.svc.evil.example` resolve to the broker, so a cluster
 * domain under a public suffix must be listed in `--allowed-hosts`.
 * `name` has no trailing dot (see `refuseUnknownHost`).
 */
function isBuiltInHost(name: string): boolean {
  return (
    isIPv4(name) ||
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    !name.includes('.') ||
    name.endsWith('.svc') ||
    (name.includes('.svc.') && PRIVATE_SUFFIX.test(name))
  );
}

function isListedHost(name: string, allowed: readonly string[]): boolean {
  return allowed.some((listed) => {
    const entry = listed.endsWith('.') ? listed.slice(0, -1) : listed;
    return entry.startsWith('*.') ? name.endsWith(entry.slice(1)) : name === entry;
  });
}

function forbidden(action: string): HeraldError {
  return new HeraldError('HERALD_FORBIDDEN', `this principal may not ${action} here`);
}

/** The same answer as for a subscription that does not exist: another's is not even confirmed to exist. */
function notYours(what: string): HeraldError {
  return new HeraldError('HERALD_NOT_FOUND', `subscription '${what}' does not exist`);
}

/** The seed route's answer for a group that does not exist (`DELETE /events/unsub`), word for word. */
function seedGroupNotYours(group: string): HeraldError {
  return new HeraldError('HERALD_NOT_FOUND', `no subscription with id '${group}'`);
}

/**
 * The broker's trust boundary at the HTTP edge: every request passes through `authenticate` (before any
 * handler, so per-client limits see the principal) and `authorize` (the route table's action, the
 * cross-site check, and ownership). Ingress asks `authorizeEvents` for the `publish` filters.
 */
export class AccessControl {
  private readonly allowedHosts: readonly string[];

  constructor(private readonly options: AccessControlOptions) {
    this.allowedHosts = (options.allowedHosts ?? []).map((host) => host.toLowerCase());
  }

  /**
   * Establishes and records the request's identity; throws 401/431 (public paths need none). Returns
   * undefined when it is settled at once (`--auth none`), so the caller need not wait a turn for it.
   */
  authenticate(req: IncomingMessage, pathname: string): Promise<void> | undefined {
    const { authenticator } = this.options;
    if (authenticator === undefined) {
      setIdentity(req, ANONYMOUS_IDENTITY);
      return undefined;
    }
    if (isPublicPath(pathname)) return undefined;
    return this.authenticateWith(authenticator, req);
  }

  private async authenticateWith(authenticator: Authenticator, req: IncomingMessage): Promise<void> {
    try {
      setIdentity(req, await authenticator.authenticate(req));
    } catch (error) {
      if (error instanceof AuthenticationError)
        this.options.metrics.authFailures.inc({ reason: error.reason });
      throw error;
    }
  }

  /** Checks the resolved route for the request's principal; throws 403 (or 404 for another's subscription). */
  /** `url` parses the request target on demand (only seed-group rules read it). */
  authorize(
    req: IncomingMessage,
    method: string,
    pattern: string,
    params: RouteParams,
    url: () => URL,
  ): void {
    this.refuseUnknownHost(req);
    const rule = ROUTE_TABLE[`${method} ${pattern === '' ? '/' : pattern}`];
    const { metrics, ownership } = this.options;
    if (rule === undefined) {
      metrics.authzDenials.inc({ action: 'unlisted' });
      throw forbidden(`use ${method} ${pattern}`);
    }
    if (rule.action === 'public') return;
    if (rule.browserSafe === false) this.refuseCrossSite(req);
    const principal = this.principalOf(req);
    if (!this.options.policy.allows(principal, rule.action)) {
      this.refuseUnsettled();
      metrics.authzDenials.inc({ action: rule.action });
      throw forbidden(rule.action);
    }
    if (rule.owned === undefined || this.may(principal, 'admin')) return;
    setOwnerScope(req, principal);
    if (rule.owned === 'subscription') {
      const id = params['id'] ?? '';
      const found = ownership.subscription(id);
      if (found.exists && found.owner !== principal) metrics.authzDenials.inc({ action: 'owner' });
      // A missing one is refused here too, not by the handler: a handler judges its query and body first
      // on some routes, and another's would then answer 404 where a missing one answers 400.
      if (!found.exists || found.owner !== principal) throw notYours(id);
    } else if (rule.owned === 'seed-group') {
      // Read as the route reads it (seedGroupParam), so both judge the same group.
      const group = queryParamAnyCase(url(), 'subscriptionId') ?? '';
      const owners = ownership.seedGroup(group);
      const others = owners.some((owner) => owner !== principal);
      if (others) metrics.authzDenials.inc({ action: 'owner' });
      // A missing group is refused here too, so both answers come from one place, alike.
      if (others || owners.length === 0) throw seedGroupNotYours(group);
    }
  }

  /** Ingress: every event of a request must be allowed by a `publish` rule (and its filter). */
  authorizeEvents(req: IncomingMessage, events: readonly CloudEvent[]): void {
    const principal = this.principalOf(req);
    events.forEach((event, index) => {
      if (!this.options.policy.allowsEvent(principal, event)) {
        this.refuseUnsettled();
        this.options.metrics.authzDenials.inc({ action: 'publish' });
        throw new HeraldError(
          'HERALD_FORBIDDEN',
          events.length > 1
            ? `event ${index}: this principal may not publish this event`
            : 'this principal may not publish this event',
          events.length > 1 ? { index } : {},
        );
      }
    });
  }

  /**
   * For a request `authenticate` and `authorize` let through on `route` (`"GET /events/stream"`): when
   * its credential expires, and a re-check with its original `Authorization` header, so a response that
   * outlives the request's checks ends when a reloaded tokens file or changed policy would refuse it.
   */
  streamCredential(req: IncomingMessage, route: string): StreamCredential {
    const { authenticator, policy } = this.options;
    const principal = this.principalOf(req);
    const action = ROUTE_TABLE[route]?.action;
    const expiresAt = authenticator === undefined ? undefined : credentialExpiry(req.headers.authorization);
    return {
      expiresAt,
      stillAllowed: async () => {
        if (authenticator !== undefined) {
          try {
            if ((await authenticator.authenticate(req)).principal !== principal) return false;
          } catch (error) {
            // The TokenReview failed (or none could be sent: `busy`): the credential was not judged, and the
            // API server restarting must not end every stream. The next re-check asks again (expiry still
            // ends it on time).
            if (
              error instanceof AuthenticationError &&
              (error.reason === 'backend' || error.reason === 'busy')
            ) {
              return true;
            }
            return false;
          }
        }
        return action === 'public' || (action !== undefined && policy.allows(principal, action));
      },
    };
  }

  /**
   * A refusal while some rules are not read yet (the EventPolicy resources before their first list) is
   * not the rules' answer: 503, retry, where a 403 would tell the client to give up.
   */
  private refuseUnsettled(): void {
    if (this.options.policy.settled) return;
    throw new HeraldError(
      'HERALD_NOT_READY',
      'the broker has not read its EventPolicy resources yet; retry',
      { retryAfter: 1 },
    );
  }

  private may(principal: string, action: Action): boolean {
    return this.options.policy.allows(principal, action);
  }

  private principalOf(req: IncomingMessage): string {
    return identityOf(req)?.principal ?? ANONYMOUS;
  }

  /**
   * DNS rebinding: a page of `evil.example` whose name is made to resolve to the broker is same-origin
   * with it, so the Origin check below passes. The page's requests still carry its own name in `Host`:
   * a browser request (one with `Origin` or `Sec-Fetch-Site`) must address the broker by a name rebinding
   * cannot take over. Other clients may use any name: Node's `fetch` (so Herald's own client and CLI)
   * sends `Sec-Fetch-Mode: cors` on every request, which therefore does not mark a browser.
   */
  private refuseUnknownHost(req: IncomingMessage): void {
    const { headers } = req;
    if (headers.origin === undefined && headers['sec-fetch-site'] === undefined) return;
    const host = headers.host ?? '';
    const parsed = HOST_HEADER.exec(host);
    const v6 = parsed?.[1];
    // `herald.example.com.` is the same name as `herald.example.com`.
    const name = parsed?.[2]?.toLowerCase().replace(/\.$/, '');
    if (
      v6 !== undefined
        ? isIPv6(v6)
        : name !== undefined && (isBuiltInHost(name) || isListedHost(name, this.allowedHosts))
    ) {
      return;
    }
    this.options.metrics.authzDenials.inc({ action: 'host' });
    throw new HeraldError(
      'HERALD_CROSS_ORIGIN',
      `browser requests must address the broker by an IP address, localhost, a Kubernetes service name or a name in --allowed-hosts, not ${quoted(host)} (DNS rebinding)`,
    );
  }

  /**
   * A browser page of another site must not drive the control API with the user's network position
   * (CSRF). Browsers send `Sec-Fetch-Site` and `Origin`; clients that are not browsers send neither.
   */
  private refuseCrossSite(req: IncomingMessage): void {
    const site = req.headers['sec-fetch-site'];
    const origin = req.headers.origin;
    let crossSite = site !== undefined && site !== 'same-origin' && site !== 'none';
    if (!crossSite && origin !== undefined) {
      try {
        crossSite = origin === 'null' || new URL(origin).host !== req.headers.host;
      } catch {
        crossSite = true;
      }
    }
    if (crossSite) {
      this.options.metrics.authzDenials.inc({ action: 'origin' });
      throw new HeraldError(
        'HERALD_CROSS_ORIGIN',
        'cross-origin browser requests may not change subscriptions',
      );
    }
  }
}

export { AuthenticationError };
