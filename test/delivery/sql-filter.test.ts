import { describe, expect, it } from 'vitest';
import { useBrokerAndSink } from '../harness/processes.js';
import { publishBatch, requestJson, subscribe } from '../harness/client.js';

const EXPRESSION =
  "type = 'com.example.order.created' AND source LIKE '/shop/%' AND (NOT EXISTS subject OR subject <> 'test')";

describe('CloudEvents SQL filters', () => {
  const ctx = useBrokerAndSink();

  /** Waits for the expected deliveries, then a little longer, so an extra one would show. */
  const expectExactlyDelivered = async (ids: string[]) => {
    await ctx.sink.waitFor((r) => r.length >= ids.length);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await ctx.sink.received()).map((r) => r.headers['ce-id']).sort()).toEqual(ids);
  };

  const events = [
    { id: 'yes-1', type: 'com.example.order.created', source: '/shop/eu' },
    { id: 'no-type', type: 'com.example.order.deleted', source: '/shop/eu' },
    { id: 'no-source', type: 'com.example.order.created', source: '/warehouse/1' },
    { id: 'yes-2', type: 'com.example.order.created', source: '/shop/us', subject: 'order-7' },
    { id: 'no-subject', type: 'com.example.order.created', source: '/shop/us', subject: 'test' },
  ];

  it('a subscription with an sql filter receives exactly the events the expression selects', async () => {
    await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/sql`,
      filters: [{ sql: EXPRESSION }],
      startAt: 'earliest',
    });
    await publishBatch(ctx.broker.url, events);
    await publishBatch(ctx.broker.url, [
      { id: 'yes-3', type: 'com.example.order.created', source: '/shop/x' },
    ]);
    await expectExactlyDelivered(['yes-1', 'yes-2', 'yes-3']);
  });

  it('combines sql with other dialects (all filters must match)', async () => {
    await ctx.sink.clear();
    await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/mixed`,
      filters: [{ sql: "source LIKE '/shop/%'" }, { prefix: { id: 'yes' } }],
      startAt: 'earliest',
    });
    await expectExactlyDelivered(['yes-1', 'yes-2', 'yes-3']);
  });

  it('rejects an invalid expression at create and update time with its position', async () => {
    const created = await requestJson<{ code: string; pointer: string; detail: string }>(
      'POST',
      `${ctx.broker.url}/subscriptions`,
      {
        sink: `${ctx.sink.url}/bad`,
        protocol: 'HTTP',
        filters: [{ exact: { type: 'x' } }, { sql: "type = 'a' AND" }],
      },
    );
    expect(created.status).toBe(400);
    expect(created.body.code).toBe('HERALD_INVALID_FILTER');
    expect(created.body.pointer).toBe('/filters/1/sql');
    expect(created.body.detail).toMatch(/line 1, column \d+/);
    const ok = await subscribe(ctx.broker.url, { sink: `${ctx.sink.url}/upd`, filters: [{ sql: 'true' }] });
    const updated = await requestJson<{ code: string }>('PUT', `${ctx.broker.url}/subscriptions/${ok.id}`, {
      sink: `${ctx.sink.url}/upd`,
      protocol: 'HTTP',
      filters: [{ sql: '((1' }],
    });
    expect(updated.status).toBe(400);
    expect(updated.body.code).toBe('HERALD_INVALID_FILTER');
    const still = await requestJson<{ filters: unknown }>('GET', `${ctx.broker.url}/subscriptions/${ok.id}`);
    expect(still.body.filters).toEqual([{ sql: 'true' }]);
  });

  it('filters the log read API with filter=', async () => {
    const page = await requestJson<{ events: Array<{ event: { id: string } }> }>(
      'GET',
      `${ctx.broker.url}/events?filter=${encodeURIComponent(EXPRESSION)}`,
    );
    expect(page.status).toBe(200);
    expect(page.body.events.map((e) => e.event.id)).toEqual(['yes-1', 'yes-2', 'yes-3']);
    const bad = await requestJson<{ code: string; pointer: string }>(
      'GET',
      `${ctx.broker.url}/events?filter=${encodeURIComponent('a ==== b')}`,
    );
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'HERALD_INVALID_FILTER', pointer: '?filter' });
  });

  it('filters the live stream with filter=', async () => {
    const controller = new AbortController();
    const response = await fetch(
      `${ctx.broker.url}/events/stream?from=1&filter=${encodeURIComponent("id LIKE 'yes-%'")}`,
      {
        signal: controller.signal,
      },
    );
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const reader = response.body!.getReader();
    let text = '';
    while ((text.match(/^data: /gm) ?? []).length < 3) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    controller.abort();
    const ids = [...text.matchAll(/^data: (.*)$/gm)].map((m) => (JSON.parse(m[1]!) as { id: string }).id);
    expect(ids).toEqual(['yes-1', 'yes-2', 'yes-3']);
  });
});
