import type { BrokerProcess } from '../../harness/processes.js';
import { startBroker } from '../../harness/processes.js';

/** Starts a broker process ready to take requests; the scenarios stop it and remove its data dir. */
export type BrokerFactory = () => Promise<BrokerProcess>;

/** A broker on the embedded store (the default), in a fresh data directory. */
export const embeddedBroker: BrokerFactory = () => startBroker();
