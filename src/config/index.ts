export { loadBrokerConfig, brokerHelp, ConfigError } from './load.js';
export type { BrokerConfig, BrokerLimits, NatsSettings } from './load.js';
export { parseNatsUrls, redactNatsUrls } from './nats-url.js';
export type { NatsUrlList } from './nats-url.js';
export { BROKER_OPTIONS } from './schema.js';
export type { BrokerOptionName } from './schema.js';
export { parseDuration, parseSize } from './units.js';
