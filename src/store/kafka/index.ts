export { KafkaEventStore, createKafkaStore } from './kafka-store.js';
export type { KafkaStoreOptions } from './kafka-store.js';
export type { KafkaSecurity } from './client.js';
export { openKafkaStore } from './from-config.js';
