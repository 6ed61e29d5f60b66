import type { PolicySet } from '../auth/index.js';
import type { BrokerConfig } from '../config/index.js';
import type { Logger } from '../observability/index.js';

/** How long start-up waits for the first list of the EventPolicy resources before listening anyway. */
const POLICY_GRACE_MS = 10_000;

/**
 * Kubernetes mode: EventPolicy resources of the namespace become authorization rules of `policy`, live.
 * Resolves once they are read, or after a grace period (then what they would decide answers 503 and
 * `/readyz` is not ready until they are), with what stops the watch.
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
    // E.g. an install without the permission to read them: say so, keep trying (restartWatchOnError).
    logger.error({ err: error }, 'EventPolicy resources cannot be read yet; only --policy grants meanwhile');
  }
  let grace: NodeJS.Timeout | undefined;
  const read = await Promise.race([
    watcher.whenRead.then(() => true),
    new Promise<boolean>((resolve) => (grace = setTimeout(() => resolve(false), POLICY_GRACE_MS))),
  ]).finally(() => clearTimeout(grace));
  if (!read) {
    logger.error(
      'EventPolicy resources not read within 10 s; listening anyway: until they are read, requests only --policy allows answer 503 and /readyz is not ready',
    );
  }
  return () => watcher.stop();
}
