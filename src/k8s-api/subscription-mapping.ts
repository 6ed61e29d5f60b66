import { HeraldError } from '../errors/index.js';
import { buildDefinition, parseSubscriptionRequest } from '../subscriptions/index.js';
import type { DeliverySpec, SubscriptionDefinition } from '../subscriptions/index.js';
import type { SeedView, StartPosition } from '../subscriptions/types.js';
import { API_VERSION } from './schemas.js';
import type { SubscriptionResource, SubscriptionSpec } from './schemas.js';

export const LABEL_BROKER = 'eventing.herald.dev/broker';
export const LABEL_ORIGIN = 'eventing.herald.dev/origin';
/**
 * The label (value `true`) that makes a Secret readable as a sink credential: the broker's Role may `get`
 * every Secret of its namespace (RBAC cannot narrow `get` by label), so the label is what keeps a
 * Subscription's writer from having the broker send any other Secret to a sink of their choosing.
 */
export const LABEL_SINK_CREDENTIAL = 'eventing.herald.dev/sink-credential';
/** Herald's own state of a subscription that is not part of its spec: pause, last seek, seed view. */
export const ANNOTATION_STATE = 'eventing.herald.dev/state';

interface ResourceState {
  readonly paused?: boolean;
  readonly seek?: SubscriptionDefinition['seek'];
  readonly seed?: SeedView;
  readonly createdAt?: string;
  /** Kept for subscriptions created through the HTTP API; a declared resource's is its `uid`. */
  readonly incarnation?: string;
  readonly owner?: string;
}

function invalid(detail: string, pointer: string): HeraldError {
  return new HeraldError('HERALD_INVALID_REQUEST', detail, { pointer });
}

/** A sink as a URL: a URI as is, or a Service reference as its cluster DNS name plus an optional path. */
export function resolveSink(spec: SubscriptionSpec, namespace: string): string {
  const sink = spec.sink;
  if (typeof sink === 'string') return sink;
  if (sink !== undefined && typeof sink === 'object') {
    const { ref, uri } = sink as {
      ref?: { kind?: string; name?: string; namespace?: string; port?: number };
      uri?: string;
    };
    if (ref === undefined) {
      if (typeof uri === 'string') return uri;
      throw invalid('spec.sink needs a uri or a ref', '/spec/sink');
    }
    if (ref.kind !== 'Service' || typeof ref.name !== 'string')
      throw invalid('spec.sink.ref must name a Service', '/spec/sink/ref');
    const base = `http://${ref.name}.${ref.namespace ?? namespace}.svc.cluster.local${ref.port === undefined ? '' : `:${ref.port}`}`;
    if (uri === undefined) return `${base}/`;
    return uri.startsWith('/') ? `${base}${uri}` : uri;
  }
  const subscribers = spec.subscriber ?? [];
  if (subscribers.length === 1) return (subscribers[0] as { uri: string }).uri;
  if (subscribers.length > 1)
    throw invalid('give one subscriber per Subscription (or use spec.sink)', '/spec/subscriber');
  throw invalid('a Subscription needs spec.sink (or the shorthand spec.subscriber)', '/spec/sink');
}

function positionToStart(position: number): StartPosition {
  return position === 0 ? 'earliest' : position === -1 ? 'latest' : { sequence: position };
}

/**
 * Which life of its name a resource is. A declared resource deleted and created again under its name
 * has a new uid: a new subscription. One the HTTP API keeps as a resource carries the API's own (none if
 * made before incarnations).
 */
export function incarnationOf(resource: SubscriptionResource): string | undefined {
  const { metadata } = resource;
  const state = JSON.parse(metadata.annotations?.[ANNOTATION_STATE] ?? '{}') as ResourceState;
  const origin = metadata.labels?.[LABEL_ORIGIN] ?? 'kubernetes';
  return state.incarnation ?? (origin === 'api' || origin === 'seed' ? undefined : metadata.uid);
}

/**
 * The subscription a resource declares, validated exactly like an HTTP API request. Throws a coded
 * error (reported on the resource's Ready condition) when the spec is not acceptable.
 */
export function resourceToDefinition(
  resource: SubscriptionResource,
  deliveryDefaults?: DeliverySpec,
): SubscriptionDefinition {
  const { metadata, spec } = resource;
  const namespace = metadata.namespace ?? 'default';
  const state = JSON.parse(metadata.annotations?.[ANNOTATION_STATE] ?? '{}') as ResourceState;
  const shorthand: Record<string, string> = {};
  if (spec.subject !== undefined) shorthand['subject'] = spec.subject;
  if (spec.type !== undefined) shorthand['type'] = spec.type;
  const filters = [
    ...(spec.filters ?? []),
    ...(Object.keys(shorthand).length > 0 ? [{ exact: shorthand }] : []),
  ];
  const request = parseSubscriptionRequest(
    Object.fromEntries(
      Object.entries({
        source: spec.source,
        types: spec.types,
        config: spec.config,
        filters: filters.length > 0 ? filters : undefined,
        sink: resolveSink(spec, namespace),
        sinkcredential: spec.sinkcredential,
        protocol: 'HTTP',
        protocolsettings: spec.protocolsettings,
        delivery: spec.delivery,
        startAt: spec.startAt ?? (spec.position === undefined ? undefined : positionToStart(spec.position)),
      }).filter(([, value]) => value !== undefined),
    ),
  );
  const label = metadata.labels?.[LABEL_ORIGIN];
  const origin = label === 'api' || label === 'seed' ? label : 'kubernetes';
  return buildDefinition(
    metadata.name,
    request,
    {
      origin,
      paused: state.paused ?? false,
      createdAt: state.createdAt ?? metadata.creationTimestamp ?? '',
      incarnation: incarnationOf(resource),
      seed: state.seed,
      seek: state.seek,
      owner: state.owner,
    },
    deliveryDefaults,
  );
}

/** The resource that declares a definition (for subscriptions created through the HTTP API). */
export function definitionToResource(
  definition: SubscriptionDefinition,
  namespace: string,
  broker: string,
): SubscriptionResource {
  const state: ResourceState = {
    ...(definition.paused ? { paused: true } : {}),
    ...(definition.seek === undefined ? {} : { seek: definition.seek }),
    ...(definition.seed === undefined ? {} : { seed: definition.seed }),
    createdAt: definition.createdAt,
    ...(definition.incarnation === undefined ? {} : { incarnation: definition.incarnation }),
    ...(definition.owner === undefined ? {} : { owner: definition.owner }),
  };
  const spec = Object.fromEntries(
    Object.entries({
      broker,
      source: definition.source,
      types: definition.types,
      config: definition.config,
      filters: definition.filters,
      sink: definition.sink,
      sinkcredential: definition.sinkcredential,
      protocol: 'HTTP',
      protocolsettings: definition.protocolsettings,
      delivery: definition.delivery,
      startAt: definition.startAt,
    }).filter(([, value]) => value !== undefined),
  ) as SubscriptionSpec;
  return {
    apiVersion: API_VERSION,
    kind: 'Subscription',
    metadata: {
      name: definition.id,
      namespace,
      labels: { [LABEL_BROKER]: broker, [LABEL_ORIGIN]: definition.origin },
      annotations: { [ANNOTATION_STATE]: JSON.stringify(state) },
    },
    spec,
  };
}
