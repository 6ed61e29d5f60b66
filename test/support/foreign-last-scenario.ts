// The scenario of a shared store's event log whose last entry Herald did not write (a JetStream message or
// a Kafka record published by hand or by another tool): the shared tail and a streaming `GET /events`
// reader must wait past it (not re-read the log in a busy loop) and still pass on what is published after
// it. Each store's test says how it writes the foreign entry and how it tells waiting from spinning.
import { it } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { openEventStream, publish, subscribe } from '../harness/client.js';

export interface ForeignLastSetup {
  readonly sink: () => SinkProcess;
  /** A fresh broker name made from `prefix`. */
  uniqueName(prefix: string): string;
  /** Starts a broker named `brokerName` on the store, giving `onOutput` its log (and keeping it for `stop`). */
  startBroker(options: { brokerName: string; onOutput: (chunk: string) => void }): Promise<BrokerProcess>;
  /** Stops a broker and removes its data; each test stops its own, so none spins in the next one's windows. */
  stop(broker: BrokerProcess): Promise<void>;
  /**
   * Writes the foreign entry at the end of `brokerName`'s log and asserts that its reader (in the broker
   * whose output is `log`) met it, then waited rather than read it again and again.
   */
  expectWaitingPast(brokerName: string, log: () => string): Promise<void>;
}

/** The two tests; `appended` is the store's word for how an event gets into its log ("published", "produced"). */
export function foreignLastTests(setup: ForeignLastSetup, prefix: string, appended: string): void {
  const start = async (name: string) => {
    const brokerName = setup.uniqueName(name);
    let text = '';
    const broker = await setup.startBroker({
      brokerName,
      onOutput: (chunk) => {
        text += chunk;
      },
    });
    return { broker, brokerName, log: () => text };
  };

  it(`the shared tail waits past it, and delivers the event ${appended} after it`, async () => {
    const { broker, brokerName, log } = await start(`${prefix}-tail`);
    try {
      const sink = setup.sink();
      const { id } = await subscribe(broker.adminUrl, { sink: sink.url });
      await publish(broker.url, { id: `${id}-before` });
      await sink.waitFor((records) => records.some((r) => r.headers['ce-id'] === `${id}-before`));

      await setup.expectWaitingPast(brokerName, log);

      await publish(broker.url, { id: `${id}-after` });
      await sink.waitFor((records) => records.some((r) => r.headers['ce-id'] === `${id}-after`));
    } finally {
      await setup.stop(broker);
    }
  }, 120_000);

  it(`a streaming GET /events reader waits past it, and writes the event ${appended} after it`, async () => {
    // No subscription: the shared tail idles without reading, so only the stream reads the log.
    const { broker, brokerName, log } = await start(`${prefix}-stream`);
    await publish(broker.url, { id: 'stream-before' });
    const stream = await openEventStream(broker.adminUrl, '/events/stream?from=1');
    try {
      await stream.waitFor('"stream-before"');
      await setup.expectWaitingPast(brokerName, log);

      await publish(broker.url, { id: 'stream-after' });
      await stream.waitFor('"stream-after"');
    } finally {
      await stream.close();
      await setup.stop(broker);
    }
  }, 120_000);
}
