export { loadBrokerConfig, brokerHelp, ConfigError } from './load.js';
export type { BrokerConfig, BrokerLimits } from './load.js';
export { BROKER_OPTIONS } from './schema.js';
export type { BrokerOptionName } from './schema.js';
export { parseDuration, parseSize } from './units.js';
