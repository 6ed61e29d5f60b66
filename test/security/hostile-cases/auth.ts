// Hostile rows for authentication, authorization, ownership, CSRF and route placement: every protected
// route × every bad credential, plus principals reaching beyond their rules and their subscriptions.
import type { HostileCase, HostileContext, HostileRequest } from '../hostile-types.js';

const event = (id: string) => ({
  'ce-specversion': '1.0',
  'ce-id': id,
  'ce-source': '/hostile',
  'ce-type': 'dev.herald.hostile',
});
const jsonBody = (value: unknown) => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(value),
});
const seedBody = jsonBody({ subject: 'hostile', subscribers: ['http://127.0.0.1:9/hostile'] });
const subscriptionBody = jsonBody({ sink: 'http://127.0.0.1:9/hostile', protocol: 'HTTP' });

/** Every route that needs a credential, with a request that would succeed for an allowed principal. */
const ROUTES: ReadonlyArray<{ name: string; build: (c: HostileContext) => HostileRequest }> = [
  { name: 'POST /', build: () => ({ port: 'data', method: 'POST', path: '/', headers: event('h-root') }) },
  {
    name: 'POST /events',
    build: () => ({ port: 'data', method: 'POST', path: '/events', headers: event('h-ev') }),
  },
  {
    name: 'POST /events/pub',
    build: () => ({
      port: 'data',
      method: 'POST',
      path: '/events/pub',
      ...jsonBody({ specversion: '1.0', id: 'h-pub', source: '/h', type: 't' }),
    }),
  },
  { name: 'GET /events', build: () => ({ port: 'admin', method: 'GET', path: '/events' }) },
  { name: 'GET /events/stream', build: () => ({ port: 'admin', method: 'GET', path: '/events/stream' }) },
  {
    name: 'POST /events/sub',
    build: () => ({ port: 'admin', method: 'POST', path: '/events/sub', ...seedBody }),
  },
  {
    name: 'DELETE /events/unsub',
    build: (c) => ({
      port: 'admin',
      method: 'DELETE',
      path: `/events/unsub?subscriptionId=${c.bobSeedGroup}`,
    }),
  },
  { name: 'GET /subscriptions', build: () => ({ port: 'admin', method: 'GET', path: '/subscriptions' }) },
  {
    name: 'OPTIONS /subscriptions',
    build: () => ({ port: 'admin', method: 'OPTIONS', path: '/subscriptions' }),
  },
  {
    name: 'POST /subscriptions',
    build: () => ({ port: 'admin', method: 'POST', path: '/subscriptions', ...subscriptionBody }),
  },
  {
    name: 'GET /subscriptions/{id}',
    build: (c) => ({ port: 'admin', method: 'GET', path: `/subscriptions/${c.bobSubscription}` }),
  },
  {
    name: 'OPTIONS /subscriptions/{id}',
    build: (c) => ({ port: 'admin', method: 'OPTIONS', path: `/subscriptions/${c.bobSubscription}` }),
  },
  {
    name: 'PUT /subscriptions/{id}',
    build: (c) => ({
      port: 'admin',
      method: 'PUT',
      path: `/subscriptions/${c.bobSubscription}`,
      ...subscriptionBody,
    }),
  },
  {
    name: 'DELETE /subscriptions/{id}',
    build: (c) => ({ port: 'admin', method: 'DELETE', path: `/subscriptions/${c.bobSubscription}` }),
  },
  {
    name: 'POST /subscriptions/{id}/seek',
    build: (c) => ({
      port: 'admin',
      method: 'POST',
      path: `/subscriptions/${c.bobSubscription}/seek`,
      ...jsonBody({ to: 'earliest' }),
    }),
  },
  {
    name: 'POST /subscriptions/{id}/pause',
    build: (c) => ({ port: 'admin', method: 'POST', path: `/subscriptions/${c.bobSubscription}/pause` }),
  },
  {
    name: 'POST /subscriptions/{id}/resume',
    build: (c) => ({ port: 'admin', method: 'POST', path: `/subscriptions/${c.bobSubscription}/resume` }),
  },
  {
    name: 'GET /subscriptions/{id}/deadletters',
    build: (c) => ({ port: 'admin', method: 'GET', path: `/subscriptions/${c.bobSubscription}/deadletters` }),
  },
  {
    name: 'POST /subscriptions/{id}/deadletters/redrive',
    build: (c) => ({
      port: 'admin',
      method: 'POST',
      path: `/subscriptions/${c.bobSubscription}/deadletters/redrive`,
    }),
  },
  { name: 'GET /metrics', build: () => ({ port: 'admin', method: 'GET', path: '/metrics' }) },
  { name: 'GET /stats', build: () => ({ port: 'admin', method: 'GET', path: '/stats' }) },
  {
    name: 'POST /match',
    build: () => ({ port: 'admin', method: 'POST', path: '/match', headers: event('h-match') }),
  },
];

/** Credentials that must all get the same 401. */
const BAD_CREDENTIALS: ReadonlyArray<{ name: string; header: (c: HostileContext) => string | undefined }> = [
  { name: 'no Authorization', header: () => undefined },
  { name: 'empty Bearer', header: () => 'Bearer ' },
  {
    name: 'Basic scheme',
    header: (c) => `Basic ${Buffer.from(`alice:${c.tokens.alice}`).toString('base64')}`,
  },
  { name: 'token without scheme', header: (c) => c.tokens.alice },
  { name: 'two tokens', header: (c) => `Bearer ${c.tokens.alice} ${c.tokens.bob}` },
  { name: 'unknown opaque token', header: () => 'Bearer 0123456789abcdef0123456789abcdef' },
  { name: 'token with a changed character', header: (c) => `Bearer ${c.tokens.alice.slice(0, -1)}x` },
  { name: 'expired JWT', header: (c) => `Bearer ${c.jwt.expired}` },
  { name: 'not-yet-valid JWT', header: (c) => `Bearer ${c.jwt.notYetValid}` },
  { name: 'wrong-issuer JWT', header: (c) => `Bearer ${c.jwt.wrongIssuer}` },
  { name: 'wrong-audience JWT', header: (c) => `Bearer ${c.jwt.wrongAudience}` },
  { name: 'alg none JWT', header: (c) => `Bearer ${c.jwt.algNone}` },
  { name: 'HMAC-with-public-key JWT', header: (c) => `Bearer ${c.jwt.hmacConfusion}` },
  { name: 'JWT of an unknown key', header: (c) => `Bearer ${c.jwt.unknownKey}` },
  { name: 'JWT with a tampered payload', header: (c) => `Bearer ${c.jwt.tampered}` },
  { name: 'JWT without sub', header: (c) => `Bearer ${c.jwt.noSubject}` },
];

function withAuthorization(request: HostileRequest, header: string | undefined): HostileRequest {
  const headers: Record<string, string> = { ...request.headers };
  if (header !== undefined) headers['authorization'] = header;
  return { ...request, headers };
}

const unauthenticated: HostileCase[] = ROUTES.flatMap((route) =>
  BAD_CREDENTIALS.map((credential) => ({
    name: `${route.name}: ${credential.name}`,
    request: (c: HostileContext) => withAuthorization(route.build(c), credential.header(c)),
    status: 401,
    code: 'HERALD_UNAUTHENTICATED',
  })),
);

const oversized: HostileCase[] = ROUTES.filter((_, i) => i % 4 === 0).flatMap((route) =>
  [9_000, 20_000].map((size) => ({
    name: `${route.name}: Authorization of ${size} bytes`,
    request: (c: HostileContext) => withAuthorization(route.build(c), `Bearer ${'x'.repeat(size)}`),
    status: 431,
    code: 'HERALD_AUTHORIZATION_TOO_LARGE',
  })),
);

/** alice acting on bob's subscription: answered as if it did not exist. */
const OWNED = [
  'GET /subscriptions/{id}',
  'OPTIONS /subscriptions/{id}',
  'PUT /subscriptions/{id}',
  'DELETE /subscriptions/{id}',
  'POST /subscriptions/{id}/seek',
  'POST /subscriptions/{id}/pause',
  'POST /subscriptions/{id}/resume',
  'GET /subscriptions/{id}/deadletters',
  'POST /subscriptions/{id}/deadletters/redrive',
  'DELETE /events/unsub',
];
const route = (name: string) => ROUTES.find((r) => r.name === name) as (typeof ROUTES)[number];
const others: HostileCase[] = OWNED.flatMap((name) => [
  {
    name: `${name}: another principal's subscription (static token)`,
    request: (c: HostileContext) => withAuthorization(route(name).build(c), `Bearer ${c.tokens.alice}`),
    status: 404,
    code: 'HERALD_NOT_FOUND',
  },
  {
    name: `${name}: another principal's subscription (JWT)`,
    request: (c: HostileContext) => withAuthorization(route(name).build(c), `Bearer ${c.jwt.valid('alice')}`),
    status: 404,
    code: 'HERALD_NOT_FOUND',
  },
]);

/** Principals doing what no rule grants them. */
const forbidden: HostileCase[] = [
  ...['POST /', 'POST /events', 'POST /events/pub'].map((name) => ({
    name: `${name}: reader publishes`,
    request: (c: HostileContext) => withAuthorization(route(name).build(c), `Bearer ${c.tokens.reader}`),
    status: 403,
    code: 'HERALD_FORBIDDEN',
  })),
  ...['POST /', 'POST /events'].map((name) => ({
    name: `${name}: shop publishes a type outside its filter`,
    request: (c: HostileContext) => withAuthorization(route(name).build(c), `Bearer ${c.jwt.valid('shop')}`),
    status: 403,
    code: 'HERALD_FORBIDDEN',
  })),
  ...ROUTES.map((r) => ({
    name: `${r.name}: principal without any rule`,
    request: (c: HostileContext) => withAuthorization(r.build(c), `Bearer ${c.tokens.nobody}`),
    status: 403,
    code: 'HERALD_FORBIDDEN',
  })),
  ...ROUTES.filter((r) => r.name.includes('subscriptions') || r.name.includes('/events/')).map((r) => ({
    name: `${r.name}: publish-only JWT principal`,
    request: (c: HostileContext) => withAuthorization(r.build(c), `Bearer ${c.jwt.valid('shop')}`),
    status: 403,
    code: 'HERALD_FORBIDDEN',
  })),
  {
    name: 'GET /metrics: principal without admin',
    request: (c) => withAuthorization(route('GET /metrics').build(c), `Bearer ${c.tokens.alice}`),
    status: 403,
    code: 'HERALD_FORBIDDEN',
  },
  {
    name: 'GET /events: publish-only principal reads',
    request: (c) => withAuthorization(route('GET /events').build(c), `Bearer ${c.jwt.valid('shop')}`),
    status: 403,
    code: 'HERALD_FORBIDDEN',
  },
];

/** A browser page of another site driving the control API with an admin's credentials. */
const CROSS_SITE = [
  { name: 'Origin of another site', headers: { origin: 'https://evil.example' } },
  { name: 'Origin null', headers: { origin: 'null' } },
  { name: 'Sec-Fetch-Site cross-site', headers: { 'sec-fetch-site': 'cross-site' } },
];
const csrf: HostileCase[] = ROUTES.filter(
  (r) =>
    /^(POST|PUT|DELETE) /.test(r.name) &&
    !['POST /', 'POST /events', 'POST /events/pub', 'POST /match'].includes(r.name),
).flatMap((r) =>
  CROSS_SITE.map((site) => ({
    name: `${r.name}: ${site.name}`,
    request: (c: HostileContext) => {
      const built = withAuthorization(r.build(c), `Bearer ${c.tokens.ops}`);
      return { ...built, headers: { ...built.headers, ...site.headers } };
    },
    status: 403,
    code: 'HERALD_CROSS_ORIGIN',
  })),
);

/** Subscriptions created the way a cross-site form or a link could. */
const formish: HostileCase[] = [
  {
    name: 'POST /events/sub: fields in the query string',
    request: (c) => ({
      port: 'admin',
      method: 'POST',
      path: '/events/sub?subscribers=http://127.0.0.1:9/q&streamPosition=0',
      headers: { authorization: `Bearer ${c.tokens.alice}` },
    }),
    status: 400,
    code: 'HERALD_INVALID_QUERY',
  },
  {
    name: 'POST /events/sub: fields in the query string with a JSON body',
    request: (c) => ({
      port: 'admin',
      method: 'POST',
      path: '/events/sub?streamPosition=0',
      headers: { authorization: `Bearer ${c.tokens.alice}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subscribers: ['http://127.0.0.1:9/q'] }),
    }),
    status: 400,
    code: 'HERALD_INVALID_QUERY',
  },
  ...['/events/sub', '/subscriptions'].flatMap((pathName) =>
    [
      ['application/x-www-form-urlencoded', 'subscribers=http%3A%2F%2F127.0.0.1%3A9%2Ff&sink=x'],
      ['text/plain', JSON.stringify({ subscribers: ['http://127.0.0.1:9/t'], sink: 'http://127.0.0.1:9/t' })],
      [
        'multipart/form-data; boundary=b',
        '--b\r\nContent-Disposition: form-data; name="sink"\r\n\r\nx\r\n--b--',
      ],
    ].map(([type, body]) => ({
      name: `POST ${pathName}: ${type} body`,
      request: (c: HostileContext): HostileRequest => ({
        port: 'admin',
        method: 'POST',
        path: pathName,
        headers: { authorization: `Bearer ${c.tokens.alice}`, 'content-type': type as string },
        body: body as string,
      }),
      status: 415,
      code: 'HERALD_UNSUPPORTED_MEDIA_TYPE',
    })),
  ),
  ...['POST /events/sub', 'DELETE /events/unsub'].map((name) => ({
    name: `${name}: on the data port (seed routes live on the admin port)`,
    request: (c: HostileContext) => ({
      ...withAuthorization(route(name).build(c), `Bearer ${c.tokens.ops}`),
      port: 'data' as const,
    }),
    status: 404,
    code: 'HERALD_NOT_FOUND',
  })),
  ...['GET /subscriptions', 'GET /events', 'GET /metrics'].map((name) => ({
    name: `${name}: on the data port`,
    request: (c: HostileContext) => ({
      ...withAuthorization(route(name).build(c), `Bearer ${c.tokens.ops}`),
      port: 'data' as const,
    }),
    status: name === 'GET /events' ? 405 : 404,
    code: name === 'GET /events' ? 'HERALD_METHOD_NOT_ALLOWED' : 'HERALD_NOT_FOUND',
  })),
];

export const cases: HostileCase[] = [
  ...unauthenticated,
  ...oversized,
  ...others,
  ...forbidden,
  ...csrf,
  ...formish,
];
