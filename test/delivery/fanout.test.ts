import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { metricValue, publishBatch, subscribe } from '../harness/client.js';

describe('fan-out to many subscriptions', () => {
  let broker: BrokerProcess;
  let sink: SinkProcess;

  beforeAll(async () => {
    [broker, sink] = await Promise.all([startBroker(), startSink()]);
  });
  afterAll(async () => {
    await Promise.all([broker.stop(), sink.stop()]);
    removeDir(broker.dataDir);
  });

  it('does filter work proportional to the matching subscriptions, not to all 1,000', async () => {
    const SUBSCRIPTIONS = 1000;
    for (let i = 0; i < SUBSCRIPTIONS; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          subscribe(broker.url, {
            sink: `${sink.url}/t${i + j}`,
            filters: [{ exact: { type: `com.example.t${i + j}` } }],
          }),
        ),
      );
    }
    const before = await metricValue(broker.url, 'herald_filter_evaluations_total');
    const EVENTS = 200;
    await publishBatch(
      broker.url,
      Array.from({ length: EVENTS }, (_, i) => ({ id: `f${i}`, type: 'com.example.t7' })),
    );
    const records = await sink.waitFor((r) => r.length >= EVENTS);
    expect(new Set(records.map((r) => r.path))).toEqual(new Set(['/t7']));
    const evaluations = (await metricValue(broker.url, 'herald_filter_evaluations_total')) - before;
    console.log(
      `fan-out: ${EVENTS} events, ${SUBSCRIPTIONS} subscriptions, ${evaluations} filter evaluations`,
    );
    // One candidate per event (the t7 subscription); a scan of all subscriptions would be 200,000.
    expect(evaluations).toBe(EVENTS);
  });
});
