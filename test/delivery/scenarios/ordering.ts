import { describe, expect, it } from 'vitest';
import { useBrokerAndSink } from '../../harness/processes.js';
import { publishBatch, subscribe } from '../../harness/client.js';
import type { BrokerFactory } from './factory.js';

/** The ordering scenarios, against a broker from `startBroker` (any store). */
export function describeOrderingScenarios(store: string, startBroker: BrokerFactory): void {
  describe(`ordering (${store})`, () => {
    const ctx = useBrokerAndSink(startBroker);

    it('strict: log order with one delivery in flight', async () => {
      await ctx.sink.clear();
      await ctx.sink.configure({ delayMs: 5 });
      await subscribe(ctx.broker.url, {
        sink: `${ctx.sink.url}/strict`,
        types: ['com.example.strict'],
        delivery: { ordering: 'strict', maxInFlight: 50 },
      });
      await publishBatch(
        ctx.broker.url,
        Array.from({ length: 60 }, (_, i) => ({ id: `s${i}`, type: 'com.example.strict' })),
      );
      const records = await ctx.sink.waitFor((r) => r.length === 60);
      expect(records.map((r) => r.headers['ce-id'])).toEqual(Array.from({ length: 60 }, (_, i) => `s${i}`));
      const sequences = records.map((r) => Number(r.headers['herald-sequence']));
      expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
      expect(await ctx.sink.maxInFlight()).toBe(1);
    });

    it('partitionkey: in order per key, keys delivered in parallel', async () => {
      await ctx.sink.clear();
      await ctx.sink.configure({ delayMs: 30 });
      await subscribe(ctx.broker.url, {
        sink: `${ctx.sink.url}/keyed`,
        types: ['com.example.keyed'],
        delivery: { ordering: 'partitionkey', maxInFlight: 8 },
      });
      const keys = ['k1', 'k2', 'k3', 'k4'];
      const events = Array.from({ length: 80 }, (_, i) => ({
        id: `p${i}`,
        type: 'com.example.keyed',
        partitionkey: keys[i % keys.length]!,
      }));
      await publishBatch(ctx.broker.url, events);
      const records = await ctx.sink.waitFor((r) => r.length === 80);
      for (const key of keys) {
        const delivered = records
          .filter((r) => r.headers['ce-partitionkey'] === key)
          .map((r) => r.headers['ce-id']);
        const expected = events.filter((e) => e.partitionkey === key).map((e) => e.id);
        expect(delivered).toEqual(expected);
      }
      const parallel = await ctx.sink.maxInFlight();
      // More than one key in flight at once, never more than the number of keys.
      expect(parallel).toBeGreaterThan(1);
      expect(parallel).toBeLessThanOrEqual(keys.length);
    });

    it('none: up to maxInFlight deliveries in parallel', async () => {
      await ctx.sink.clear();
      await ctx.sink.configure({ delayMs: 50 });
      await subscribe(ctx.broker.url, {
        sink: `${ctx.sink.url}/free`,
        types: ['com.example.free'],
        delivery: { maxInFlight: 4 },
      });
      await publishBatch(
        ctx.broker.url,
        Array.from({ length: 40 }, (_, i) => ({ id: `n${i}`, type: 'com.example.free' })),
      );
      await ctx.sink.waitFor((r) => r.length === 40);
      const parallel = await ctx.sink.maxInFlight();
      expect(parallel).toBeGreaterThan(1);
      expect(parallel).toBeLessThanOrEqual(4);
    });
  });
}
