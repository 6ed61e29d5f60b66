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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { openEventStream, publish, sleep, subscribe } from '../harness/client.js';
import { startKafkaCluster } from '../infra/kafka/server.js';
import type { KafkaCluster } from '../infra/kafka/server.js';
import { waitFor } from '../infra/process.js';
import { uniqueBrokerName, waitReady } from './brokers.js';

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
    for (const broker of brokers) await stop(broker);
    await raw?.close();
    await sink?.stop();
    await kafka?.stop();
  });

  /** Each test stops its broker at its end; afterAll stops what a failed test left. */
  async function stop(broker: BrokerProcess): Promise<void> {
    if (broker.child.exitCode === null && broker.child.signalCode === null) await broker.stop('SIGKILL');
    removeDir(broker.dataDir);
  }

  /** A broker on the kafka store whose output is kept, to count what it logs. */
  async function start(
    prefix: string,
  ): Promise<{ broker: BrokerProcess; brokerName: string; log: { text: string } }> {
    const brokerName = uniqueBrokerName(prefix);
    const log = { text: '' };
    const broker = await startBroker({
      args: ['--store', 'kafka', '--kafka-brokers', kafka.bootstrap, '--broker-name', brokerName],
      onOutput: (chunk) => {
        log.text += chunk;
      },
    });
    brokers.push(broker);
    await waitReady(broker, 60_000);
    return { broker, brokerName, log };
  }

  /** A record without Herald's headers onto the broker's event topic, as another tool would produce. */
  async function produceForeign(brokerName: string): Promise<void> {
    await raw.send({
      messages: [{ topic: `herald.${brokerName}.events`, value: Buffer.from('not herald') }],
    });
  }

  const skips = (log: { text: string }) => log.text.split(SKIPPED).length - 1;

  /** The reads that met the foreign record again during one window after the first one did. */
  async function rereadsOverWindow(log: { text: string }): Promise<number> {
    await waitFor('a reader to read the foreign record', async () => (skips(log) > 0 ? true : undefined), {
      timeoutMs: 30_000,
    });
    const before = skips(log);
    await sleep(WINDOW_MS); // a measurement window, not a synchronisation
    return skips(log) - before;
  }

  it('the shared tail waits past it, and delivers the event produced after it', async () => {
    const { broker, brokerName, log } = await start('kforeign-tail');
    try {
      const { id } = await subscribe(broker.adminUrl, { sink: sink.url });
      await publish(broker.url, { id: `${id}-before` });
      await sink.waitFor((records) => records.some((r) => r.headers['ce-id'] === `${id}-before`));

      await produceForeign(brokerName);
      // Waiting, the tail reads the record once per append (none here); spinning, it reads it thousands of times.
      expect(await rereadsOverWindow(log)).toBeLessThanOrEqual(5);

      await publish(broker.url, { id: `${id}-after` });
      await sink.waitFor((records) => records.some((r) => r.headers['ce-id'] === `${id}-after`));
    } finally {
      await stop(broker);
    }
  }, 120_000);

  it('a streaming GET /events reader waits past it, and writes the event produced after it', async () => {
    // No subscription: the shared tail idles without reading, so only the stream reads the topic.
    const { broker, brokerName, log } = await start('kforeign-stream');
    await publish(broker.url, { id: 'stream-before' });
    const stream = await openEventStream(broker.adminUrl, '/events/stream?from=1');
    try {
      await stream.waitFor('"stream-before"');
      await produceForeign(brokerName);
      expect(await rereadsOverWindow(log)).toBeLessThanOrEqual(5);

      await publish(broker.url, { id: 'stream-after' });
      await stream.waitFor('"stream-after"');
    } finally {
      await stream.close();
      await stop(broker);
    }
  }, 120_000);
});
