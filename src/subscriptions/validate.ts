import { z } from 'zod';
import { isUriReference } from '../cloudevents/index.js';
import { parseDuration } from '../config/index.js';
import { HeraldError } from '../errors/index.js';
import { compileFilterList, strongestRequirement } from '../filters/index.js';
import { sinkCredentialSchema } from '../sink-credentials/index.js';
import type { SqlCompiler } from '../filters/index.js';
import type {
  CompiledSubscription,
  DeliveryPlan,
  DeliverySpec,
  ProtocolSettings,
  SeedView,
  StartPosition,
  SubscriptionDefinition,
} from './types.js';
import { CONTENT_MODES, ORDERINGS } from './types.js';

export const DEFAULT_DELIVERY: DeliverySpec = {
  retry: 10,
  backoffPolicy: 'exponential',
  backoffDelay: 'PT0.5S',
  backoffMax: 'PT60S',
  jitter: 0.2,
  timeout: 'PT30S',
  maxInFlight: 16,
  ordering: 'none',
  contentMode: 'binary',
  batch: { maxEvents: 100, maxWait: 'PT0.5S' },
};

const httpUrl = z.string().refine((value) => {
  try {
    const url = new URL(value);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      url.hostname !== '' &&
      url.username === '' &&
      url.password === ''
    );
  } catch {
    return false;
  }
}, 'must be an absolute http or https URL without credentials');

const isoDuration = z
  .string()
  .refine(
    (value) => parseDuration(value) !== undefined,
    'must be an ISO 8601 duration such as PT0.5S or PT1M',
  );

/**
 * Upper bounds of the delivery durations. Node's timers hold at most 2^31 − 1 ms (~24.8 days) and a
 * longer delay fires at once, so every duration is capped well below that; the caps are documented
 * in docs/subscriptions.md.
 */
export const DURATION_CAPS = {
  backoffDelay: { ms: 86_400_000, text: 'P1D' },
  backoffMax: { ms: 86_400_000, text: 'P1D' },
  timeout: { ms: 86_400_000, text: 'P1D' },
  maxWait: { ms: 3_600_000, text: 'PT1H' },
} as const;

function cappedDuration(cap: { readonly ms: number; readonly text: string }) {
  return isoDuration.refine((value) => (parseDuration(value) ?? 0) <= cap.ms, `must be at most ${cap.text}`);
}

const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FORBIDDEN_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'content-type',
]);

/**
 * Header names a subscription may not configure: `ce-*` carry the event's attributes in binary mode (a
 * configured `ce-type` would show the sink, and mesh rules routing on it, another type than the one
 * published) and `herald-*` the delivery metadata.
 */
const RESERVED_HEADER_PREFIX = /^(?:ce|herald)-/i;

/** A header name `protocolsettings.headers` may not set (validation refuses it, delivery skips it). */
export function isReservedDeliveryHeader(name: string): boolean {
  return RESERVED_HEADER_PREFIX.test(name);
}

export const deliverySchema = z.strictObject({
  retry: z.number().int().min(0).max(1000).optional(),
  backoffPolicy: z.enum(['exponential', 'linear']).optional(),
  backoffDelay: cappedDuration(DURATION_CAPS.backoffDelay).optional(),
  backoffMax: cappedDuration(DURATION_CAPS.backoffMax).optional(),
  jitter: z.number().min(0).max(1).optional(),
  // A deadline of no time (or under a millisecond, which rounds to none) is never met: every attempt of
  // a healthy sink ended as a timeout, and every event as a dead letter.
  timeout: cappedDuration(DURATION_CAPS.timeout)
    .refine((value) => (parseDuration(value) ?? 0) > 0, 'must be at least 1 ms (PT0.001S)')
    .optional(),
  deadLetterSink: httpUrl.optional(),
  maxInFlight: z.number().int().min(1).max(1000).optional(),
  rateLimit: z.number().positive().max(1_000_000).optional(),
  ordering: z.enum(ORDERINGS).optional(),
  contentMode: z.enum(CONTENT_MODES).optional(),
  batch: z
    .strictObject({
      maxEvents: z.number().int().min(1).max(10_000).optional(),
      maxWait: cappedDuration(DURATION_CAPS.maxWait).optional(),
    })
    .optional(),
});

const startAtSchema = z.union([
  z.enum(['latest', 'earliest']),
  z.strictObject({ sequence: z.number().int().min(0) }),
  z.strictObject({ time: z.iso.datetime({ offset: true }) }),
]);

const nonEmpty = z.string().min(1, 'must not be empty');

/** The request body of POST/PUT /subscriptions: the Subscriptions API resource plus Herald's fields. */
export const subscriptionRequestSchema = z.strictObject({
  id: z.string().optional(),
  source: nonEmpty.refine(isUriReference, 'must be a URI-reference').optional(),
  types: z.array(nonEmpty).min(1, 'must list at least one type when present').optional(),
  config: z.record(nonEmpty, z.string()).optional(),
  filters: z.array(z.unknown()).optional(),
  sink: httpUrl,
  sinkcredential: sinkCredentialSchema.optional(),
  protocol: z.literal('HTTP', { error: "only the 'HTTP' protocol is supported (case-sensitive)" }),
  protocolsettings: z
    .strictObject({
      headers: z
        .record(
          z.string(),
          z.string().refine((v) => !/[\r\n\0]/.test(v), 'must not contain CR, LF or NUL'),
        )
        // Names checked here rather than by a key schema, so the message (and a Kubernetes resource's
        // Ready condition) says why a name is refused, at the name's own path.
        .superRefine((headers, context) => {
          for (const name of Object.keys(headers)) {
            const message = !headerName.test(name)
              ? 'is not a valid header name'
              : FORBIDDEN_HEADERS.has(name.toLowerCase())
                ? 'is not a header name Herald may set'
                : isReservedDeliveryHeader(name)
                  ? "must not start with 'ce-' or 'herald-': those headers are the event's attributes and Herald's delivery metadata"
                  : undefined;
            if (message !== undefined) context.addIssue({ code: 'custom', message, path: [name] });
          }
        })
        .optional(),
      method: z.enum(['POST', 'PUT', 'PATCH']).optional(),
    })
    .optional(),
  delivery: deliverySchema.optional(),
  startAt: startAtSchema.optional(),
  status: z.unknown().optional(),
  // Read-only, like status: accepted so that a GET answer can be sent back as a PUT, and ignored.
  owner: z.unknown().optional(),
});

export type SubscriptionRequest = z.infer<typeof subscriptionRequestSchema>;

function pointerOf(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p) => `/${String(p)}`).join('');
}

/** Turns the first schema problem into the one coded error the client gets. */
function toHeraldError(issue: z.core.$ZodIssue): HeraldError {
  const pointer = pointerOf(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    return new HeraldError('HERALD_UNKNOWN_FIELD', `unknown field '${key}' at '${pointer || '/'}'`, {
      pointer: `${pointer}/${key}`,
    });
  }
  const field = pointer === '' ? 'body' : pointer.slice(1).replaceAll('/', '.');
  const first = issue.path[0];
  const isSink = first === 'sink' || (first === 'delivery' && issue.path[1] === 'deadLetterSink');
  return new HeraldError(
    isSink ? 'HERALD_INVALID_SINK' : 'HERALD_INVALID_REQUEST',
    `${field}: ${issue.message}`,
    { pointer },
  );
}

export function parseSubscriptionRequest(body: unknown): SubscriptionRequest {
  const result = subscriptionRequestSchema.safeParse(body);
  if (!result.success) throw toHeraldError(result.error.issues[0] as z.core.$ZodIssue);
  return result.data;
}

export function parseStartPosition(body: unknown, pointer: string): StartPosition {
  const result = startAtSchema.safeParse(body);
  if (!result.success) {
    throw new HeraldError(
      'HERALD_INVALID_REQUEST',
      `${pointer.slice(1) || 'position'} must be "earliest", "latest", {"sequence": n} or {"time": RFC3339}`,
      { pointer },
    );
  }
  return result.data;
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function mergeDelivery(
  request: SubscriptionRequest['delivery'],
  defaults: DeliverySpec = DEFAULT_DELIVERY,
): DeliverySpec {
  const given = withoutUndefined(request ?? {});
  return {
    ...defaults,
    ...(given as Partial<DeliverySpec>),
    batch: { ...defaults.batch, ...withoutUndefined(request?.batch ?? {}) },
  } as DeliverySpec;
}

export function planDelivery(spec: DeliverySpec): DeliveryPlan {
  // Clamped again here: a definition stored before the caps existed must not overflow a timer either.
  const ms = (text: string) => Math.min(parseDuration(text) ?? 0, DURATION_CAPS.backoffMax.ms);
  return {
    retry: spec.retry,
    backoffPolicy: spec.backoffPolicy,
    backoffDelayMs: ms(spec.backoffDelay),
    backoffMaxMs: Math.max(ms(spec.backoffMax), ms(spec.backoffDelay)),
    jitter: spec.jitter,
    timeoutMs: Math.max(1, ms(spec.timeout)),
    deadLetterSink: spec.deadLetterSink,
    maxInFlight: spec.ordering === 'strict' ? 1 : spec.maxInFlight,
    rateLimit: spec.rateLimit,
    ordering: spec.ordering,
    contentMode: spec.contentMode,
    batchMaxEvents: spec.batch.maxEvents,
    batchMaxWaitMs: ms(spec.batch.maxWait),
  };
}

/**
 * Compiles a definition: the `source` and `types` fields and every filter become one matcher, and the
 * strongest exact constraint on type/source/subject becomes the dispatcher's index key. The filters
 * are one tree, so `sql`'s limits (`--filter-max-nodes`, `--filter-eval-budget`) bound all of them
 * together: a refused tree is a `400 HERALD_FILTER_TOO_COSTLY` at the filter that crossed the bound.
 */
export function compileSubscription(
  definition: SubscriptionDefinition,
  sql: SqlCompiler | undefined,
): CompiledSubscription {
  const list = compileFilterList(definition.filters ?? [], '/filters', sql);
  const source = definition.source;
  const types = definition.types === undefined ? undefined : new Set(definition.types);
  const matches =
    source === undefined && types === undefined
      ? list.matches
      : (event: Parameters<typeof list.matches>[0]) =>
          (source === undefined || event.attributes['source'] === source) &&
          (types === undefined || types.has(event.attributes['type'] as string)) &&
          list.matches(event);
  const required = strongestRequirement([
    types === undefined ? undefined : { attribute: 'type', values: types },
    source === undefined ? undefined : { attribute: 'source', values: new Set([source]) },
    list.required,
  ]);
  return {
    definition,
    filter: { matches, required, lastCost: list.lastCost },
    plan: planDelivery(definition.delivery),
  };
}

/** What a definition keeps across updates of its request fields. */
export interface KeptFields {
  readonly origin: SubscriptionDefinition['origin'];
  readonly paused: boolean;
  readonly createdAt: string;
  readonly incarnation?: string | undefined;
  readonly seed?: SeedView | undefined;
  readonly seek?: SubscriptionDefinition['seek'];
  readonly owner?: string | undefined;
}

/** A stored definition from a validated request, with delivery defaults applied. */
export function buildDefinition(
  id: string,
  request: SubscriptionRequest,
  kept: KeptFields,
  deliveryDefaults: DeliverySpec = DEFAULT_DELIVERY,
): SubscriptionDefinition {
  return {
    id,
    ...(request.source === undefined ? {} : { source: request.source }),
    ...(request.types === undefined ? {} : { types: request.types }),
    ...(request.config === undefined ? {} : { config: request.config }),
    ...(request.filters === undefined ? {} : { filters: request.filters }),
    sink: request.sink,
    ...(request.sinkcredential === undefined ? {} : { sinkcredential: request.sinkcredential }),
    protocol: 'HTTP',
    ...(request.protocolsettings === undefined
      ? {}
      : { protocolsettings: withoutUndefined(request.protocolsettings) as ProtocolSettings }),
    delivery: mergeDelivery(request.delivery, deliveryDefaults),
    startAt: request.startAt ?? 'latest',
    paused: kept.paused,
    origin: kept.origin,
    ...(kept.seed === undefined ? {} : { seed: kept.seed }),
    createdAt: kept.createdAt,
    ...(kept.incarnation === undefined ? {} : { incarnation: kept.incarnation }),
    ...(kept.seek === undefined ? {} : { seek: kept.seek }),
    ...(kept.owner === undefined ? {} : { owner: kept.owner }),
  };
}

/**
 * A broker's delivery defaults (`--delivery-defaults`, or a Broker's `spec.delivery`), checked with
 * the same schema as a subscription's `delivery` field.
 */
export function parseDeliveryDefaults(value: Readonly<Record<string, unknown>> | undefined): DeliverySpec {
  if (value === undefined) return DEFAULT_DELIVERY;
  const result = deliverySchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0] as z.core.$ZodIssue;
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `--delivery-defaults: ${pointerOf(issue.path).slice(1) || 'value'}: ${issue.message}`,
    );
  }
  return mergeDelivery(result.data);
}
