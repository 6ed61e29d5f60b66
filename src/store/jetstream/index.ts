export { JetStreamEventStore, createJetStreamStore, MIN_SERVER_VERSION } from './jetstream-store.js';
export type { JetStreamStoreOptions, StoreLogger } from './jetstream-store.js';
