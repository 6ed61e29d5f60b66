export { Broker } from './broker.js';
export type { BrokerOptions } from './broker.js';
