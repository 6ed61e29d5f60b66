export { EmbeddedEventStore } from './sqlite-store.js';
export type { EmbeddedStoreOptions, Durability } from './sqlite-store.js';
