export {
  loadKubeConfig,
  resolveNamespace,
  HeraldResourceClient,
  statusOf,
  mergePatch,
  makeDeadlineInformer,
  restartWatchOnError,
} from './client.js';
export { KubernetesSubscriptionRegistry } from './subscription-registry.js';
export type { KubernetesRegistryOptions } from './subscription-registry.js';
export { secretReader } from './secrets.js';
export { KubernetesEventTypeBackend, eventTypeResourceName } from './eventtype-backend.js';
export { createTokenReviewer } from './token-review.js';
export type { ReviewedToken } from './token-review.js';
export { EventPolicyWatcher } from './event-policies.js';
export type { EventPolicyWatcherOptions } from './event-policies.js';
