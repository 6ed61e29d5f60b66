import { afterAll, beforeAll } from 'vitest';
import { KubernetesSubscriptionRegistry, loadKubeConfig } from '../../src/kubernetes/index.js';
import { createLogger } from '../../src/observability/index.js';
import { describeRegistryConformance } from '../../src/subscriptions/testing/registry-conformance.js';
import type { TestCluster } from './cluster.js';
import { startCluster } from './cluster.js';

// A real kube-apiserver with Herald's CRDs. Each test gets its own namespace; a second registry for
// the same namespace and broker is another replica, with its own informer.
let cluster: TestCluster;
let namespaces = 0;
const logger = createLogger('silent');

beforeAll(async () => {
  cluster = await startCluster();
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

describeRegistryConformance(
  'Kubernetes registry (Subscription resources)',
  async () => {
    const namespace = `registry-${++namespaces}`;
    await cluster.createNamespace(namespace);
    const registries: KubernetesSubscriptionRegistry[] = [];
    // Constructed and started as openRegistry and the broker do: list() answers once the informer synced.
    const open = async () => {
      const registry = new KubernetesSubscriptionRegistry({
        config: loadKubeConfig(cluster.apiserver.kubeconfigPath),
        namespace,
        broker: 'orders',
        logger,
      });
      registries.push(registry);
      await registry.start();
      return registry;
    };
    return {
      registry: await open(),
      other: open,
      cleanup() {
        for (const registry of registries) registry.stop();
        return Promise.resolve();
      },
    };
  },
  { replicas: true },
);
