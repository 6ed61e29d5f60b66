import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../../harness/processes.js';
import { removeDir, startSink } from '../../harness/processes.js';
import { publish, publishBatch, requestJson, sleep, subscribe } from '../../harness/client.js';
import type { BrokerFactory } from './factory.js';

/** The start positions, seek, pause and resume scenarios, against a broker from `startBroker` (any store). */
export function describeReplayScenarios(store: string, startBroker: BrokerFactory): void {
  describe(`start positions, seek, pause and resume (${store})`, () => {
    let broker: BrokerProcess;
    let sink: SinkProcess;

    beforeAll(async () => {
      [broker, sink] = await Promise.all([startBroker(), startSink()]);
      // The log: h0..h9 (sequences 1..10).
      await publishBatch(
        broker.url,
        Array.from({ length: 10 }, (_, i) => ({ id: `h${i}`, type: 'com.example.history' })),
      );
    });
    afterAll(async () => {
      await Promise.all([broker.stop(), sink.stop()]);
      removeDir(broker.dataDir);
    });

    const idsAt = async (path: string, count: number) =>
      (await sink.waitFor((r) => r.filter((x) => x.path === path).length >= count))
        .filter((x) => x.path === path)
        .map((r) => r.headers['ce-id']);

    it('startAt latest (the default) skips history; earliest and a sequence start where they say', async () => {
      await subscribe(broker.url, { sink: `${sink.url}/latest`, types: ['com.example.history'] });
      await subscribe(broker.url, {
        sink: `${sink.url}/earliest`,
        types: ['com.example.history'],
        startAt: 'earliest',
        delivery: { ordering: 'strict' },
      });
      await subscribe(broker.url, {
        sink: `${sink.url}/seq`,
        types: ['com.example.history'],
        startAt: { sequence: 8 },
        delivery: { ordering: 'strict' },
      });
      await publish(broker.url, { id: 'h10', type: 'com.example.history' });
      expect(await idsAt('/earliest', 11)).toEqual(Array.from({ length: 11 }, (_, i) => `h${i}`));
      expect(await idsAt('/seq', 4)).toEqual(['h7', 'h8', 'h9', 'h10']);
      expect(await idsAt('/latest', 1)).toEqual(['h10']);
    });

    it('startAt time starts at the first event stored at or after it', async () => {
      await sleep(50);
      const time = new Date().toISOString();
      await sleep(50);
      await publish(broker.url, { id: 'after-time', type: 'com.example.history' });
      await subscribe(broker.url, {
        sink: `${sink.url}/time`,
        types: ['com.example.history'],
        startAt: { time },
      });
      expect(await idsAt('/time', 1)).toEqual(['after-time']);
    });

    it('seek to earliest re-delivers the whole log in order', async () => {
      const subscription = await subscribe(broker.url, {
        sink: `${sink.url}/seek`,
        types: ['com.example.history'],
        delivery: { ordering: 'strict' },
      });
      await publish(broker.url, { id: 'live-1', type: 'com.example.history' });
      await idsAt('/seek', 1);
      const sought = await requestJson<{ status: { cursor: number } }>(
        'POST',
        `${broker.url}/subscriptions/${subscription.id}/seek`,
        {
          to: 'earliest',
        },
      );
      expect(sought.status).toBe(200);
      const all = await idsAt('/seek', 14);
      expect(all.slice(1)).toEqual([
        ...Array.from({ length: 11 }, (_, i) => `h${i}`),
        'after-time',
        'live-1',
      ]);
      const bad = await requestJson('POST', `${broker.url}/subscriptions/${subscription.id}/seek`, {
        to: 'yesterday',
      });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ code: 'HERALD_INVALID_REQUEST', pointer: '/to' });
    });

    it('pause stops deliveries; resume continues from the cursor without loss', async () => {
      const subscription = await subscribe(broker.url, {
        sink: `${sink.url}/pause`,
        types: ['com.example.paused'],
      });
      const paused = await requestJson<{ status: { state: string } }>(
        'POST',
        `${broker.url}/subscriptions/${subscription.id}/pause`,
      );
      expect(paused.body.status.state).toBe('paused');
      await publishBatch(
        broker.url,
        Array.from({ length: 10 }, (_, i) => ({ id: `q${i}`, type: 'com.example.paused' })),
      );
      await sleep(1000);
      expect((await sink.received()).filter((r) => r.path === '/pause')).toHaveLength(0);
      const status = await requestJson<{ status: { lag: number; state: string } }>(
        'GET',
        `${broker.url}/subscriptions/${subscription.id}`,
      );
      expect(status.body.status.lag).toBeGreaterThanOrEqual(10);
      const resumed = await requestJson<{ status: { state: string } }>(
        'POST',
        `${broker.url}/subscriptions/${subscription.id}/resume`,
      );
      expect(resumed.body.status.state).toBe('active');
      const ids = await idsAt('/pause', 10);
      expect(new Set(ids)).toEqual(new Set(Array.from({ length: 10 }, (_, i) => `q${i}`)));
    });
  });
}
