import { z } from 'zod';
import { subscriptionRequestSchema } from '../subscriptions/index.js';

/**
 * The broker's HTTP API, served at `/openapi.json`: every operation with its parameters, request body,
 * security and every status it can answer, so that clients and fuzzers (schemathesis in CI) can reach
 * and check all of it.
 */

type Json = Record<string, unknown>;

const problemRef = { $ref: '#/components/schemas/Problem' };

function problem(description: string): Json {
  return { description, content: { 'application/problem+json': { schema: problemRef } } };
}

/** Answers any route may give: authentication, authorization, limits, shutdown. */
const COMMON: Record<string, Json> = {
  '401': {
    ...problem('No valid bearer credential (HERALD_UNAUTHENTICATED), with --auth'),
    headers: { 'WWW-Authenticate': { schema: { type: 'string' } } },
  },
  '403': problem(
    'Not allowed for this principal (HERALD_FORBIDDEN, HERALD_CROSS_ORIGIN, HERALD_SUBSCRIPTION_LIMIT)',
  ),
  '408': problem(
    'The request (headers, or headers and body) did not arrive within --headers-timeout / --request-timeout (HERALD_REQUEST_TIMEOUT)',
  ),
  '431': problem('Authorization header or request headers too large (HERALD_AUTHORIZATION_TOO_LARGE)'),
  '503': {
    ...problem(
      'Store not available yet, shutting down, the TokenReview backend failed, or a capacity bound was reached (HERALD_STORE_UNAVAILABLE, HERALD_SHUTTING_DOWN, HERALD_AUTH_UNAVAILABLE, HERALD_TOO_MANY_CONNECTIONS, HERALD_STREAM_CAPACITY on /events/stream, HERALD_LOG_READ_CAPACITY on GET /events, HERALD_DEAD_LETTER_READ_CAPACITY on GET /subscriptions/{id}/deadletters)',
    ),
    headers: { 'Retry-After': { schema: { type: 'integer' } } },
  },
};

/** Answers of routes that read a JSON body. */
/** A create past --max-subscriptions (per principal) or --max-subscriptions-total. */
const TOO_MANY_SUBSCRIPTIONS = problem(
  'Too many subscriptions: the principal or the broker is at its limit (HERALD_TOO_MANY_SUBSCRIPTIONS)',
);

const BODY_ERRORS: Record<string, Json> = {
  '400': problem('Invalid request (HERALD_INVALID_REQUEST, HERALD_UNKNOWN_FIELD, HERALD_MALFORMED_JSON, …)'),
  '413': problem('Body too large (HERALD_PAYLOAD_TOO_LARGE)'),
  '415': problem('Not application/json (HERALD_UNSUPPORTED_MEDIA_TYPE)'),
};

const notFound = problem('No such subscription (HERALD_NOT_FOUND); also for another principal’s');

interface Operation {
  readonly summary: string;
  readonly action: 'publish' | 'subscribe' | 'read' | 'admin' | 'public';
  readonly parameters?: readonly Json[];
  readonly requestBody?: Json;
  readonly responses: Record<string, Json>;
}

function operation(op: Operation): Json {
  const publicRoute = op.action === 'public';
  return {
    summary: op.summary,
    description: publicRoute
      ? 'Needs no credential.'
      : `Needs the \`${op.action}\` action when authentication is on (see docs/security.md).`,
    ...(op.parameters === undefined ? {} : { parameters: op.parameters }),
    ...(op.requestBody === undefined ? {} : { requestBody: op.requestBody }),
    // Optional: with --auth none no credential is needed.
    security: publicRoute ? [] : [{}, { bearerAuth: [] }],
    responses: {
      ...op.responses,
      ...(publicRoute ? { '408': COMMON['408'], '503': COMMON['503'] } : COMMON),
    },
  };
}

const idParameter: Json = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'Subscription id (server-assigned)',
  schema: { type: 'string', minLength: 1 },
};

const subscriptionJson = { 'application/json': { schema: { $ref: '#/components/schemas/Subscription' } } };
const subscription = (description: string): Json => ({ description, content: subscriptionJson });

const subscriptionBody: Json = {
  required: true,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/SubscriptionRequest' } } },
};

/** PUT: the same fields; an `id` in the body must equal the path's, so the document leaves it out. */
const replacementBody: Json = {
  required: true,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/SubscriptionReplacement' } } },
};

const jsonBody = (schema: Json, required = true): Json => ({
  required,
  content: { 'application/json': { schema } },
});

/** Binary mode: the CloudEvents attributes as `ce-` headers, the data as the body. */
const binaryHeaders: Json[] = ['specversion', 'id', 'source', 'type', 'subject', 'time'].map((name) => ({
  name: `ce-${name}`,
  in: 'header',
  required: false,
  schema: { type: 'string' },
}));

const publishBody: Json = {
  required: true,
  content: {
    'application/cloudevents+json': { schema: { $ref: '#/components/schemas/CloudEvent' } },
    'application/cloudevents-batch+json': {
      schema: { type: 'array', items: { $ref: '#/components/schemas/CloudEvent' } },
    },
    'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
  },
};

const publishResponses: Record<string, Json> = {
  '202': { description: 'Every event durably appended (or a duplicate within the dedupe window)' },
  '400': problem('An invalid event; a batch names the index (nothing stored)'),
  '413': problem(
    'Request or event too large, or a batch over --max-batch-events or --ingress-rate-burst (HERALD_PAYLOAD_TOO_LARGE, HERALD_TOO_MANY_EVENTS, HERALD_RATE_BURST_EXCEEDED)',
  ),
  '415': problem(
    'Not a CloudEvent (HERALD_UNSUPPORTED_MEDIA_TYPE), or a body under a Content-Encoding other than identity (HERALD_UNSUPPORTED_ENCODING)',
  ),
  '429': {
    ...problem('Over --ingress-rate-limit (HERALD_RATE_LIMITED)'),
    headers: { 'Retry-After': { schema: { type: 'integer' } } },
  },
};

function publish(summary: string): Json {
  return operation({
    summary,
    action: 'publish',
    parameters: binaryHeaders,
    requestBody: publishBody,
    responses: publishResponses,
  });
}

const logParameters: Json[] = [
  { name: 'from', in: 'query', schema: { type: 'integer', minimum: 0 } },
  {
    name: 'filter',
    in: 'query',
    schema: { type: 'string' },
    description:
      'CloudEvents SQL expression, or (starting with { or [) a JSON filter or array of filters in the subscriptions dialects, the data dialect included',
  },
];

/** The original project's request: ASP.NET bound nullable fields and one subscriber as a string. */
const nullableString = { type: ['string', 'null'], minLength: 1 };
const seedRequest: Json = {
  type: 'object',
  required: ['subscribers'],
  properties: {
    subject: nullableString,
    type: nullableString,
    source: nullableString,
    channel: { type: ['string', 'null'] },
    durable: {},
    streamPosition: {
      oneOf: [
        { type: ['integer', 'null'], minimum: -1 },
        { type: 'string', pattern: '^(-1|\\d+)$' },
      ],
    },
    subscribers: {
      oneOf: [
        { type: 'array', minItems: 1, items: { type: 'string', format: 'uri' } },
        { type: 'string', format: 'uri' },
      ],
    },
  },
  additionalProperties: false,
};

const allowResponse: Json = {
  description: 'The allowed methods',
  headers: { Allow: { schema: { type: 'string' } } },
};

function requestSchema(): Json {
  const schema = z.toJSONSchema(subscriptionRequestSchema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
  }) as Json;
  delete schema['$schema'];
  return schema;
}

function withoutId(schema: Json): Json {
  const { id: _id, ...properties } = schema['properties'] as Record<string, unknown>;
  return { ...schema, properties };
}

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Herald broker',
    version: '0.1.0',
    description:
      'CloudEvents ingress, event log, subscriptions and delivery. With --admin-port, everything but ' +
      'publishing (POST /, /events, /events/pub) is served on the admin port.',
  },
  paths: {
    '/': { post: publish('Publish CloudEvents (binary, structured or batch mode)') },
    '/events': {
      post: publish('Publish CloudEvents (binary, structured or batch mode)'),
      get: operation({
        summary: 'Read the log',
        action: 'read',
        parameters: [
          ...logParameters,
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
        ],
        responses: {
          '200': {
            description: 'A page of the log',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/LogPage' } } },
          },
          '400': problem('Invalid query parameter or filter (HERALD_INVALID_QUERY, HERALD_INVALID_FILTER)'),
          '429': {
            ...problem('Over --max-log-reads-per-client for this client (HERALD_TOO_MANY_LOG_READS)'),
            headers: { 'Retry-After': { schema: { type: 'integer' } } },
          },
        },
      }),
    },
    '/events/pub': {
      post: publish('Publish (original project route; application/json is a structured event)'),
    },
    '/events/stream': {
      get: operation({
        summary: 'Server-Sent Events live tail (never ends by itself)',
        action: 'read',
        parameters: [...logParameters, { name: 'Last-Event-ID', in: 'header', schema: { type: 'string' } }],
        responses: {
          '200': {
            description: 'text/event-stream',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          '400': problem('Invalid query parameter or filter'),
          '429': {
            ...problem('Over --max-streams-per-client for this client (HERALD_TOO_MANY_STREAMS)'),
            headers: { 'Retry-After': { schema: { type: 'integer' } } },
          },
        },
      }),
    },
    '/events/sub': {
      post: operation({
        summary: 'Subscribe (original project route; a JSON body only, no query parameters)',
        action: 'subscribe',
        requestBody: jsonBody(seedRequest),
        responses: {
          '201': {
            description: 'Seed subscription view',
            headers: { Location: { schema: { type: 'string' } } },
            content: { 'application/json': { schema: { type: 'object' } } },
          },
          ...BODY_ERRORS,
          '409': TOO_MANY_SUBSCRIPTIONS,
        },
      }),
    },
    '/events/unsub': {
      delete: operation({
        summary: 'Unsubscribe (original project route)',
        action: 'subscribe',
        parameters: [{ name: 'subscriptionId', in: 'query', required: true, schema: { type: 'string' } }],
        responses: { '204': { description: 'Deleted' }, '404': notFound },
      }),
    },
    '/subscriptions': {
      get: operation({
        summary: 'List subscriptions (only your own without admin), a page at a time',
        action: 'subscribe',
        parameters: [
          {
            name: 'limit',
            in: 'query',
            schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
          { name: 'after', in: 'query', schema: { type: 'string' }, description: 'Continue after this id' },
        ],
        responses: {
          '200': {
            description: 'Subscriptions; `Link: <…>; rel="next"` when more follow',
            headers: { Link: { schema: { type: 'string' } } },
            content: {
              'application/json': {
                schema: { type: 'array', items: { $ref: '#/components/schemas/Subscription' } },
              },
            },
          },
          '400': problem('Invalid limit or after (HERALD_INVALID_QUERY)'),
        },
      }),
      post: operation({
        summary: 'Create a subscription (CloudEvents Subscriptions API + delivery, startAt)',
        action: 'subscribe',
        requestBody: subscriptionBody,
        responses: {
          '201': { ...subscription('Created'), headers: { Location: { schema: { type: 'string' } } } },
          ...BODY_ERRORS,
          '409': TOO_MANY_SUBSCRIPTIONS,
        },
      }),
      options: operation({
        summary: 'Allowed methods',
        action: 'subscribe',
        responses: { '200': allowResponse },
      }),
    },
    '/subscriptions/{id}': {
      get: operation({
        summary: 'Read a subscription with its status',
        action: 'subscribe',
        parameters: [idParameter],
        responses: { '200': subscription('Subscription'), '404': notFound },
      }),
      put: operation({
        summary: 'Replace a subscription (cursor kept)',
        action: 'subscribe',
        parameters: [idParameter],
        requestBody: replacementBody,
        responses: {
          '200': subscription('Subscription'),
          ...BODY_ERRORS,
          '404': notFound,
          '409': problem('Declared by a Kubernetes resource (HERALD_CONFLICT)'),
        },
      }),
      delete: operation({
        summary: 'Delete a subscription, its cursor and dead letters',
        action: 'subscribe',
        parameters: [idParameter],
        responses: {
          '200': subscription('The deleted subscription'),
          '404': notFound,
          '409': problem('Declared by a Kubernetes resource: delete the resource (HERALD_CONFLICT)'),
        },
      }),
      options: operation({
        summary: 'Allowed methods',
        action: 'subscribe',
        parameters: [idParameter],
        responses: { '200': allowResponse, '404': notFound },
      }),
    },
    '/subscriptions/{id}/seek': {
      post: operation({
        summary: 'Replay from earliest, latest, a sequence or a time',
        action: 'subscribe',
        parameters: [idParameter],
        requestBody: jsonBody({
          type: 'object',
          required: ['to'],
          properties: { to: { $ref: '#/components/schemas/StartPosition' } },
          additionalProperties: false,
        }),
        responses: { '200': subscription('Subscription'), ...BODY_ERRORS, '404': notFound },
      }),
    },
    '/subscriptions/{id}/pause': {
      post: operation({
        summary: 'Pause delivery (no body)',
        action: 'subscribe',
        parameters: [idParameter],
        responses: {
          '200': subscription('Subscription'),
          '404': notFound,
          '413': BODY_ERRORS['413'] as Json,
        },
      }),
    },
    '/subscriptions/{id}/resume': {
      post: operation({
        summary: 'Resume delivery (no body)',
        action: 'subscribe',
        parameters: [idParameter],
        responses: {
          '200': subscription('Subscription'),
          '404': notFound,
          '413': BODY_ERRORS['413'] as Json,
        },
      }),
    },
    '/subscriptions/{id}/deadletters': {
      get: operation({
        summary: 'List dead letters',
        action: 'subscribe',
        parameters: [
          idParameter,
          {
            name: 'limit',
            in: 'query',
            schema: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
          },
          {
            name: 'after',
            in: 'query',
            schema: { type: 'string', pattern: '^[0-9]+$' },
            description: 'Continue after this dead-letter id',
          },
        ],
        responses: {
          '200': {
            description:
              'Dead letters: at most limit, and past the first at most --dead-letter-page-max-bytes of them; Link: <…>; rel="next" continues after the last',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['deadLetters'],
                  properties: { deadLetters: { type: 'array', items: { type: 'object' } } },
                },
              },
            },
          },
          '400': problem('Invalid limit (HERALD_INVALID_QUERY)'),
          '404': notFound,
          '429': {
            ...problem(
              'Over --max-dead-letter-reads-per-client for this client (HERALD_TOO_MANY_DEAD_LETTER_READS)',
            ),
            headers: { 'Retry-After': { schema: { type: 'integer' } } },
          },
        },
      }),
    },
    '/subscriptions/{id}/deadletters/redrive': {
      post: operation({
        summary: 'Redeliver dead letters (all, or { ids })',
        action: 'subscribe',
        parameters: [idParameter],
        requestBody: jsonBody(
          {
            type: 'object',
            properties: { ids: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } } },
            additionalProperties: false,
          },
          false,
        ),
        responses: {
          '202': {
            description: 'How many are being redelivered',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['redriving'],
                  properties: { redriving: { type: 'integer' } },
                },
              },
            },
          },
          ...BODY_ERRORS,
          '404': notFound,
        },
      }),
    },
    '/healthz': {
      get: operation({
        summary: 'Liveness',
        action: 'public',
        responses: { '200': { description: 'alive' } },
      }),
    },
    '/readyz': {
      get: operation({
        summary: 'Readiness (503 until the store answers and the registry synced)',
        action: 'public',
        responses: {
          '200': { description: 'ready' },
          '503': {
            description:
              'not ready: a problem with code HERALD_NOT_READY; `cause` is a short token (e.g. nats-unreachable, nats-authorization, nats-tls, stream-replicas, starting, policies, shutting-down), `detail` says what failed and `store` whether the event store answers',
            content: {
              'application/problem+json': {
                schema: {
                  type: 'object',
                  required: ['type', 'title', 'status', 'detail', 'code', 'cause', 'store'],
                  properties: {
                    type: { type: 'string' },
                    title: { type: 'string' },
                    status: { type: 'integer', enum: [503] },
                    detail: { type: 'string' },
                    code: { type: 'string', enum: ['HERALD_NOT_READY'] },
                    cause: { type: 'string' },
                    store: { type: 'boolean' },
                  },
                },
              },
            },
          },
        },
      }),
    },
    '/metrics': {
      get: operation({
        summary: 'Prometheus metrics',
        action: 'admin',
        responses: {
          '200': { description: 'text/plain', content: { 'text/plain': { schema: { type: 'string' } } } },
        },
      }),
    },
    '/match': {
      post: operation({
        summary:
          'Dry run: which subscriptions would receive this event (one event, any mode); nothing is stored. ' +
          'Without admin, only your own subscriptions.',
        action: 'subscribe',
        parameters: binaryHeaders,
        requestBody: publishBody,
        responses: {
          '200': {
            description: '{ "subscriptions": [ { "id", "sink" } ] }',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['subscriptions'],
                  properties: {
                    subscriptions: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: { id: { type: 'string' }, sink: { type: 'string' } },
                      },
                    },
                  },
                },
              },
            },
          },
          '400': problem('An invalid event, or a batch (HERALD_INVALID_BATCH)'),
          '413': publishResponses['413'] as Json,
          '415': publishResponses['415'] as Json,
        },
      }),
    },
    '/stats': {
      get: operation({
        summary: 'Throughput for the dashboard: log statistics, retention, totals and recent samples',
        action: 'read',
        responses: {
          '200': {
            description: 'Statistics',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Stats' } } },
          },
        },
      }),
    },
    '/ui/': Object.fromEntries(
      (['get', 'head'] as const).map((method) => [
        method,
        operation({
          summary: 'The dashboard (static files; any other path under /ui/ answers the app)',
          action: 'public',
          responses: {
            '200': { description: 'text/html', content: { 'text/html': { schema: { type: 'string' } } } },
            '304': { description: 'Not modified (If-None-Match)' },
            '404': problem('The dashboard is not built into this installation (HERALD_NOT_FOUND)'),
          },
        }),
      ]),
    ),
    '/openapi.json': {
      get: operation({
        summary: 'This document',
        action: 'public',
        responses: {
          '200': {
            description: 'OpenAPI 3.1',
            content: { 'application/json': { schema: { type: 'object' } } },
          },
        },
      }),
    },
    '/version': {
      get: {
        summary: 'Version, commit, Node.js version and store kind',
        responses: {
          ...COMMON,
          '200': {
            description: 'what this broker runs',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['version', 'commit', 'node', 'store'],
                  properties: {
                    version: { type: 'string' },
                    commit: { type: 'string' },
                    node: { type: 'string' },
                    store: { type: 'string' },
                  },
                },
              },
            },
          },
        },
      },
    },
    '/eventtypes': {
      get: operation({
        summary: 'Event types seen on publish and declared (EventType resources, --event-types-file)',
        action: 'read',
        responses: {
          '200': {
            description: 'The registry',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/EventTypeList' } } },
          },
        },
      }),
    },
  },
  components: {
    securitySchemes: {
      bearerAuth: {
        type: 'http',
        scheme: 'bearer',
        description: 'A static token, a JWT, or a Kubernetes ServiceAccount token (--auth)',
      },
    },
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
      CloudEvent: {
        type: 'object',
        required: ['specversion', 'id', 'source', 'type'],
        properties: {
          specversion: { type: 'string', const: '1.0' },
          id: { type: 'string', minLength: 1 },
          source: { type: 'string', minLength: 1 },
          type: { type: 'string', minLength: 1 },
          subject: { type: 'string', minLength: 1 },
          time: { type: 'string', format: 'date-time' },
          datacontenttype: { type: 'string' },
          data: {},
          data_base64: { type: 'string' },
        },
      },
      LogPage: {
        type: 'object',
        required: ['events', 'next'],
        properties: {
          events: {
            type: 'array',
            items: {
              type: 'object',
              required: ['sequence', 'event'],
              properties: { sequence: { type: 'integer' }, event: { type: 'object' } },
            },
          },
          next: { type: 'integer' },
        },
      },
      StartPosition: {
        oneOf: [
          { type: 'string', enum: ['earliest', 'latest'] },
          {
            type: 'object',
            required: ['sequence'],
            properties: { sequence: { type: 'integer', minimum: 0 } },
          },
          {
            type: 'object',
            required: ['time'],
            properties: { time: { type: 'string', format: 'date-time' } },
          },
        ],
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
      SubscriptionRequest: requestSchema(),
      SubscriptionReplacement: withoutId(requestSchema()),
      Subscription: {
        type: 'object',
        required: ['id', 'sink', 'protocol', 'status'],
        properties: {
          id: { type: 'string' },
          sink: { type: 'string' },
          protocol: { type: 'string' },
          owner: { type: 'string' },
          status: { type: 'object' },
        },
      },
      EventTypeList: {
        type: 'object',
        required: ['eventTypes'],
        properties: {
          eventTypes: { type: 'array', items: { $ref: '#/components/schemas/EventType' } },
        },
      },
      EventType: {
        type: 'object',
        required: ['type', 'firstSeen', 'lastSeen', 'count'],
        additionalProperties: false,
        properties: {
          type: { type: 'string' },
          source: { type: 'string', description: 'Absent: a declaration for every source' },
          description: { type: 'string' },
          schema: { type: 'object', description: 'JSON Schema of data' },
          validation: { enum: ['off', 'enforce'] },
          firstSeen: { type: ['string', 'null'], format: 'date-time' },
          lastSeen: { type: ['string', 'null'], format: 'date-time' },
          count: { type: 'integer', minimum: 0 },
        },
      },
      DataFilter: {
        description:
          'Herald filter dialect over JSON data: { "data": { "<JSON Pointer>": { eq | prefix | gt | gte | lt | lte | exists } } }',
        type: 'object',
        required: ['data'],
        properties: {
          data: {
            type: 'object',
            additionalProperties: {
              type: 'object',
              minProperties: 1,
              additionalProperties: false,
              properties: {
                eq: { type: ['string', 'number', 'boolean', 'null'] },
                prefix: { type: 'string', minLength: 1 },
                gt: { type: 'number' },
                gte: { type: 'number' },
                lt: { type: 'number' },
                lte: { type: 'number' },
                exists: { type: 'boolean' },
              },
            },
          },
        },
      },
    },
  },
};
