export { loadKubeConfig, resolveNamespace, HeraldResourceClient, statusOf, mergePatch } from './client.js';
export { KubernetesSubscriptionRegistry } from './subscription-registry.js';
export type { KubernetesRegistryOptions } from './subscription-registry.js';
export { secretReader } from './secrets.js';
