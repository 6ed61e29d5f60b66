// Broker processes on the kafka store, for the acceptance tests in this folder.
import type { BrokerProcess, BrokerProcessOptions } from '../harness/processes.js';
import { startBroker } from '../harness/processes.js';
import { waitReady } from '../jetstream/brokers.js';

export { collectProblems, waitReady } from '../jetstream/brokers.js';

let started = 0;

/** A broker name no other broker in this test process uses, hence fresh topics. */
export function uniqueBrokerName(prefix = 'kf'): string {
  return `${prefix}-${process.pid}-${++started}`;
}

/** Starts `herald broker --store kafka` against `bootstrap` and waits until it is ready. */
export async function startKafkaBroker(
  bootstrap: string,
  options: {
    brokerName?: string;
    args?: readonly string[];
    env?: Readonly<Record<string, string>>;
    /** Every chunk the broker writes to stdout or stderr (its log lines). */
    onOutput?: (text: string) => void;
  } = {},
): Promise<BrokerProcess> {
  const processOptions: BrokerProcessOptions = {
    args: [
      '--store',
      'kafka',
      '--kafka-brokers',
      bootstrap,
      '--broker-name',
      options.brokerName ?? uniqueBrokerName(),
      ...(options.args ?? []),
    ],
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.onOutput === undefined ? {} : { onOutput: options.onOutput }),
  };
  const broker = await startBroker(processOptions);
  await waitReady(broker, 60_000);
  return broker;
}
