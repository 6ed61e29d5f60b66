/**
 * The broker's route table: which handler serves each path, on the data port or the admin port. Apart from
 * broker.ts, which owns the broker's parts, their start and stop, and the per-request path (`handle`); the
 * routes are registered once, at construction, from the parts handed to them here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessControl } from '../auth/index.js';
import type { CloudEvent } from '../cloudevents/index.js';
import type { BrokerConfig } from '../config/index.js';
import { HeraldError } from '../errors/index.js';
import { clientKeyOf, ownerScopeOf, sendJson } from '../http/index.js';
import type { Router } from '../http/index.js';
import type { Ingress } from '../ingress/index.js';
import { registerLogApi } from '../log-api/index.js';
import { StreamAdmission } from '../limits/index.js';
import { versionInfo } from '../observability/index.js';
import type { BrokerMetrics } from '../observability/index.js';
import type { EventStore } from '../store/index.js';
import type { Dispatcher } from '../dispatch/index.js';
import { registerSeedRoutes, registerSubscriptionApi } from '../subscriptions/index.js';
import type { SubscriptionService } from '../subscriptions/index.js';
import { registerEventTypeApi } from '../eventtypes/index.js';
import type { EventTypeRegistry } from '../eventtypes/index.js';
import { registerDashboard } from '../dashboard/index.js';
import { openApiDocument } from './openapi.js';
import { BrokerStats } from './stats.js';
import { createLogFilter } from './log-filter.js';
import { metricsRoute } from './metrics-route.js';
import { readinessRoute } from './readiness.js';
import type { ReadinessState } from './readiness.js';

/** The broker's parts the routes serve; the broker hands them over once they are made. */
export interface BrokerRoutes {
  /** The data port's router; the admin port's too without `--admin-port`. */
  readonly dataRouter: Router;
  readonly adminRouter: Router;
  readonly config: BrokerConfig;
  readonly ingress: Ingress;
  readonly store: EventStore;
  readonly metrics: BrokerMetrics;
  readonly access: AccessControl;
  readonly dispatcher: Dispatcher;
  readonly subscriptions: SubscriptionService;
  readonly eventTypes: EventTypeRegistry | undefined;
  /** Aborted when the broker stops: ends the log streams and the dashboard's statistics. */
  readonly shutdown: AbortSignal;
  /** What `/readyz` judges readiness by. */
  readonly readiness: () => ReadinessState;
}

/** Registers every route the broker serves on its routers. */
export function registerBrokerRoutes({
  dataRouter,
  adminRouter,
  config,
  ingress,
  store,
  metrics,
  access,
  dispatcher,
  subscriptions,
  eventTypes,
  shutdown,
  readiness,
}: BrokerRoutes): void {
  const publish = (jsonIsStructured: boolean) => {
    const requestOptions = { jsonIsStructured };
    return (req: IncomingMessage, res: ServerResponse) => ingress.handle(req, res, requestOptions);
  };
  dataRouter
    .on('POST', '/', publish(false))
    .on('POST', '/events', publish(false))
    .on('POST', '/events/pub', publish(true));
  const { limits } = config;
  const onLimit = (limit: string) => metrics.limitRejections.inc({ limit });
  const admin = adminRouter;
  // The seed subscription routes change subscriptions: with --admin-port they live there, like the
  // subscriptions API, so a publisher cannot replay the log to itself or delete others' subscriptions.
  registerSeedRoutes(admin, subscriptions, {
    maxSubscribersPerRequest: limits.maxSubscribersPerRequest,
    onLimit,
  });
  const streams = new StreamAdmission(limits.maxStreams, limits.maxStreamsPerClient, onLimit);
  registerLogApi(admin, {
    store,
    compileFilter: createLogFilter(limits.filter, metrics),
    shutdown,
    bounds: { maxWork: limits.logReadMaxWork, maxTimeMs: limits.logReadMaxTimeMs },
    onBounded: onLimit,
    maxPageReads: limits.maxLogReads,
    maxPageReadsPerClient: limits.maxLogReadsPerClient,
    clientKey: clientKeyOf,
    writeTimeoutMs: limits.logWriteTimeoutMs,
    onLimit,
    admitStream: (req) => streams.admit(clientKeyOf(req)),
    streamAccess: (req) => access.streamCredential(req, 'GET /events/stream'),
    streamRecheckMs: config.auth.streamRecheckMs,
    onStreamAccessEnded: (reason) => metrics.streamAuthEnds.inc({ reason }),
  });
  registerSubscriptionApi(admin, subscriptions, {
    pageMaxBytes: limits.deadLetterPageMaxBytes,
    maxReads: limits.maxDeadLetterReads,
    maxReadsPerClient: limits.maxDeadLetterReadsPerClient,
    writeTimeoutMs: limits.logWriteTimeoutMs,
    clientKey: clientKeyOf,
    onLimit,
  });
  registerEventTypeApi(admin, eventTypes);
  // Dry run (architecture §3.6): one event in any mode; the dispatcher's live index answers. Nothing is stored.
  admin.on('POST', '/match', async (req, res) => {
    const events = await ingress.parse(req);
    if (events.length !== 1) {
      throw new HeraldError(
        'HERALD_INVALID_BATCH',
        `/match takes one event, got a batch of ${events.length}`,
      );
    }
    const matched = await dispatcher.match(events[0] as CloudEvent);
    // Without admin, a principal learns only about its own subscriptions.
    const scope = ownerScopeOf(req);
    const own = scope === undefined ? undefined : ownedBy(subscriptions, scope);
    const visible = own === undefined ? matched : matched.filter(({ id }) => own.has(id));
    sendJson(res, 200, { subscriptions: visible.map(({ id, sink }) => ({ id, sink })) });
  });
  admin.on('GET', '/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }));
  admin.on('GET', '/readyz', readinessRoute(readiness));
  admin.on('GET', '/metrics', metricsRoute({ metrics, store, dispatcher, subscriptions }));
  admin.on('GET', '/openapi.json', (_req, res) => sendJson(res, 200, openApiDocument));
  admin.on('GET', '/version', (_req, res) => sendJson(res, 200, { ...versionInfo(), store: store.kind }));
  // The dashboard (architecture §9): its static files and its JSON view of throughput. Ingress stays
  // on the data port only, also for the dashboard's publish form.
  const stats = new BrokerStats({ metrics, store, dispatcher, retention: config.retention });
  stats.start();
  shutdown.addEventListener('abort', () => stats.stop(), { once: true });
  admin.on('GET', '/stats', async (req, res) => {
    const snapshot = await stats.snapshot();
    const scope = ownerScopeOf(req);
    if (scope === undefined) return sendJson(res, 200, snapshot);
    const own = ownedBy(subscriptions, scope);
    sendJson(res, 200, {
      ...snapshot,
      subscriptions: snapshot.subscriptions.filter(({ id }) => own.has(id)),
    });
  });
  registerDashboard(admin);
}

/** The ids of the subscriptions `owner` owns (what a principal without admin may see). */
function ownedBy(subscriptions: SubscriptionService, owner: string): Set<string> {
  const ids = new Set<string>();
  for (const definition of subscriptions.list()) if (definition.owner === owner) ids.add(definition.id);
  return ids;
}
