import type { PolicySet } from '../auth/index.js';
import type { BrokerConfig } from '../config/index.js';
import type { Logger } from '../observability/index.js';

/**
 * Kubernetes mode: EventPolicy resources of the namespace become authorization rules of `policy`, live.
 * Resolves once the first list is read (or failed to be), with what stops the watch.
 */
export async function watchEventPolicies(
  config: BrokerConfig,
  logger: Logger,
  policy: PolicySet,
): Promise<() => void> {
  const { EventPolicyWatcher, loadKubeConfig, resolveNamespace } = await import('../kubernetes/index.js');
  const kubeConfig = loadKubeConfig();
  const watcher = new EventPolicyWatcher({
    config: kubeConfig,
    namespace: resolveNamespace(kubeConfig, config.namespace),
    broker: config.brokerName,
    logger: logger.child({ component: 'eventpolicies' }),
    policy,
  });
  try {
    await watcher.start();
  } catch (error) {
    // E.g. an install without the EventPolicy CRD or the permission to read it: say so, keep serving.
    logger.error({ err: error }, 'EventPolicy resources cannot be read; only --policy applies');
  }
  return () => watcher.stop();
}
