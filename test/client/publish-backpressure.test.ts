// The client's publish backpressure (architecture §8: "publish with batching and backpressure") holds
// when callers do not await one call before the next: `maxBufferedEvents` bounds what the publisher
// holds, so a producer firing many `publish()` calls at a slow broker waits instead of growing memory.
import { describe, expect, it } from 'vitest';
import { HeraldClient } from '../../src/client/index.js';
import { useBroker } from '../harness/processes.js';

const ctx = useBroker();

describe('publish backpressure', () => {
  it('bounds the buffer when many publish() calls are in progress at once', async () => {
    let highest = 0;
    // The real fetch; it records how much the publisher holds each time a batch leaves (it is first
    // called after `client` below exists).
    const watching: typeof fetch = (input, init) => {
      highest = Math.max(highest, client.buffered);
      return fetch(input, init);
    };
    const client = new HeraldClient({
      url: ctx.broker.url,
      fetch: watching,
      maxBatchEvents: 50,
      maxInFlight: 1,
      maxBufferedEvents: 100,
    });
    const calls: Array<Promise<void>> = [];
    for (let i = 0; i < 1_000; i++) {
      calls.push(client.publish({ id: `concurrent-${i}`, source: '/concurrent', type: 'com.example.c' }));
    }
    // Let every call get as far as it can before the first answer comes back.
    await new Promise((resolve) => setImmediate(resolve));
    highest = Math.max(highest, client.buffered);
    await Promise.all(calls);
    await client.flush();
    expect(highest).toBeLessThanOrEqual(100);
    // Every event was still published, once.
    const seen = new Set<string>();
    let from = 1;
    for (;;) {
      const page = await client.events({ from, limit: 1000 });
      if (page.events.length === 0) break;
      for (const { event } of page.events)
        if (event['source'] === '/concurrent') seen.add(String(event['id']));
      from = page.next;
    }
    expect(seen.size).toBe(1_000);
  });
});
