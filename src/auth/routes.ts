import type { Action } from './policy.js';

/**
 * What each route does, in one table: authorization looks every request up here (a route missing from
 * the table is refused, and a test checks that every registered route has an entry).
 *
 * - `action`: what the principal needs (`public` routes need no credential: probes and the API document).
 * - `owned`: the route addresses one subscription (`:id`) or one seed group (`?subscriptionId=`); without
 *   `admin` only the principal's own. `list`: answers only the principal's own.
 * - `browserSafe: false`: a state-changing control route, refused when a browser sends it cross-site.
 */
export interface RouteRule {
  readonly action: Action | 'public';
  readonly owned?: 'subscription' | 'seed-group' | 'list';
  readonly browserSafe?: false;
}

export const ROUTE_TABLE: Readonly<Record<string, RouteRule>> = {
  'POST /': { action: 'publish' },
  'POST /events': { action: 'publish' },
  'POST /events/pub': { action: 'publish' },
  'GET /events': { action: 'read' },
  'GET /events/stream': { action: 'read' },
  'POST /events/sub': { action: 'subscribe', browserSafe: false },
  'DELETE /events/unsub': { action: 'subscribe', owned: 'seed-group', browserSafe: false },
  'OPTIONS /subscriptions': { action: 'subscribe' },
  'GET /subscriptions': { action: 'subscribe', owned: 'list' },
  'POST /subscriptions': { action: 'subscribe', browserSafe: false },
  'OPTIONS /subscriptions/:id': { action: 'subscribe', owned: 'subscription' },
  'GET /subscriptions/:id': { action: 'subscribe', owned: 'subscription' },
  'PUT /subscriptions/:id': { action: 'subscribe', owned: 'subscription', browserSafe: false },
  'DELETE /subscriptions/:id': { action: 'subscribe', owned: 'subscription', browserSafe: false },
  'POST /subscriptions/:id/seek': { action: 'subscribe', owned: 'subscription', browserSafe: false },
  'POST /subscriptions/:id/pause': { action: 'subscribe', owned: 'subscription', browserSafe: false },
  'POST /subscriptions/:id/resume': { action: 'subscribe', owned: 'subscription', browserSafe: false },
  'GET /subscriptions/:id/deadletters': { action: 'subscribe', owned: 'subscription' },
  'POST /subscriptions/:id/deadletters/redrive': {
    action: 'subscribe',
    owned: 'subscription',
    browserSafe: false,
  },
  'POST /match': { action: 'subscribe', owned: 'list' },
  'GET /metrics': { action: 'admin' },
  'GET /healthz': { action: 'public' },
  'GET /readyz': { action: 'public' },
  'GET /openapi.json': { action: 'public' },
  // The dashboard: its files carry no data (the app asks for a token on its first 401); /stats does.
  // Without admin, its per-subscription counts list only the principal's own subscriptions.
  'GET /stats': { action: 'read', owned: 'list' },
  'GET /eventtypes': { action: 'read' },
  'GET /ui/*': { action: 'public' },
  'HEAD /ui/*': { action: 'public' },
  // Names the build and the Node.js version: for principals allowed to read, not for anyone.
  'GET /version': { action: 'read' },
};

const publicPatterns = Object.entries(ROUTE_TABLE)
  .filter(([, rule]) => rule.action === 'public')
  .map(([key]) => key.slice(key.indexOf(' ') + 1));

/** Paths served without a credential whatever the method (so a wrong method still answers 405, not 401). */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(publicPatterns.filter((p) => !p.endsWith('/*')));
/** Trees served without a credential (`/ui/*`: the pattern's prefix, and everything under it). */
const PUBLIC_TREES = publicPatterns.filter((p) => p.endsWith('/*')).map((p) => p.slice(0, -2));

export function isPublicPath(pathname: string): boolean {
  return (
    PUBLIC_PATHS.has(pathname) ||
    PUBLIC_TREES.some((tree) => pathname === tree || pathname.startsWith(`${tree}/`))
  );
}
