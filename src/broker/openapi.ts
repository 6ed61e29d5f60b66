/** The broker's HTTP API, served at `/openapi.json`. Kept small: paths, operations and status codes. */
const problem = {
  description: 'Problem',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};

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
        responses: { '200': { description: 'text/event-stream' } },
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
    },
  },
} as const;
