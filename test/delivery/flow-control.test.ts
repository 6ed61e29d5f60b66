import { describe, expect, it } from 'vitest';
import { useBrokerAndSink } from '../harness/processes.js';
import { metricValue, publishBatch, requestJson, subscribe } from '../harness/client.js';

describe('flow control and connection reuse', () => {
  const ctx = useBrokerAndSink();

  it('rateLimit spaces deliveries out (checked loosely: the shape, not the clock)', async () => {
    await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/limited`,
      types: ['com.example.limited'],
      delivery: { rateLimit: 10 },
    });
    await publishBatch(
      ctx.broker.url,
      Array.from({ length: 25 }, (_, i) => ({ id: `r${i}`, type: 'com.example.limited' })),
    );
    const records = (
      await ctx.sink.waitFor((r) => r.filter((x) => x.path === '/limited').length === 25)
    ).filter((x) => x.path === '/limited');
    const span = records[records.length - 1]!.at - records[0]!.at;
    // 25 events at 10/s with a burst of 1: about 2.4 s; unlimited delivery takes a few milliseconds.
    expect(span).toBeGreaterThanOrEqual(1800);
  });

  it('reuses keep-alive connections instead of opening one per event', async () => {
    await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/reuse`,
      types: ['com.example.reuse'],
      delivery: { maxInFlight: 4 },
    });
    await publishBatch(
      ctx.broker.url,
      Array.from({ length: 200 }, (_, i) => ({ id: `c${i}`, type: 'com.example.reuse' })),
    );
    const records = (
      await ctx.sink.waitFor((r) => r.filter((x) => x.path === '/reuse').length === 200)
    ).filter((x) => x.path === '/reuse');
    const connections = new Set(records.map((r) => r.connection));
    expect(connections.size).toBeLessThanOrEqual(8);
  });

  it('a replaying subscription reads on its own, then rejoins the shared tail', async () => {
    await publishBatch(
      ctx.broker.url,
      Array.from({ length: 300 }, (_, i) => ({ id: `h${i}`, type: 'com.example.replay' })),
    );
    const own = () => metricValue(ctx.broker.url, 'herald_log_reads_total{reader="subscription"}');
    const tail = () => metricValue(ctx.broker.url, 'herald_log_reads_total{reader="tail"}');
    const ownBefore = await own();
    await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/replay`,
      types: ['com.example.replay'],
      startAt: 'earliest',
    });
    await ctx.sink.waitFor((r) => r.filter((x) => x.path === '/replay').length === 300);
    const ownAfterReplay = await own();
    expect(ownAfterReplay).toBeGreaterThan(ownBefore);
    const tailBefore = await tail();
    for (let i = 0; i < 5; i++) {
      await publishBatch(ctx.broker.url, [{ id: `live${i}`, type: 'com.example.replay' }]);
      await ctx.sink.waitFor((r) => r.filter((x) => x.path === '/replay').length === 301 + i);
    }
    // Caught up: new events reach it through the shared tail, not through reads of its own.
    expect(await tail()).toBeGreaterThan(tailBefore);
    expect(await own()).toBe(ownAfterReplay);
    const status = await requestJson<Array<{ status: { lag: number } }>>(
      'GET',
      `${ctx.broker.url}/subscriptions`,
    );
    expect(status.status).toBe(200);
  });
});
