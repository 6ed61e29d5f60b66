// For tests of the subscription service with real stores: one broker replica's subscription side.
import { Dispatcher } from '../../dispatch/index.js';
import { BrokerMetrics, createLogger } from '../../observability/index.js';
import type { EventStore } from '../../store/index.js';
import { StoreSubscriptionRegistry } from '../registry.js';
import { SubscriptionService } from '../service.js';

/**
 * The real dispatcher, started, and service over `store` (its registry of definitions), not started yet:
 * for a test that acts while the service starts. Both are stopped by `cleanups`. Claims are never
 * retried: the replica that asks first delivers, as the test decides.
 */
export async function openReplica(
  store: EventStore,
  cleanups: Array<() => Promise<unknown>>,
): Promise<{ dispatcher: Dispatcher; service: SubscriptionService }> {
  const dispatcher = new Dispatcher({
    store,
    metrics: new BrokerMetrics(false),
    logger: createLogger('silent'),
    claimRetryMs: 3_600_000,
  });
  await dispatcher.start();
  cleanups.push(() => dispatcher.stop(1_000));
  const service = new SubscriptionService({
    registry: new StoreSubscriptionRegistry(store),
    dispatcher,
    store,
    logger: createLogger('silent'),
    sql: undefined,
  });
  cleanups.push(() => Promise.resolve(service.stop()));
  return { dispatcher, service };
}

/** `openReplica`, its service started. */
export async function startReplica(
  store: EventStore,
  cleanups: Array<() => Promise<unknown>>,
): Promise<{ dispatcher: Dispatcher; service: SubscriptionService }> {
  const replica = await openReplica(store, cleanups);
  await replica.service.start();
  return replica;
}
