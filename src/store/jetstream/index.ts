export { JetStreamEventStore, createJetStreamStore, MIN_SERVER_VERSION } from './jetstream-store.js';
export type { JetStreamStoreOptions, StoreLogger } from './jetstream-store.js';
export { natsConnectOptions, natsSecurityFromConfig } from './nats-connect-options.js';
export type { NatsConnectionSecurity } from './nats-connect-options.js';
export { JETSTREAM_NOT_READY_CAUSES } from './not-ready.js';
