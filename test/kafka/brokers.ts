// Broker processes on the kafka store, for the acceptance tests in this folder.
import type { BrokerProcess } from '../harness/processes.js';
import { startReplica } from '../jetstream/brokers.js';
import type { ReplicaOptions } from '../jetstream/brokers.js';

export { collectProblems, waitReady } from '../jetstream/brokers.js';

let started = 0;

/** A broker name no other broker in this test process uses, hence fresh topics. */
export function uniqueBrokerName(prefix = 'kf'): string {
  return `${prefix}-${process.pid}-${++started}`;
}

/** Starts `herald broker --store kafka` against `bootstrap` and waits until it is ready. */
export function startKafkaBroker(bootstrap: string, options: ReplicaOptions = {}): Promise<BrokerProcess> {
  return startReplica(['--store', 'kafka', '--kafka-brokers', bootstrap], options, uniqueBrokerName, 60_000);
}
