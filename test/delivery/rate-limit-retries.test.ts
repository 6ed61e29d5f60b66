// `delivery.rateLimit` (and the `WebHook-Allowed-Rate` a sink grants, which becomes it) bounds every request
// the broker sends the sink: retries and redriven dead letters too, not only first attempts. Each case runs
// a limited subscription beside an unlimited twin with the same schedule: once the twin has made all its
// requests, the limited one has made one. The limit is one request per five minutes, so a correct broker
// never sends a second one while the test runs, however slow the machine: the check cannot fail spuriously.
import { describe, expect, it } from 'vitest';
import { useBrokerAndSink } from '../harness/processes.js';
import type { SinkRecord } from '../harness/processes.js';
import { publish, publishBatch, requestJson, sleep, subscribe, waitForStatus } from '../harness/client.js';

const ONE_PER_FIVE_MINUTES = 1 / 300;

const at = (records: SinkRecord[], path: string) => records.filter((r) => r.path === path);

describe('the rate limit covers retries and redrives', () => {
  const ctx = useBrokerAndSink();

  it('a retry waits for the rate limit like a first attempt', async () => {
    const { broker, sink } = ctx;
    await sink.configure({ status: 503, failTimes: 0, delayMs: 0 });
    const schedule = { retry: 2, backoffDelay: 'PT0.1S', backoffMax: 'PT0.2S', jitter: 0 };
    await subscribe(broker.url, {
      sink: `${sink.url}/retry-limited`,
      types: ['com.example.rate.retry.limited'],
      delivery: { ...schedule, rateLimit: ONE_PER_FIVE_MINUTES },
    });
    const twin = await subscribe(broker.url, {
      sink: `${sink.url}/retry-unlimited`,
      types: ['com.example.rate.retry.unlimited'],
      delivery: schedule,
    });
    await publish(broker.url, { id: 'limited-1', type: 'com.example.rate.retry.limited' });
    await publish(broker.url, { id: 'unlimited-1', type: 'com.example.rate.retry.unlimited' });
    // The twin: three attempts 0.1 s and 0.2 s apart, then a dead letter.
    await waitForStatus(broker.url, twin.id, (s) => s.deadLettered === 1);
    expect(at(await sink.received(), '/retry-unlimited')).toHaveLength(3);
    await sleep(1_000);
    const limited = at(await sink.received(), '/retry-limited');
    // Before the fix: attempts 1, 2 and 3 within 0.3 s, two of them past the sink's rate.
    expect(limited.map((r) => r.headers['herald-attempt'])).toEqual(['1']);
  });

  it('a redrive delivers its dead letters at the rate limit', async () => {
    const { broker, sink } = ctx;
    await sink.configure({ status: 400, failTimes: 0, delayMs: 0 });
    const definition = (name: string, delivery: Record<string, unknown>) => ({
      protocol: 'HTTP',
      sink: `${sink.url}/${name}`,
      types: [`com.example.rate.${name}`],
      delivery,
    });
    const limited = await subscribe(broker.url, definition('redrive-limited', { retry: 0 }));
    const twin = await subscribe(broker.url, definition('redrive-unlimited', { retry: 0 }));
    for (const name of ['redrive-limited', 'redrive-unlimited'])
      await publishBatch(
        broker.url,
        [1, 2, 3].map((i) => ({ id: `${name}-${i}`, type: `com.example.rate.${name}` })),
      );
    await waitForStatus(broker.url, limited.id, (s) => s.deadLettered === 3);
    await waitForStatus(broker.url, twin.id, (s) => s.deadLettered === 3);

    // Limited now (a sink that asks for one request per five minutes), then both redriven to a sink that accepts.
    const put = await requestJson(
      'PUT',
      `${broker.url}/subscriptions/${limited.id}`,
      definition('redrive-limited', { retry: 0, rateLimit: ONE_PER_FIVE_MINUTES }),
    );
    expect(put.status).toBe(200);
    await sink.clear();
    await sink.configure({ status: 200, failTimes: 0, delayMs: 0 });
    for (const id of [limited.id, twin.id]) {
      const redrive = await requestJson('POST', `${broker.url}/subscriptions/${id}/deadletters/redrive`, {});
      expect(redrive.status).toBe(202);
    }
    await waitForStatus(broker.url, twin.id, (s) => s.deadLettered === 0);
    expect(at(await sink.received(), '/redrive-unlimited')).toHaveLength(3);
    await sleep(1_000);
    // Before the fix: all three, one after the other, as fast as the sink answered.
    expect(at(await sink.received(), '/redrive-limited')).toHaveLength(1);
    expect((await waitForStatus(broker.url, limited.id, () => true)).deadLettered).toBe(2);
  });
});
