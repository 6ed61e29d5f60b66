import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeraldError } from '../errors/index.js';

export type RouteParams = Readonly<Record<string, string>>;
export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  params: RouteParams,
  url: URL,
) => Promise<void> | void;

interface Route {
  readonly method: string;
  readonly pattern: string;
  readonly segments: readonly string[];
  readonly handler: RouteHandler;
  readonly usesUrl: boolean;
}

/** What `resolve` found: the handler, its path parameters and pattern, and whether it reads the URL. */
export interface ResolvedRoute {
  readonly handler: RouteHandler;
  readonly params: RouteParams;
  readonly pattern: string;
  /**
   * False for handlers declared with fewer than four parameters: they never see the parsed URL, so the
   * caller need not build one (ingress, where `new URL` per request was a measurable cost).
   */
  readonly usesUrl: boolean;
}

/** A 405 that carries the methods the path does allow, for the `Allow` header RFC 9110 §15.5.6 requires. */
export class MethodNotAllowedError extends HeraldError {
  readonly allow: readonly string[];

  constructor(method: string, allowed: readonly string[]) {
    const allow = [...new Set(allowed)];
    super('HERALD_METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${allow.join(', ')}`);
    this.allow = allow;
  }
}

/**
 * A small path router: `/subscriptions/:id/seek` style patterns, exact segment matching, 404/405 as
 * problems. A last segment `*` matches whatever follows (nothing included), for trees of static files.
 */
export class Router {
  private readonly routes: Route[] = [];

  on(method: string, pattern: string, handler: RouteHandler): this {
    this.routes.push({
      method,
      pattern,
      segments: pattern.split('/').filter(Boolean),
      handler,
      usesUrl: handler.length >= 4,
    });
    return this;
  }

  /** Finds the handler for a request; throws 404 or 405 (with the allowed methods) when there is none. */
  resolve(method: string, pathname: string): ResolvedRoute {
    const parts = pathname.split('/').filter(Boolean);
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = match(route.segments, parts);
      if (params === undefined) continue;
      if (route.method === method) {
        return { handler: route.handler, params, pattern: route.pattern, usesUrl: route.usesUrl };
      }
      allowed.push(route.method);
    }
    if (allowed.length > 0) {
      throw new MethodNotAllowedError(method, allowed);
    }
    throw new HeraldError('HERALD_NOT_FOUND', `no route for ${pathname}`);
  }

  /** Every registered `METHOD pattern`, e.g. for checking that each route has an authorization entry. */
  list(): string[] {
    return this.routes.map((route) => `${route.method} ${route.pattern}`);
  }
}

function match(segments: readonly string[], parts: readonly string[]): Record<string, string> | undefined {
  if (segments.at(-1) === '*') {
    const prefix = segments.slice(0, -1);
    return parts.length < prefix.length ? undefined : match(prefix, parts.slice(0, prefix.length));
  }
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    const part = parts[i] as string;
    if (segment.startsWith(':')) {
      try {
        params[segment.slice(1)] = decodeURIComponent(part);
      } catch {
        return undefined;
      }
    } else if (segment !== part) return undefined;
  }
  return params;
}
