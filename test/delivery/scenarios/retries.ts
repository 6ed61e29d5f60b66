import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../../harness/processes.js';
import { bodyText, removeDir, startSink } from '../../harness/processes.js';
import { publish, requestJson, sleep, subscribe } from '../../harness/client.js';
import type { BrokerFactory } from './factory.js';

/** The delivery retries, Retry-After and dead letters scenarios, against a broker from `startBroker` (any store). */
export function describeRetryScenarios(store: string, startBroker: BrokerFactory): void {
  describe(`delivery retries, Retry-After and dead letters (${store})`, () => {
    let broker: BrokerProcess;
    let sink: SinkProcess;
    let deadLetterSink: SinkProcess;

    beforeAll(async () => {
      [broker, sink, deadLetterSink] = await Promise.all([startBroker(), startSink(), startSink()]);
    });
    afterAll(async () => {
      await Promise.all([broker.stop(), sink.stop(), deadLetterSink.stop()]);
      removeDir(broker.dataDir);
    });

    it('delivers after N failures with exponential backoff between attempts (growth factor 2)', async () => {
      await sink.clear();
      await sink.configure({ failTimes: 5, failStatus: 503, status: 200 });
      await subscribe(broker.url, {
        sink: `${sink.url}/exp`,
        types: ['com.example.retry.exp'],
        delivery: {
          retry: 6,
          backoffPolicy: 'exponential',
          backoffDelay: 'PT0.25S',
          backoffMax: 'PT60S',
          jitter: 0,
        },
      });
      await publish(broker.url, { id: 'r1', type: 'com.example.retry.exp' });
      const records = await sink.waitFor((r) => r.some((x) => x.status === 200));
      expect(records.map((r) => r.status)).toEqual([503, 503, 503, 503, 503, 200]);
      expect(records.map((r) => r.headers['herald-attempt'])).toEqual(['1', '2', '3', '4', '5', '6']);
      expect(new Set(records.map((r) => r.headers['ce-id']))).toEqual(new Set(['r1']));
      const gaps = records.slice(1).map((r, i) => r.at - records[i]!.at);
      // Expected 250, 500, 1000, 2000, 4000 ms. A delay is a lower bound (a loaded machine only adds),
      // so each gap is at least its delay, and the growth is asserted as a ratio: the last gap over the
      // shorter of the first two is 16 for ×2 per retry, 1 for a constant schedule (a linear one already
      // fails the bounds). Load only adds, so the ratio stays above 4 unless both early retries are late by
      // over half a second.
      for (const [i, delay] of [250, 500, 1000, 2000, 4000].entries())
        expect(gaps[i]).toBeGreaterThanOrEqual(delay - 20);
      expect(gaps[4]! / Math.min(gaps[0]!, gaps[1]!)).toBeGreaterThan(4);
    });

    it('uses linear backoff when asked', async () => {
      await sink.clear();
      await sink.configure({ failTimes: 3, failStatus: 500 });
      await subscribe(broker.url, {
        sink: `${sink.url}/linear`,
        types: ['com.example.retry.linear'],
        delivery: { retry: 3, backoffPolicy: 'linear', backoffDelay: 'PT0.3S', jitter: 0 },
      });
      await publish(broker.url, { id: 'l1', type: 'com.example.retry.linear' });
      const records = await sink.waitFor((r) => r.some((x) => x.status === 200));
      const gaps = records.slice(1).map((r, i) => r.at - records[i]!.at);
      expect(records).toHaveLength(4);
      // 300, 600, 900 ms.
      expect(gaps[0]).toBeGreaterThanOrEqual(250);
      expect(gaps[1]).toBeGreaterThanOrEqual(500);
      expect(gaps[2]).toBeGreaterThanOrEqual(750);
    });

    it('honours Retry-After on 429', async () => {
      await sink.clear();
      await sink.configure({ failTimes: 1, failStatus: 429, retryAfter: 2 });
      await subscribe(broker.url, {
        sink: `${sink.url}/throttled`,
        types: ['com.example.retry.429'],
        delivery: { retry: 3, backoffDelay: 'PT0.05S', backoffMax: 'PT10S', jitter: 0 },
      });
      await publish(broker.url, { id: 't1', type: 'com.example.retry.429' });
      const records = await sink.waitFor((r) => r.some((x) => x.status === 200));
      expect(records.map((r) => r.status)).toEqual([429, 200]);
      // Backoff alone would wait 50 ms; the sink asked for 2 s.
      expect(records[1]!.at - records[0]!.at).toBeGreaterThanOrEqual(1800);
    });

    it('dead-letters a permanent 400 at once, to the dead-letter sink and store, and redrives it', async () => {
      await sink.clear();
      await deadLetterSink.clear();
      await sink.configure({ failTimes: 0, status: 400 });
      const subscription = await subscribe(broker.url, {
        sink: `${sink.url}/strict`,
        types: ['com.example.retry.400'],
        delivery: { retry: 5, backoffDelay: 'PT0.05S', deadLetterSink: `${deadLetterSink.url}/dls` },
      });
      await publish(broker.url, { id: 'p1', type: 'com.example.retry.400', data: { order: 7 } });
      const dead = await deadLetterSink.waitFor((r) => r.length === 1);
      expect(dead[0]!.headers['ce-id']).toBe('p1');
      expect(dead[0]!.headers['ce-heralderrorcode']).toBe('HERALD_SINK_REJECTED');
      expect(dead[0]!.headers['ce-heralderrordest']).toBe(`${sink.url}/strict`);
      // The delivery metadata every delivery request carries, the dead-letter sink's too.
      expect(dead[0]!.headers['herald-subscription']).toBe(subscription.id);
      expect(dead[0]!.headers['herald-attempt']).toBe('1');
      expect(Buffer.from(dead[0]!.headers['ce-heralderrordata']!, 'base64').toString()).toContain('400');
      expect(JSON.parse(bodyText(dead[0]!))).toEqual({ order: 7 });
      expect((await sink.received()).filter((r) => r.path === '/strict')).toHaveLength(1);

      const listed = await requestJson<{
        deadLetters: Array<{
          id: string;
          sequence: number;
          attempts: number;
          error: { code: string; status: number };
          event: { id: string };
        }>;
      }>('GET', `${broker.url}/subscriptions/${subscription.id}/deadletters`);
      expect(listed.status).toBe(200);
      expect(listed.body.deadLetters).toHaveLength(1);
      expect(listed.body.deadLetters[0]).toMatchObject({
        attempts: 1,
        error: { code: 'HERALD_SINK_REJECTED', status: 400 },
        event: { id: 'p1' },
      });
      const status = await requestJson<{ status: { deadLettered: number; state: string } }>(
        'GET',
        `${broker.url}/subscriptions/${subscription.id}`,
      );
      expect(status.body.status.deadLettered).toBe(1);

      await sink.configure({ status: 200 });
      const redrive = await requestJson(
        'POST',
        `${broker.url}/subscriptions/${subscription.id}/deadletters/redrive`,
        {},
      );
      expect(redrive.status).toBe(202);
      expect(redrive.body).toEqual({ redriving: 1 });
      const delivered = await sink.waitFor((r) => r.some((x) => x.path === '/strict' && x.status === 200));
      expect(delivered.filter((r) => r.status === 200)[0]!.headers['ce-id']).toBe('p1');
      for (let i = 0; i < 50; i++) {
        const after = await requestJson<{ deadLetters: unknown[] }>(
          'GET',
          `${broker.url}/subscriptions/${subscription.id}/deadletters`,
        );
        if (after.body.deadLetters.length === 0) return;
        await sleep(100);
      }
      throw new Error('the redriven dead letter was not removed');
    });

    it('retries a sink that times out, then dead-letters after the last attempt', async () => {
      await sink.clear();
      await sink.configure({ status: 200, delayMs: 1500 });
      const subscription = await subscribe(broker.url, {
        sink: `${sink.url}/slow`,
        types: ['com.example.retry.timeout'],
        delivery: { retry: 1, backoffDelay: 'PT0.05S', timeout: 'PT0.3S' },
      });
      await publish(broker.url, { id: 's1', type: 'com.example.retry.timeout' });
      for (let i = 0; i < 100; i++) {
        const listed = await requestJson<{
          deadLetters: Array<{ attempts: number; error: { code: string } }>;
        }>('GET', `${broker.url}/subscriptions/${subscription.id}/deadletters`);
        if (listed.body.deadLetters.length === 1) {
          expect(listed.body.deadLetters[0]).toMatchObject({
            attempts: 2,
            error: { code: 'HERALD_SINK_TIMEOUT' },
          });
          await sink.configure({ delayMs: 0 });
          return;
        }
        await sleep(100);
      }
      throw new Error('the timed-out event was never dead-lettered');
    });
  });
}
