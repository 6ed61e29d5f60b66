import type { BrokerConfig } from '../config/index.js';
import { HeraldError } from '../errors/index.js';
import type { Logger } from '../observability/index.js';
import { createSqlFilterCompiler } from '../filters/index.js';
import { EmbeddedEventStore } from '../store/embedded/index.js';
import type { EventStore } from '../store/index.js';
import { StoreSubscriptionRegistry } from '../subscriptions/index.js';
import type { DeliverySpec, SubscriptionRegistry, SubscriptionStatus } from '../subscriptions/index.js';
import { definitionSecrets } from './sink-wiring.js';

export type StartableRegistry = SubscriptionRegistry & {
  start?(): Promise<void>;
  stop?(): void;
  startStatusReports?(statusOf: (id: string) => SubscriptionStatus | undefined): void;
  /** Kubernetes mode: reads the Secret a `sinkcredential.secretRef` names. */
  readSecret?: (name: string) => Promise<Record<string, string>>;
};

/** The subscription registry: the store itself, or Subscription resources with `--kubernetes`. */
export async function openRegistry(
  config: BrokerConfig,
  store: EventStore,
  logger: Logger,
  deliveryDefaults: DeliverySpec,
): Promise<StartableRegistry> {
  if (!config.kubernetes) return new StoreSubscriptionRegistry(store, definitionSecrets(config));
  // Loaded on demand: the Kubernetes client is large and a standalone broker never needs it.
  const { KubernetesSubscriptionRegistry, loadKubeConfig, resolveNamespace, secretReader } =
    await import('../kubernetes/index.js');
  const kubeConfig = loadKubeConfig();
  const namespace = resolveNamespace(kubeConfig, config.namespace);
  const registry: StartableRegistry = new KubernetesSubscriptionRegistry({
    config: kubeConfig,
    namespace,
    broker: config.brokerName,
    logger,
    deliveryDefaults,
    // Checks only (no metrics): the subscription service counts what its own compiler refuses.
    sql: createSqlFilterCompiler(config.limits.filter),
  });
  registry.readSecret = secretReader(kubeConfig, namespace);
  return registry;
}

/**
 * The JetStream and Kafka adapters are loaded only when selected: their clients take about as long to
 * load as the rest of the broker together (start-up time and memory of every embedded broker).
 */
export async function openStore(config: BrokerConfig, logger: Logger): Promise<EventStore> {
  if (config.store === 'jetstream') {
    const { createJetStreamStore, natsSecurityFromConfig } = await import('../store/jetstream/index.js');
    // Connects in the background: the broker starts while NATS is away, not ready until it answers.
    return createJetStreamStore({
      servers: config.natsUrl ?? '',
      security: natsSecurityFromConfig(config),
      brokerName: config.brokerName,
      dedupeWindowMs: config.dedupeWindowMs,
      retention: config.retention,
      replicas: config.streamReplicas,
      logger: logger.child({ store: 'jetstream' }),
    });
  }
  if (config.store === 'kafka') {
    const { openKafkaStore } = await import('../store/kafka/index.js');
    return openKafkaStore(config, logger.child({ store: 'kafka' }));
  }
  if (config.store !== 'embedded') {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `store '${config.store}' is not available in this build yet`,
    );
  }
  return new EmbeddedEventStore({
    dataDir: config.dataDir,
    brokerName: config.brokerName,
    durability: config.durability,
    writer: config.storeWriter,
    dedupeWindowMs: config.dedupeWindowMs,
    retention: config.retention,
  });
}
