import { afterAll, describe, expect, it } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { publishBatch, subscribe } from '../harness/client.js';

const EVENTS = 5000;
const PATHS = ['/a', '/b', '/c'];

describe('at-least-once delivery across a broker crash', () => {
  let broker: BrokerProcess | undefined;
  let sink: SinkProcess | undefined;
  let dataDir = '';

  afterAll(async () => {
    await broker?.stop('SIGKILL');
    await sink?.stop();
    if (dataDir !== '') removeDir(dataDir);
  });

  it('delivers every event to every subscription after SIGKILL during delivery', async () => {
    sink = await startSink();
    broker = await startBroker({ args: ['--durability', 'buffered'] });
    dataDir = broker.dataDir;
    for (const path of PATHS) {
      await subscribe(broker.url, { sink: `${sink.url}${path}`, delivery: { maxInFlight: 8 } });
    }
    for (let b = 0; b < EVENTS / 100; b++) {
      await publishBatch(
        broker.url,
        Array.from({ length: 100 }, (_, i) => ({ id: `e${b * 100 + i}` })),
      );
    }
    // Kill while deliveries are in progress: some delivered, most not.
    const before = await sink.waitFor((records) => records.length >= 1500, 60_000);
    const killed = await broker.stop('SIGKILL');
    expect(killed).toBe('SIGKILL');
    const deliveredBeforeKill = (await sink.received()).length;
    expect(deliveredBeforeKill).toBeLessThan(EVENTS * PATHS.length);
    expect(before.length).toBeGreaterThan(0);

    broker = await startBroker({ dataDir });
    const records = await sink.waitFor((all) => {
      return PATHS.every(
        (path) => new Set(all.filter((r) => r.path === path).map((r) => r.headers['ce-id'])).size === EVENTS,
      );
    }, 120_000);
    let duplicates = 0;
    for (const path of PATHS) {
      const ids = records.filter((r) => r.path === path).map((r) => r.headers['ce-id']);
      expect(new Set(ids).size).toBe(EVENTS);
      duplicates += ids.length - EVENTS;
    }
    console.log(
      `crash test: ${EVENTS} events x ${PATHS.length} subscriptions; ${deliveredBeforeKill} deliveries before SIGKILL; ` +
        `${duplicates} duplicate deliveries after restart (${((duplicates / (EVENTS * PATHS.length)) * 100).toFixed(2)}%)`,
    );
    // Its own waits allow three minutes; the default test timeout would cut them short on a loaded machine.
  }, 240_000);
});
