import { randomUUID } from 'node:crypto';
import { HeraldError } from '../errors/index.js';
import { ownerOf, ownerScopeOf, queryParamAnyCase, readJsonObject, sendJson } from '../http/index.js';
import type { Router } from '../http/index.js';
import type { SubscriptionService } from './service.js';
import type { SeedView, StartPosition } from './types.js';
import { parseSubscriptionRequest } from './validate.js';

/**
 * The original project's subscription endpoints (architecture §3.3). Unlike the original, the given
 * `subject`, `type` and `source` must ALL match (it ORed them and delivered unrelated events), and every
 * subscription is durable (`durable` is accepted and ignored).
 */
const SEED_FIELDS = [
  'subject',
  'type',
  'source',
  'channel',
  'durable',
  'streamPosition',
  'subscribers',
] as const;

function seedError(field: string, detail: string): HeraldError {
  return new HeraldError('HERALD_INVALID_REQUEST', `${field}: ${detail}`, { pointer: `/${field}` });
}

/** ASP.NET bound these case-insensitively; so does Herald (`Subject` = `subject`). */
function normalise(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) out[key.toLowerCase()] = value;
  return out;
}

function streamPosition(value: unknown): StartPosition {
  if (value === undefined || value === null) return 'latest';
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < -1) {
    throw seedError(
      'streamPosition',
      'must be 0 (from the start), -1 (new events only) or a sequence number',
    );
  }
  return n === 0 ? 'earliest' : n === -1 ? 'latest' : { sequence: n };
}

/**
 * The group `DELETE /events/unsub` names, in any casing of `subscriptionId` (the original's clients may
 * send `SubscriptionId`: one that Herald did not read would answer 404 and leave the subscription
 * delivering). Read by the route and by authorization alike, so both judge the same group.
 */
function seedGroupParam(url: URL): string | null {
  return queryParamAnyCase(url, 'subscriptionId');
}

export interface SeedRouteOptions {
  /** Most subscribers one request may name (`--max-subscribers-per-request`). */
  readonly maxSubscribersPerRequest?: number;
  /** Told when a limit refuses a request. */
  readonly onLimit?: (limit: string) => void;
}

export function registerSeedRoutes(
  router: Router,
  service: SubscriptionService,
  options: SeedRouteOptions = {},
): void {
  const maxSubscribers = options.maxSubscribersPerRequest ?? 100;
  router.on('POST', '/events/sub', async (req, res, _params, url) => {
    // Fields come from a JSON body only: a query string (or an HTML form) could be sent cross-site by
    // a browser without a CORS preflight, which is how CSRF creates subscriptions.
    const [first] = url.searchParams.keys();
    if (first !== undefined) {
      req.resume();
      throw new HeraldError(
        'HERALD_INVALID_QUERY',
        `query parameter '${first}' is not accepted: send the subscription as an application/json body`,
        { pointer: `?${first}` },
      );
    }
    const input = normalise(await readJsonObject(req));
    const known = new Map(SEED_FIELDS.map((f) => [f.toLowerCase(), f]));
    for (const key of Object.keys(input)) {
      if (!known.has(key))
        throw new HeraldError('HERALD_UNKNOWN_FIELD', `unknown field '${key}'`, { pointer: `/${key}` });
    }
    const attributes: Record<string, string> = {};
    for (const name of ['subject', 'type', 'source'] as const) {
      const value = input[name];
      if (value === undefined || value === null) continue;
      if (typeof value !== 'string' || value === '') throw seedError(name, 'must be a non-empty string');
      attributes[name] = value;
    }
    const channel = input['channel'];
    if (channel !== undefined && channel !== null && typeof channel !== 'string')
      throw seedError('channel', 'must be a string');
    const subscribers =
      typeof input['subscribers'] === 'string' ? [input['subscribers']] : input['subscribers'];
    if (!Array.isArray(subscribers) || subscribers.length === 0) {
      throw seedError('subscribers', 'must be a non-empty array of absolute http(s) URIs');
    }
    if (subscribers.length > maxSubscribers) {
      options.onLimit?.('max-subscribers-per-request');
      throw new HeraldError(
        'HERALD_TOO_MANY_SUBSCRIBERS',
        `subscribers: ${subscribers.length} subscribers in one request, more than ${maxSubscribers} (--max-subscribers-per-request)`,
        { pointer: '/subscribers' },
      );
    }
    const startAt = streamPosition(input['streamposition']);
    const group = randomUUID();
    const seed: SeedView = {
      group,
      ...attributes,
      ...(typeof channel === 'string' ? { channel } : {}),
      subscribers: subscribers as string[],
    };
    // Validate every subscriber before creating any, so a bad one changes nothing.
    const requests = subscribers.map((sink: unknown, i) => {
      try {
        return parseSubscriptionRequest({
          sink,
          protocol: 'HTTP',
          ...(Object.keys(attributes).length > 0 ? { filters: [{ exact: attributes }] } : {}),
          delivery: { contentMode: 'structured' },
          startAt,
        });
      } catch (error) {
        throw error instanceof HeraldError
          ? new HeraldError(error.code, `subscribers[${i}]: ${error.message}`, {
              pointer: `/subscribers/${i}`,
            })
          : error;
      }
    });
    // Every subscriber is checked before any is created, so a refused one changes nothing.
    for (const [i, request] of requests.entries()) service.checkSink(request.sink, `/subscribers/${i}`);
    const owner = ownerOf(req);
    await service.createMany(
      requests,
      'seed',
      seed,
      requests.map((_, i) => (i === 0 ? group : `${group}.${i}`)),
      owner,
    );
    sendJson(
      res,
      201,
      {
        id: group,
        subject: seed.subject ?? null,
        type: seed.type ?? null,
        source: seed.source ?? null,
        channel: seed.channel ?? null,
        subscribers: seed.subscribers,
      },
      { location: `/events/sub?subscriptionId=${group}` },
    );
  });

  router.on('DELETE', '/events/unsub', async (req, res, _params, url) => {
    const id = seedGroupParam(url);
    const scope = ownerScopeOf(req);
    const members = service
      .list()
      .filter(
        (d) => d.origin === 'seed' && d.seed?.group === id && (scope === undefined || d.owner === scope),
      );
    if (id === null || id === '' || members.length === 0) {
      throw new HeraldError('HERALD_NOT_FOUND', `no subscription with id '${id ?? ''}'`);
    }
    for (const member of members) await service.delete(member.id);
    res.writeHead(204);
    res.end();
  });
}
