import { describe, expect, it } from 'vitest';
import { useBrokerAndSink } from '../harness/processes.js';
import { metricValue, publishBatch, subscribe } from '../harness/client.js';

describe('fan-out to many subscriptions', () => {
  const ctx = useBrokerAndSink();

  it('does filter work proportional to the matching subscriptions, not to all 1,000', async () => {
    const SUBSCRIPTIONS = 1000;
    for (let i = 0; i < SUBSCRIPTIONS; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          subscribe(ctx.broker.url, {
            sink: `${ctx.sink.url}/t${i + j}`,
            filters: [{ exact: { type: `com.example.t${i + j}` } }],
          }),
        ),
      );
    }
    const before = await metricValue(ctx.broker.url, 'herald_filter_evaluations_total');
    const EVENTS = 200;
    await publishBatch(
      ctx.broker.url,
      Array.from({ length: EVENTS }, (_, i) => ({ id: `f${i}`, type: 'com.example.t7' })),
    );
    const records = await ctx.sink.waitFor((r) => r.length >= EVENTS);
    expect(new Set(records.map((r) => r.path))).toEqual(new Set(['/t7']));
    const evaluations = (await metricValue(ctx.broker.url, 'herald_filter_evaluations_total')) - before;
    console.log(
      `fan-out: ${EVENTS} events, ${SUBSCRIPTIONS} subscriptions, ${evaluations} filter evaluations`,
    );
    // One candidate per event (the t7 subscription); a scan of all subscriptions would be 200,000.
    expect(evaluations).toBe(EVENTS);
  });
});
