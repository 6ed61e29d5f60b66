/** The broker's HTTP API, served at `/openapi.json`. Kept small: paths, operations and status codes. */
const problem = {
  description: 'Problem',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};

/** `?limit=` (at most `max`) and `?after=` of the paginated lists. */
const pageParameters = (max: number) => [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: max, default: 100 } },
  { name: 'after', in: 'query', schema: { type: 'string' }, description: 'Continue after this id' },
];

/** A page: the next one is linked from the `Link` header (RFC 8288, rel="next") when there is one. */
const pageOf = (description: string) => ({
  description,
  headers: { link: { schema: { type: 'string' }, description: '<…>; rel="next" when more follow' } },
});

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Herald broker',
    version: '0.1.0',
    description: 'CloudEvents ingress, event log, subscriptions and delivery.',
  },
  paths: {
    '/events': {
      post: {
        summary: 'Publish CloudEvents (binary, structured or batch mode)',
        responses: {
          '202': { description: 'Durably appended' },
          '400': problem,
          '413': problem,
          '415': problem,
          '429': problem,
          '503': problem,
        },
      },
      get: {
        summary: 'Read the log',
        parameters: [
          { name: 'from', in: 'query', schema: { type: 'integer', minimum: 0 } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
          {
            name: 'filter',
            in: 'query',
            schema: { type: 'string' },
            description: 'CloudEvents SQL expression',
          },
        ],
        responses: { '200': { description: '{ events: [{ sequence, event }], next }' }, '400': problem },
      },
    },
    '/': {
      post: {
        summary: 'Publish (same as POST /events)',
        responses: { '202': { description: 'Durably appended' } },
      },
    },
    '/events/pub': {
      post: {
        summary: 'Publish (original project route)',
        responses: { '202': { description: 'Durably appended' } },
      },
    },
    '/events/stream': {
      get: {
        summary: 'Server-Sent Events live tail',
        responses: {
          '200': { description: 'text/event-stream' },
          '400': problem,
          '429': problem,
          '503': problem,
        },
      },
    },
    '/subscriptions': {
      get: {
        summary: 'List subscriptions, a page at a time',
        parameters: pageParameters(1000),
        responses: { '200': pageOf('Array of subscriptions'), '400': problem },
      },
      post: {
        summary: 'Create a subscription (CloudEvents Subscriptions API + delivery, startAt)',
        responses: {
          '201': { description: 'Created; Location header' },
          '400': problem,
          '409': problem,
          '415': problem,
        },
      },
      options: { summary: 'Allowed methods', responses: { '200': { description: 'Allow header' } } },
    },
    '/subscriptions/{id}': {
      get: {
        summary: 'Read a subscription with its status',
        responses: { '200': { description: 'Subscription' }, '404': problem },
      },
      put: {
        summary: 'Replace a subscription (cursor kept)',
        responses: { '200': { description: 'Subscription' }, '400': problem, '404': problem, '409': problem },
      },
      delete: {
        summary: 'Delete a subscription, its cursor and dead letters',
        responses: { '200': { description: 'The deleted subscription' }, '404': problem },
      },
      options: { summary: 'Allowed methods', responses: { '200': { description: 'Allow header' } } },
    },
    '/subscriptions/{id}/seek': {
      post: {
        summary: 'Replay from earliest, latest, a sequence or a time',
        responses: { '200': { description: 'Subscription' }, '400': problem, '404': problem },
      },
    },
    '/subscriptions/{id}/pause': {
      post: {
        summary: 'Pause delivery',
        responses: { '200': { description: 'Subscription' }, '404': problem },
      },
    },
    '/subscriptions/{id}/resume': {
      post: {
        summary: 'Resume delivery',
        responses: { '200': { description: 'Subscription' }, '404': problem },
      },
    },
    '/subscriptions/{id}/deadletters': {
      get: {
        summary: 'List dead letters, a page at a time',
        parameters: pageParameters(10_000),
        responses: { '200': pageOf('{ deadLetters: [...] }'), '400': problem, '404': problem },
      },
    },
    '/subscriptions/{id}/deadletters/redrive': {
      post: {
        summary: 'Redeliver dead letters (all, or { ids })',
        responses: { '202': { description: '{ redriving: n }' }, '400': problem, '404': problem },
      },
    },
    '/events/sub': {
      post: {
        summary: 'Subscribe (original project route)',
        responses: { '201': { description: 'Seed subscription view' }, '400': problem },
      },
    },
    '/events/unsub': {
      delete: {
        summary: 'Unsubscribe (original project route)',
        responses: { '204': { description: 'Deleted' }, '404': problem },
      },
    },
    '/healthz': { get: { summary: 'Liveness', responses: { '200': { description: 'alive' } } } },
    '/readyz': {
      get: {
        summary: 'Readiness',
        responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } },
      },
    },
    '/metrics': {
      get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text/plain' } } },
    },
    '/match': {
      post: {
        summary:
          'Dry run: which subscriptions would receive this event (one event, any mode); nothing is stored',
        responses: {
          '200': { description: '{ "subscriptions": [ { "id", "sink" } ] }' },
          '400': problem,
          '415': problem,
        },
      },
    },
    '/stats': {
      get: {
        summary: 'Throughput for the dashboard: log statistics, retention, totals and recent samples',
        responses: {
          '200': {
            description: 'Statistics',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Stats' } } },
          },
        },
      },
    },
    '/ui/': {
      get: {
        summary: 'The dashboard (static files; any other path under /ui/ answers the app)',
        responses: { '200': { description: 'text/html' }, '404': problem },
      },
    },
  },
  components: {
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'detail', 'code'],
        properties: {
          type: { type: 'string' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          code: { type: 'string', pattern: '^HERALD_[A-Z_]+$' },
          attribute: { type: 'string' },
          pointer: { type: 'string' },
          index: { type: 'integer' },
        },
      },
      Stats: {
        type: 'object',
        required: ['time', 'log', 'retention', 'totals', 'subscriptions', 'sampleIntervalMs', 'samples'],
        properties: {
          time: { type: 'string', format: 'date-time' },
          log: {
            type: 'object',
            description: 'first and last sequence, events and bytes retained',
            properties: {
              first: { type: 'integer' },
              last: { type: 'integer' },
              events: { type: 'integer' },
              bytes: { type: 'integer' },
            },
          },
          retention: {
            type: 'object',
            description: '0 = unlimited',
            properties: {
              maxAgeMs: { type: 'integer' },
              maxEvents: { type: 'integer' },
              maxBytes: { type: 'integer' },
            },
          },
          totals: { $ref: '#/components/schemas/StatsCounters' },
          subscriptions: {
            type: 'array',
            description: 'events delivered per subscription this process delivers',
            items: {
              type: 'object',
              properties: { id: { type: 'string' }, delivered: { type: 'integer' } },
            },
          },
          sampleIntervalMs: { type: 'integer' },
          samples: {
            type: 'array',
            description: 'cumulative counters over the last minutes, oldest first; rates are differences',
            items: {
              allOf: [
                { $ref: '#/components/schemas/StatsCounters' },
                { type: 'object', properties: { t: { type: 'integer', description: 'ms since epoch' } } },
              ],
            },
          },
        },
      },
      StatsCounters: {
        type: 'object',
        properties: {
          accepted: { type: 'integer' },
          delivered: { type: 'integer' },
          deadLettered: { type: 'integer' },
        },
      },
    },
  },
} as const;
