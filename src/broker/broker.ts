import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAccessControl } from '../auth/index.js';
import type { AccessControl, PolicySet, TokenReviewer } from '../auth/index.js';
import type { BrokerConfig } from '../config/index.js';
import { HeraldError, isHeraldError } from '../errors/index.js';
import { bodyUninvited, clientClosed, Router, sendProblem, setControlBodyLimits } from '../http/index.js';
import type { ControlBodyLimits, ServerGuards } from '../http/index.js';
import { Ingress } from '../ingress/index.js';
import { BrokerMetrics, LogThrottle } from '../observability/index.js';
import type { Logger } from '../observability/index.js';
import type { EventStore } from '../store/index.js';
import { Dispatcher } from '../dispatch/index.js';
import { createSqlFilterCompiler } from '../filters/index.js';
import { parseDeliveryDefaults, SubscriptionService } from '../subscriptions/index.js';
import type { DeliverySpec } from '../subscriptions/index.js';
import type { SinkGuard } from '../sink-guard/index.js';
import { EventTypeRegistry } from '../eventtypes/index.js';
import type { EventTypeBackend } from '../eventtypes/index.js';
import { openEventTypeBackend } from './event-types.js';
import { watchEventPolicies } from './event-policies.js';
import { createSinkGuard, sinkDeliveryOptions, sinkSubscriptionOptions } from './sink-wiring.js';
import { DASHBOARD_PATH } from '../dashboard/index.js';
import { openListener, warnIfUnauthenticated } from './listeners.js';
import { DeadLetterSweep } from './dead-letter-sweep.js';
import { registerBrokerRoutes } from './broker-routes.js';
import { openRegistry, openStore } from './open-store.js';
import { notReadyReason } from './readiness.js';
import type { ReadinessState } from './readiness.js';
import type { StartableRegistry } from './open-store.js';

/** How long start-up waits for the store before listening without it. */
const STORE_GRACE_MS = 2_000;
/**
 * In Kubernetes mode, how long start-up waits for the Subscription and EventType resources' first lists
 * before listening anyway (as for the EventPolicy resources): an API server that has just installed the
 * CRDs answers their lists 429 ("storage is (re)initializing") for some seconds, and until the lists are
 * read a publish answers 503; listening only once they are, clients see a broker that is ready.
 */
const KUBERNETES_GRACE_MS = 10_000;
/** Request targets whose pathname is the target itself, so `new URL` need not run for them. */
const PLAIN_PATH = /^(?:\/[\w~-]+)*\/?$/;
/** Passed to handlers that take no URL parameter (the router says so), instead of parsing one. */
const UNREAD_URL = new URL('http://broker/');
/** Paths answered before delivery started: probes, and ingress (which answers 503 while the store is away). */
const SERVED_BEFORE_DELIVERY = new Set(['/healthz', '/readyz', '/', '/events', '/events/pub', '/metrics']);

/**
 * A request the client ended itself before it was complete: its own stream failed (reset, aborted) or
 * closed early. Body readers say so with `HERALD_CLIENT_CLOSED_REQUEST`; this catches a raw stream error
 * that reached here by another way. Not an internal error: a client can cause it at will.
 */
function closedByClient(req: IncomingMessage, error: unknown): boolean {
  if (isHeraldError(error) || req.complete || !(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return (
    error === req.errored ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    code === 'ECONNRESET' ||
    code === 'ECONNABORTED'
  );
}

export interface BrokerOptions {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  /** Injected in tests and for other adapters; the default is chosen by `config.store`. */
  readonly store?: EventStore;
  /** With `--auth kubernetes`: sends TokenReviews (built from the kubeconfig by `start`). */
  readonly tokenReviewer?: TokenReviewer;
}

/**
 * One broker process: ingress, event log, log read API and operations endpoints, on one port or on a
 * data port plus an admin port.
 */
export class Broker {
  readonly metrics = new BrokerMetrics();
  private readonly refusalLog: LogThrottle;
  readonly store: EventStore;
  private readonly ingress: Ingress;
  /** What control-API bodies may be (`--max-control-request-size`, `--max-json-depth`). */
  private readonly controlBodyLimits: ControlBodyLimits;
  /** Seen and declared event types (`GET /eventtypes`); an ingress hook. */
  readonly eventTypes: EventTypeRegistry | undefined;
  readonly dispatcher: Dispatcher;
  /** Keeps dead letters within `--dead-letter-max-*`. */
  readonly deadLetterSweep: DeadLetterSweep;
  readonly subscriptions: SubscriptionService;
  private readonly registry: StartableRegistry;
  private readonly access: AccessControl;
  private readonly closeAccess: () => void;
  /** The authorization rules in force (the policy file's, and EventPolicy resources in Kubernetes mode). */
  readonly policy: PolicySet;
  private stopPolicyWatch: (() => void) | undefined;
  private readonly dataRouter = new Router();
  private readonly adminRouter: Router;
  private readonly servers: Server[] = [];
  private readonly shutdownController = new AbortController();
  /**
   * Set once the listeners close (after `--shutdown-delay`): requests still arriving on open connections
   * are refused from then on. Before it, a stopping broker is unready but serves.
   */
  private closing = false;
  private readonly sinkGuard: SinkGuard;
  private inFlight = 0;
  private stopping: Promise<void> | undefined;
  /** False until delivery started (the store answered); until then only ingress and probes are served. */
  private delivering = false;

  private constructor(
    private readonly options: BrokerOptions,
    registry: (store: EventStore) => StartableRegistry,
    deliveryDefaults: DeliverySpec,
    eventTypeBackend?: EventTypeBackend,
  ) {
    const { config } = options;
    // Broker.start opened it (or the caller gave one).
    if (options.store === undefined) throw new Error('Broker.start passes the store');
    this.store = options.store;
    this.eventTypes =
      eventTypeBackend === undefined
        ? undefined
        : new EventTypeRegistry({
            backend: eventTypeBackend,
            metrics: this.metrics,
            logger: options.logger,
            max: config.eventTypes.max,
            rate: config.eventTypes.rate,
            maxLength: config.eventTypes.maxLength,
          });
    this.refusalLog = new LogThrottle(config.logRefusalsIntervalMs, () =>
      this.metrics.logLinesSuppressed.inc(),
    );
    this.ingress = new Ingress({
      store: this.store,
      metrics: this.metrics,
      maxEventSize: config.maxEventSize,
      maxRequestSize: config.maxRequestSize,
      rateLimit: config.ingressRateLimit,
      ...(this.eventTypes === undefined ? {} : { hook: this.eventTypes }),
      authorizeEvents: (req, events) => this.access.authorizeEvents(req, events),
      rateBurst: config.limits.ingressRateBurst,
      rateLimitPer: config.limits.ingressRateLimitPer,
      rateLimitClients: config.limits.ingressRateLimitClients,
      onRateLimitClientForgotten: () =>
        this.metrics.limitRejections.inc({ limit: 'ingress-rate-limit-clients' }),
      maxJsonDepth: config.limits.maxJsonDepth,
      maxExtensions: config.limits.maxExtensions,
      maxBatchEvents: config.limits.maxBatchEvents,
      maxTraceContext: config.limits.maxTraceContext,
    });
    this.controlBodyLimits = {
      maxBytes: config.limits.maxControlRequestSize,
      maxJsonDepth: config.limits.maxJsonDepth,
      onRefused: (limit) => this.metrics.limitRejections.inc({ limit }),
    };
    this.registry = registry(this.store);
    this.sinkGuard = createSinkGuard(config, this.metrics);
    this.deadLetterSweep = new DeadLetterSweep(
      this.store,
      config.deadLetterLimits,
      this.metrics,
      options.logger.child({ component: 'dead-letters' }),
    );
    this.dispatcher = new Dispatcher({
      store: this.store,
      metrics: this.metrics,
      logger: options.logger,
      onDeadLettered: () => this.deadLetterSweep.nudge(),
      logRepeatsIntervalMs: config.logRefusalsIntervalMs,
      ...sinkDeliveryOptions(config, this.sinkGuard, this.registry.readSecret),
    });
    this.deadLetterSweep.onDropped = (dropped) => {
      for (const { subscription, letters } of dropped)
        this.dispatcher.deadLettersRemoved(subscription, letters);
    };
    this.subscriptions = new SubscriptionService({
      registry: this.registry,
      dispatcher: this.dispatcher,
      store: this.store,
      logger: options.logger,
      sql: createSqlFilterCompiler(
        config.limits.filter,
        () => this.metrics.filterBudgetExceeded.inc({ where: 'subscription' }),
        (limit) => this.metrics.limitRejections.inc({ limit }),
      ),
      deliveryDefaults,
      maxSubscriptions: config.limits.maxSubscriptions,
      onLimit: (limit) => this.metrics.limitRejections.inc({ limit }),
      ...sinkSubscriptionOptions(config, this.sinkGuard),
      maxPerOwner: config.auth.methods.length > 0 ? config.maxSubscriptionsPerPrincipal : 0,
    });
    const control = createAccessControl({
      config,
      logger: options.logger,
      metrics: this.metrics,
      tokenReviewer: options.tokenReviewer,
      ownership: {
        subscription: (id) => {
          const found = this.subscriptions.list().find((d) => d.id === id);
          return { exists: found !== undefined, owner: found?.owner };
        },
        seedGroup: (group) =>
          this.subscriptions
            .list()
            .filter((d) => d.origin === 'seed' && d.seed?.group === group)
            .map((d) => d.owner),
      },
    });
    this.access = control.access;
    this.closeAccess = control.close;
    this.policy = control.policy;
    this.adminRouter = config.adminPort === undefined ? this.dataRouter : new Router();
    // Every route, registered once from the parts made above (the route table is broker-routes.ts).
    registerBrokerRoutes({
      dataRouter: this.dataRouter,
      adminRouter: this.adminRouter,
      config: this.options.config,
      ingress: this.ingress,
      store: this.store,
      metrics: this.metrics,
      access: this.access,
      dispatcher: this.dispatcher,
      subscriptions: this.subscriptions,
      eventTypes: this.eventTypes,
      shutdown: this.shutdownController.signal,
      readiness: () => this.readiness(),
    });
  }

  static async start(options: BrokerOptions): Promise<Broker> {
    const deliveryDefaults = parseDeliveryDefaults(options.config.deliveryDefaults);
    const store = options.store ?? (await openStore(options.config, options.logger));
    let tokenReviewer = options.tokenReviewer;
    if (tokenReviewer === undefined && options.config.auth.methods.includes('kubernetes')) {
      const { createTokenReviewer, loadKubeConfig } = await import('../kubernetes/index.js');
      tokenReviewer = createTokenReviewer(loadKubeConfig());
    }
    const registry = await openRegistry(options.config, store, options.logger, deliveryDefaults);
    const eventTypeBackend = await openEventTypeBackend(options.config, options.logger);
    let broker: Broker;
    try {
      broker = new Broker(
        { ...options, store, ...(tokenReviewer === undefined ? {} : { tokenReviewer }) },
        () => registry,
        deliveryDefaults,
        eventTypeBackend,
      );
    } catch (error) {
      registry.stop?.();
      await store.close();
      throw error;
    }
    broker.eventTypes?.start();
    // Kubernetes mode: EventPolicy resources of the namespace become authorization rules, live.
    if (options.config.kubernetes) {
      broker.stopPolicyWatch = await watchEventPolicies(options.config, options.logger, broker.policy);
    }
    // A distributed store may not answer yet. After a grace period the broker listens anyway (/readyz
    // and ingress answer 503 with Retry-After) and starts delivering as soon as the store answers.
    const delivery = broker.startDelivery();
    // Nor, in Kubernetes mode, before the EventType resources were read: their schemas are unknown.
    const ready = Promise.all([delivery, broker.eventTypes?.whenDeclarationsRead]);
    let grace: NodeJS.Timeout | undefined;
    const started = await Promise.race([
      ready.then(() => true),
      new Promise<boolean>(
        (resolve) =>
          (grace = setTimeout(
            () => resolve(false),
            options.config.kubernetes ? KUBERNETES_GRACE_MS : STORE_GRACE_MS,
          )),
      ),
    ]).finally(() => clearTimeout(grace));
    try {
      await broker.listen();
    } catch (error) {
      // A port that cannot be opened (in use, not allowed): nothing of this broker may stay behind, or the
      // process would keep serving the port it did open while never becoming ready.
      await broker.stop().catch(() => undefined);
      throw error;
    }
    if (!started) {
      // The store, or (Kubernetes mode) the Subscription or EventType resources not listed yet.
      const reason = notReadyReason(broker.readiness()) ?? {
        cause: 'starting',
        detail: 'delivery is starting',
      };
      options.logger.warn(
        { cause: reason.cause, detail: reason.detail },
        `not ready yet (${reason.detail}); serving 503 until it is`,
      );
      delivery.catch((error: unknown) => {
        if (broker.stopping === undefined) options.logger.error({ err: error }, 'starting delivery failed');
      });
    }
    return broker;
  }

  private async startDelivery(): Promise<void> {
    await this.dispatcher.start();
    await this.registry.start?.();
    await this.subscriptions.start();
    this.registry.startStatusReports?.((id) =>
      this.dispatcher.isLocal(id) ? this.dispatcher.status(id) : undefined,
    );
    this.delivering = true;
    this.deadLetterSweep.start();
  }

  /** Every route served, as `METHOD pattern` (data port and admin port). */
  get routes(): string[] {
    const data = this.dataRouter.list();
    return this.adminRouter === this.dataRouter ? data : [...data, ...this.adminRouter.list()];
  }

  get port(): number {
    return (this.servers[0]?.address() as AddressInfo).port;
  }

  get adminPort(): number {
    return ((this.servers[1] ?? this.servers[0])?.address() as AddressInfo).port;
  }

  /** What `/readyz` and the start-up log judge readiness by. */
  private readiness(): ReadinessState {
    return {
      store: this.store,
      delivering: this.delivering,
      policiesSettled: this.policy.settled,
      declarationsRead: this.eventTypes?.declarationsRead !== false,
      stopping: this.stopping !== undefined,
    };
  }

  private async handle(
    router: Router,
    req: IncomingMessage,
    res: ServerResponse,
    guards: ServerGuards | undefined,
  ): Promise<void> {
    this.inFlight++;
    const refusal = guards?.refusal(req);
    // Once stopping (or refused a connection), every answer tells the client not to reuse the connection.
    if (this.stopping !== undefined || refusal !== undefined) res.setHeader('connection', 'close');
    try {
      if (refusal !== undefined) throw refusal;
      if (this.closing) {
        throw new HeraldError('HERALD_SHUTTING_DOWN', 'the broker is shutting down', { retryAfter: 1 });
      }
      const target = req.url ?? '/';
      let parsed: URL | undefined;
      const urlOf = (): URL => (parsed ??= requestUrl(target));
      // A plain path is its own pathname; anything else (a query, escapes, dots, `//`) is parsed.
      const pathname = PLAIN_PATH.test(target) ? target : urlOf().pathname;
      // The dashboard's files too: it shows the 503s of the API calls rather than being one.
      const early = SERVED_BEFORE_DELIVERY.has(pathname) || pathname.startsWith(DASHBOARD_PATH);
      if (!this.delivering && !early) {
        throw new HeraldError('HERALD_STORE_UNAVAILABLE', 'the event store is not available yet', {
          retryAfter: 1,
        });
      }
      // Authentication comes before any handler (ingress included), so per-client limits see the principal.
      // Without an authenticator it settles at once, and a publish does not wait a turn for it.
      const authenticating = this.access.authenticate(req, pathname);
      if (authenticating !== undefined) await authenticating;
      const method = req.method ?? 'GET';
      const { handler, params, pattern, usesUrl } = router.resolve(method, pathname);
      this.access.authorize(req, method, pattern, params, urlOf);
      setControlBodyLimits(req, this.controlBodyLimits);
      await handler(req, res, params, usesUrl ? urlOf() : UNREAD_URL);
    } catch (error) {
      // Already answered by Node's own guard (a 408 for a body too slow): counted there, as its limit.
      if (guards?.answeredEarly(req) === true) return;
      // A body refused for its size is not read to its end to keep the connection: it is closed after the
      // answer (a declared 100 MB body was otherwise left unread on a kept-alive connection, or drained).
      // So is one never invited (`Expect: 100-continue`): the client may never send it.
      if (
        !req.complete &&
        !res.headersSent &&
        ((error as { code?: unknown }).code === 'HERALD_PAYLOAD_TOO_LARGE' || bodyUninvited(req))
      )
        res.setHeader('connection', 'close');
      const problem = sendProblem(res, closedByClient(req, error) ? clientClosed(error as Error) : error);
      this.metrics.rejected.inc({ code: problem.code });
      if (problem.code === 'HERALD_SUBSCRIPTION_LIMIT') this.metrics.subscriptionLimitHits.inc();
      if (problem.code === 'HERALD_INTERNAL' || problem.code === 'HERALD_LOG_CORRUPT') {
        // A fault of the broker or damage to its data: operators need the error and its stack, but a client
        // may cause one per request (a damaged segment read on each GET /events): throttled like the
        // refusals below, the first of an interval keeps its stack.
        const suppressed = this.refusalLog.take(problem.code);
        const fields = { err: error, code: problem.code, path: req.url, suppressed };
        if (suppressed !== undefined) this.options.logger.error(fields, 'request failed');
      } else if (
        problem.status >= 500 &&
        problem.code !== 'HERALD_SHUTTING_DOWN' &&
        !problem.code.endsWith('_CAPACITY')
      ) {
        // A coded refusal (the store unavailable, not ready): worth a line, not a stack; and, as any
        // client can provoke one per request, at most one line per code per --log-refusals-interval.
        const suppressed = this.refusalLog.take(problem.code);
        if (suppressed !== undefined) {
          this.options.logger.warn(
            { code: problem.code, path: req.url, detail: problem.message, suppressed },
            'request refused',
          );
        }
      } else {
        // Client errors and capacity refusals (counted in herald_requests_rejected_total): under a flood
        // of them an error line each would be a second flood.
        this.options.logger.debug(
          { code: problem.code, path: req.url, detail: problem.message },
          'request rejected',
        );
      }
      // Unread request bodies would otherwise stall a keep-alive connection.
      if (!req.complete) req.resume();
    } finally {
      this.inFlight--;
      // During shutdown a connection that just became idle must close now, not at the client's
      // keep-alive timeout: otherwise the process waits for it.
      if (this.stopping !== undefined) for (const server of this.servers) server.closeIdleConnections();
    }
  }

  private async listen(): Promise<void> {
    const { config, logger } = this.options;
    const listening = { config, logger, metrics: this.metrics };
    const bind = async (router: Router, port: number): Promise<void> => {
      const handlerFor = (guards: ServerGuards) => (req: IncomingMessage, res: ServerResponse) =>
        void this.handle(router, req, res, guards);
      this.servers.push(await openListener(port, handlerFor, listening));
    };
    await bind(this.dataRouter, config.port);
    if (config.adminPort !== undefined) await bind(this.adminRouter, config.adminPort);
    // The broker's own listeners are never a sink, whatever --sink-allow says.
    this.sinkGuard.setOwnListeners(
      this.servers.map((server) => (server.address() as AddressInfo).port),
      config.host,
    );
    logger.info(
      {
        port: this.port,
        adminPort: this.adminPort,
        store: this.store.kind,
        tls: config.tls !== undefined,
        auth: config.auth.methods.length === 0 ? 'none' : config.auth.methods.join(','),
      },
      'herald broker listening',
    );
    warnIfUnauthenticated(config, logger);
  }

  /** Graceful stop: refuse new requests, finish in-flight ones, end streams, close the store. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const { logger, config } = this.options;
    logger.info({ inFlight: this.inFlight }, 'herald broker stopping');
    if (config.shutdownDelayMs > 0) {
      // /readyz answers 503 from the first moment (`stopping` is set), while requests are still served:
      // a load balancer, or a Service whose endpoints have not reached every node yet, stops sending
      // before the port closes, and its publishers never see a refused connection.
      logger.info({ delayMs: config.shutdownDelayMs }, 'unready; serving until --shutdown-delay has passed');
      await sleep(config.shutdownDelayMs);
    }
    this.closing = true;
    this.shutdownController.abort();
    // One deadline for the whole stop: requests, then deliveries get what is left of it.
    const stopBy = Date.now() + config.shutdownTimeoutMs;
    const closing = this.servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        }),
    );
    const deadline = setTimeout(() => {
      for (const server of this.servers) server.closeAllConnections();
    }, config.shutdownTimeoutMs);
    await Promise.all(closing);
    clearTimeout(deadline);
    this.subscriptions.stop();
    this.closeAccess();
    this.stopPolicyWatch?.();
    this.registry.stop?.();
    await this.eventTypes?.stop();
    await this.dispatcher.stop(Math.max(0, stopBy - Date.now()));
    await this.deadLetterSweep.stop();
    await this.store.close();
    logger.info('herald broker stopped');
  }
}

/**
 * The request target as a URL. Node's parser takes targets that are no URL (`http://[/events`, a port
 * above 65535): the client's malformed request, a 400, not an internal error logged with its stack, once
 * per request, by any client before authentication.
 */
function requestUrl(target: string): URL {
  try {
    return new URL(target, 'http://broker');
  } catch {
    throw new HeraldError('HERALD_BAD_HTTP_REQUEST', 'the request target is not a valid URL');
  }
}
