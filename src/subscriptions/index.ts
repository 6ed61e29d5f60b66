export type {
  SubscriptionDefinition,
  SubscriptionStatus,
  CompiledSubscription,
  DeliverySpec,
  DeliveryPlan,
  StartPosition,
} from './types.js';
export { cursorKeyOf } from './cursor-key.js';
export { StoreSubscriptionRegistry } from './registry.js';
export type { RegistryListener, SubscriptionRegistry } from './registry.js';
export { SubscriptionService } from './service.js';
export type { SubscriptionView, SubscriptionServiceOptions, DeadLetterView } from './service.js';
export { registerSubscriptionApi } from './api.js';
export { registerSeedRoutes } from './seed.js';
export {
  DEFAULT_DELIVERY,
  parseSubscriptionRequest,
  compileSubscription,
  buildDefinition,
  parseDeliveryDefaults,
  subscriptionRequestSchema,
} from './validate.js';
export type { KeptFields, SubscriptionRequest } from './validate.js';
export type { DeliveryControl } from './delivery-port.js';
