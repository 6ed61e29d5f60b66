// SPDX-License-Identifier: Apache-2.0
/**
 * `herald/client`: a typed TypeScript client for a Herald broker. It shares only pure modules with the
 * broker (the CloudEvents codec and the subscription schemas' types), never broker internals.
 */
export { HeraldClient, createClient } from './client.js';
export type {
  HeraldClientOptions,
  Subscription,
  SubscriptionInput,
  DeadLetter,
  SeekTarget,
  MatchedSubscription,
  LogPage,
  BrokerSnapshot,
} from './client.js';
export { PublishError } from './publisher.js';
export type { PublisherOptions } from './publisher.js';
export { DEFAULT_IDLE_TIMEOUT_MS } from './tail.js';
export type { TailOptions, TailStart, TailedEvent } from './tail.js';
export { InvalidEventError, encodeEvent, validateStructured, structuredOf, toSdkEvent } from './events.js';
export type { EventInput, StructuredEvent, EncodedEvent } from './events.js';
export {
  Connection,
  HeraldProblemError,
  HeraldConnectionError,
  isHeraldProblemError,
  isHeraldConnectionError,
  DEFAULT_TIMEOUT_MS,
} from './http.js';
export type { Problem, ConnectionOptions } from './http.js';
