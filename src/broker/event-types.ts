import type { BrokerConfig } from '../config/index.js';
import { FileEventTypeBackend, readDeclaredEventTypes } from '../eventtypes/index.js';
import type { EventTypeBackend } from '../eventtypes/index.js';
import type { Logger } from '../observability/index.js';

/**
 * Where the event type registry persists: EventType resources with `--kubernetes`, else a file in
 * the data directory (declarations from `--event-types-file`). None when `--event-types-max` is 0.
 */
export async function openEventTypeBackend(
  config: BrokerConfig,
  logger: Logger,
): Promise<EventTypeBackend | undefined> {
  if (config.eventTypes.max === 0) return undefined;
  if (!config.kubernetes) {
    const declared =
      config.eventTypes.file === undefined ? [] : readDeclaredEventTypes(config.eventTypes.file);
    return new FileEventTypeBackend(config.dataDir, declared);
  }
  const { KubernetesEventTypeBackend, loadKubeConfig, resolveNamespace } =
    await import('../kubernetes/index.js');
  const kubeConfig = loadKubeConfig();
  return new KubernetesEventTypeBackend({
    config: kubeConfig,
    namespace: resolveNamespace(kubeConfig, config.namespace),
    broker: config.brokerName,
    logger: logger.child({ component: 'eventtypes' }),
  });
}
