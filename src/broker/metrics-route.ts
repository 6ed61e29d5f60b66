import type { Dispatcher } from '../dispatch/index.js';
import { dataParseCount } from '../filters/index.js';
import type { RouteHandler } from '../http/index.js';
import type { BrokerMetrics } from '../observability/index.js';
import type { EventStore } from '../store/index.js';
import type { SubscriptionService, SubscriptionStatus } from '../subscriptions/index.js';

export interface MetricsRouteOptions {
  readonly metrics: BrokerMetrics;
  readonly store: EventStore;
  readonly dispatcher: Dispatcher;
  readonly subscriptions: SubscriptionService;
}

/**
 * `GET /metrics`: sets the metrics read at scrape time (store readiness, log size, subscriptions,
 * filter counts), then answers the registry's exposition text.
 */
export function metricsRoute({
  metrics,
  store,
  dispatcher,
  subscriptions,
}: MetricsRouteOptions): RouteHandler {
  let reportedEvaluations = 0;
  let reportedDataParses = 0;
  /** Statuses of the subscriptions this process delivers, for the per-subscription metrics. */
  function* localStatuses(): Iterable<[string, SubscriptionStatus]> {
    for (const { id } of subscriptions.list()) {
      const status = dispatcher.isLocal(id) ? dispatcher.status(id) : undefined;
      if (status !== undefined) yield [id, status];
    }
  }
  return async (_req, res) => {
    // Scraped while the store is away too, so alerts see herald_store_ready 0 rather than a failed scrape.
    const ready = store.isReady();
    metrics.storeReady.set(ready ? 1 : 0);
    metrics.storeNotReady.reset();
    const reason = ready ? undefined : store.notReadyReason?.();
    if (reason !== undefined) metrics.storeNotReady.set({ cause: reason.cause }, 1);
    metrics.observeSubscriptions(localStatuses());
    metrics.observeInvalidSubscriptions(subscriptions.invalidCodes());
    const stats = ready ? await store.stats().catch(() => undefined) : undefined;
    if (stats !== undefined) {
      metrics.logEvents.set(stats.events);
      metrics.logBytes.set(stats.bytes);
      metrics.logLastSequence.set(stats.last);
    }
    const evaluations = dispatcher.filterEvaluations;
    metrics.filterEvaluations.inc(evaluations - reportedEvaluations);
    reportedEvaluations = evaluations;
    const dataParses = dataParseCount();
    metrics.filterDataParses.inc(dataParses - reportedDataParses);
    reportedDataParses = dataParses;
    const text = await metrics.registry.metrics();
    res.writeHead(200, { 'content-type': metrics.registry.contentType });
    res.end(text);
  };
}
