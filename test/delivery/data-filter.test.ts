import { describe, expect, it } from 'vitest';
import { useBrokerAndSink } from '../harness/processes.js';
import { metricValue, publishBatch, requestJson, subscribe } from '../harness/client.js';

describe('payload (data) filters through a real broker', () => {
  const ctx = useBrokerAndSink();

  const orders = [
    { id: 'big-gold', type: 'order.created', data: { total: 250, customer: { tier: 'gold' } } },
    { id: 'big-silver', type: 'order.created', data: { total: 300, customer: { tier: 'silver' } } },
    { id: 'small-gold', type: 'order.created', data: { total: 20, customer: { tier: 'gold' } } },
    { id: 'string-total', type: 'order.created', data: { total: '500', customer: { tier: 'gold' } } },
    { id: 'no-customer', type: 'order.created', data: { total: 999 } },
  ];

  it('delivers exactly the events whose data matches, with data conditions inside all/any/not', async () => {
    await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/big-gold`,
      startAt: 'earliest',
      filters: [
        { exact: { type: 'order.created' } },
        { data: { '/total': { gte: 100 }, '/customer/tier': { eq: 'gold' } } },
      ],
    });
    await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/not-gold`,
      startAt: 'earliest',
      filters: [{ not: { data: { '/customer/tier': { eq: 'gold' } } } }],
    });
    await publishBatch(ctx.broker.url, orders);
    // A text event: never matches a data condition, so `not` of one matches it.
    const text = await fetch(`${ctx.broker.url}/events`, {
      method: 'POST',
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'text',
        'ce-type': 'order.created',
        'ce-source': '/tests',
        'content-type': 'text/plain',
      },
      body: '{"total": 1000, "customer": {"tier": "gold"}}',
    });
    expect(text.status).toBe(202);
    await ctx.sink.waitFor((r) => r.length >= 4);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const received = await ctx.sink.received();
    const at = (path: string) =>
      received
        .filter((r) => r.path === path)
        .map((r) => r.headers['ce-id'])
        .sort();
    expect(at('/big-gold')).toEqual(['big-gold']);
    expect(at('/not-gold')).toEqual(['big-silver', 'no-customer', 'text']);
  });

  it('parses each event’s data once for 50 subscriptions with data filters (herald_filter_data_parses_total)', async () => {
    for (let i = 0; i < 50; i++) {
      await subscribe(ctx.broker.url, {
        sink: `${ctx.sink.url}/many-${i}`,
        filters: [{ data: { '/n': { eq: i } } }],
      });
    }
    const before = await metricValue(ctx.broker.adminUrl, 'herald_filter_data_parses_total');
    await ctx.sink.clear();
    await publishBatch(
      ctx.broker.url,
      Array.from({ length: 100 }, (_, i) => ({ id: `n${i}`, type: 'count', data: { n: i } })),
    );
    // Other subscriptions of this file receive these events too: wait for the 50 this test made.
    await ctx.sink.waitFor((r) => r.filter((x) => x.path.startsWith('/many-')).length >= 50);
    const after = await metricValue(ctx.broker.adminUrl, 'herald_filter_data_parses_total');
    // Once per event on the shared tail (src/filters/data.test.ts shows exactly one with 1,000 filters);
    // a subscription not yet on the tail when the batch lands reads and parses its own page. Parsing
    // per subscription would be 5,100 here (51 subscriptions look into data).
    expect(after - before).toBeGreaterThanOrEqual(100);
    expect(after - before).toBeLessThan(200);
    const received = await ctx.sink.received();
    expect(
      received
        .filter((r) => r.path.startsWith('/many-'))
        .map((r) => r.path)
        .sort(),
    ).toEqual(Array.from({ length: 50 }, (_, i) => `/many-${i}`).sort());
  });

  it('filter= on the log read API takes a JSON filter with the data dialect', async () => {
    const filter = encodeURIComponent(JSON.stringify({ data: { '/total': { gt: 100 } } }));
    const page = await requestJson<{ events: Array<{ event: { id: string } }> }>(
      'GET',
      `${ctx.broker.url}/events?from=1&filter=${filter}`,
    );
    expect(page.status).toBe(200);
    expect(page.body.events.map((e) => e.event.id)).toEqual(['big-gold', 'big-silver', 'no-customer']);
    const bad = await requestJson<{ code: string; pointer: string }>(
      'GET',
      `${ctx.broker.url}/events?filter=${encodeURIComponent('{"data":{"/total":{"gt":"x"}}}')}`,
    );
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'HERALD_INVALID_FILTER', pointer: '?filter/data/~1total/gt' });
  });

  it('POST /match evaluates data filters too', async () => {
    const match = async (data: unknown) => {
      const response = await fetch(`${ctx.broker.url}/match`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify({
          specversion: '1.0',
          id: 'probe',
          source: '/tests',
          type: 'order.created',
          data,
        }),
      });
      expect(response.status).toBe(200);
      return { body: (await response.json()) as { subscriptions: Array<{ sink: string }> } };
    };
    const sinks = async (data: unknown) =>
      (await match(data)).body.subscriptions.map((s) => new URL(s.sink).pathname);
    expect(await sinks({ total: 500, customer: { tier: 'gold' } })).toEqual(['/big-gold']);
    expect(await sinks({ total: 500, customer: { tier: 'silver' } })).toEqual(['/not-gold']);
    expect(await sinks({ total: '500', customer: { tier: 'gold' } })).toEqual([]);
  });

  it('rejects an invalid data filter at create time with a pointer', async () => {
    const created = await requestJson<{ code: string; pointer: string }>(
      'POST',
      `${ctx.broker.url}/subscriptions`,
      {
        sink: `${ctx.sink.url}/bad`,
        protocol: 'HTTP',
        filters: [{ data: { total: { gt: 1 } } }],
      },
    );
    expect(created.status).toBe(400);
    expect(created.body).toMatchObject({ code: 'HERALD_INVALID_FILTER', pointer: '/filters/0/data/total' });
  });
});
