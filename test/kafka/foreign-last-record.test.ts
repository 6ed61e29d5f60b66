// An event topic whose last record is one Herald's codec skips (produced by hand or by another tool).
// The log's end (the high watermark) counts that record while reads return no event for it: a reader
// waiting for "an append after the last event it read" must still wait, not find the wait answered at
// once and fetch the topic again and again (a busy loop of fetches against Kafka, and a warning logged
// per fetch, for as long as the topic ends that way). The events produced after it must still arrive.
//
// Nothing here measures time: every read that meets the record logs that it skipped it, so the
// warnings the broker logs during a window after its first one count the reads that went over it
// again. A reader that waits makes none until the next append; a spinning one thousands.
import { Producer } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { startSink } from '../harness/processes.js';
import { sleep } from '../harness/client.js';
import { startKafkaCluster } from '../infra/kafka/server.js';
import type { KafkaCluster } from '../infra/kafka/server.js';
import { waitFor } from '../infra/process.js';
import { killReplicas } from '../jetstream/brokers.js';
import { foreignLastTests } from '../support/foreign-last-scenario.js';
import { startKafkaBroker, uniqueBrokerName } from './brokers.js';

/** The length of the counting window: long enough for a spinning reader to fetch thousands of times. */
const WINDOW_MS = 3_000;
const SKIPPED = 'skipping a record in the event topic that Herald did not write';

describe('kafka: an event topic whose last record Herald did not write', () => {
  let kafka: KafkaCluster;
  let sink: SinkProcess;
  let raw: Producer;
  const brokers: BrokerProcess[] = [];

  beforeAll(async () => {
    [kafka, sink] = await Promise.all([startKafkaCluster(1), startSink()]);
    raw = new Producer({ clientId: 'herald-test-foreign', bootstrapBrokers: [kafka.bootstrap] });
  }, 180_000);

  afterAll(async () => {
    await killReplicas(brokers);
    await raw?.close();
    await sink?.stop();
    await kafka?.stop();
  });

  /** A record without Herald's headers onto the broker's event topic, as another tool would produce. */
  async function produceForeign(brokerName: string): Promise<void> {
    await raw.send({
      messages: [{ topic: `herald.${brokerName}.events`, value: Buffer.from('not herald') }],
    });
  }

  const skips = (log: () => string) => log().split(SKIPPED).length - 1;

  /** The reads that met the foreign record again during one window after the first one did. */
  async function rereadsOverWindow(log: () => string): Promise<number> {
    await waitFor('a reader to read the foreign record', async () => (skips(log) > 0 ? true : undefined), {
      timeoutMs: 30_000,
    });
    const before = skips(log);
    await sleep(WINDOW_MS); // a measurement window, not a synchronisation
    return skips(log) - before;
  }

  foreignLastTests(
    {
      sink: () => sink,
      uniqueName: uniqueBrokerName,
      async startBroker(options) {
        const broker = await startKafkaBroker(kafka.bootstrap, options);
        brokers.push(broker);
        return broker;
      },
      stop: (broker) => killReplicas([broker]),
      async expectWaitingPast(brokerName, log) {
        await produceForeign(brokerName);
        // Waiting, a reader reads the record once per append (none here); spinning, thousands of times.
        expect(await rereadsOverWindow(log)).toBeLessThanOrEqual(5);
      },
    },
    'kforeign',
    'produced',
  );
});
