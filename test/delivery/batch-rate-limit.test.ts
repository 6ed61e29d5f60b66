// A rate-limited batch subscription: `batch.maxWait` is how long a *partial* batch waits for more events
// (docs/subscriptions.md); a full batch waits only for the rate limit. Here the first event of the first
// batch arms the partial-batch wait (an hour), the batch fills and goes at once (the bucket is full), and
// the second full batch, published right after, must wait for the rate limit's tokens: five events at
// five per second, about a second. The watch below is only a bound on waiting; the wrong broker held the
// second batch until the hour-long wait of the first ran out.
import { describe, expect, it } from 'vitest';
import { bodyText, useBrokerAndSink } from '../harness/processes.js';
import { publishBatch, requestJson, subscribe } from '../harness/client.js';

const idsOf = (body: string) => (JSON.parse(body) as Array<{ id: string }>).map((e) => e.id);

describe('a rate-limited batch subscription', () => {
  const ctx = useBrokerAndSink();

  it('sends a full batch once the rate limit allows, not when a partial batch would have waited out', async () => {
    const { broker, sink } = ctx;
    await sink.configure({ status: 200, failTimes: 0, delayMs: 0 });
    const type = 'com.example.policy.batch-rate';
    const subscription = await subscribe(broker.url, {
      sink: `${sink.url}/batch-rate`,
      types: [type],
      delivery: { contentMode: 'batch', batch: { maxEvents: 5, maxWait: 'PT1H' }, rateLimit: 5 },
    });
    const events = (from: number) =>
      Array.from({ length: 5 }, (_, i) => ({ id: `batch-rate-${from + i}`, type }));
    await publishBatch(broker.url, events(1));
    const first = await sink.waitFor((r) => r.length >= 1);
    expect(idsOf(bodyText(first[0]!))).toEqual(events(1).map((e) => e.id));

    await publishBatch(broker.url, events(6));
    // Before the fix: "sink condition not met within 20000 ms (received 1 requests)".
    const records = await sink.waitFor((r) => r.length >= 2, 20_000);
    expect(records).toHaveLength(2);
    expect(records[1]!.headers['herald-batch-size']).toBe('5');
    expect(idsOf(bodyText(records[1]!))).toEqual(events(6).map((e) => e.id));
    await requestJson('DELETE', `${broker.url}/subscriptions/${subscription.id}`);
  });
});
