import { describe, expect, it } from 'vitest';
import type { SinkRecord } from '../harness/processes.js';
import { bodyText, useBrokerAndSink } from '../harness/processes.js';
import { publishBatch, requestJson, subscribe, waitForStatus } from '../harness/client.js';
import { findEvent } from '../support/http.js';

describe('delivery content modes and headers', () => {
  const ctx = useBrokerAndSink();

  it('binary mode: ce- headers percent-encoded, data as the body, delivery and trace headers, static headers', async () => {
    const subscription = await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/binary`,
      types: ['com.example.binary'],
      protocolsettings: { headers: { 'X-Team': 'orders', Authorization: 'Bearer static' } },
    });
    const response = await fetch(`${ctx.broker.url}/events`, {
      method: 'POST',
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'b1',
        'ce-source': '/tests',
        'ce-type': 'com.example.binary',
        'ce-subject': 'Euro%20%E2%82%AC%20%F0%9F%98%80',
        'content-type': 'text/plain; charset=utf-8',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'x-request-id': 'req-42',
      },
      body: 'hello sink',
    });
    expect(response.status).toBe(202);
    const [record] = await ctx.sink.waitFor((r) => r.some((x) => x.path === '/binary'));
    expect(record!.method).toBe('POST');
    expect(record!.headers['ce-id']).toBe('b1');
    expect(record!.headers['ce-subject']).toBe('Euro%20%E2%82%AC%20%F0%9F%98%80');
    expect(record!.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(record!.headers['ce-datacontenttype']).toBeUndefined();
    expect(bodyText(record!)).toBe('hello sink');
    expect(record!.headers['herald-subscription']).toBe(subscription.id);
    expect(record!.headers['herald-sequence']).toBe(
      String((await findEvent(ctx.broker.adminUrl, 'b1')).sequence),
    );
    expect(record!.headers['herald-attempt']).toBe('1');
    expect(record!.headers['traceparent']).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(record!.headers['x-request-id']).toBe('req-42');
    expect(record!.headers['x-team']).toBe('orders');
    expect(record!.headers['authorization']).toBe('Bearer static');
  });

  it('structured mode: the whole event as application/cloudevents+json', async () => {
    await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/structured`,
      types: ['com.example.structured'],
      delivery: { contentMode: 'structured' },
    });
    await publishBatch(ctx.broker.url, [{ id: 's1', type: 'com.example.structured', data: { total: 3 } }]);
    const records = await ctx.sink.waitFor((r) => r.some((x) => x.path === '/structured'));
    const record = records.find((r) => r.path === '/structured')!;
    expect(record.headers['content-type']).toBe('application/cloudevents+json');
    expect(JSON.parse(bodyText(record))).toEqual({
      specversion: '1.0',
      id: 's1',
      source: '/tests',
      type: 'com.example.structured',
      data: { total: 3 },
    });
  });

  it('batch mode: up to maxEvents per application/cloudevents-batch+json request, in log order', async () => {
    await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/batch`,
      types: ['com.example.batch'],
      delivery: { contentMode: 'batch', batch: { maxEvents: 10, maxWait: 'PT0.2S' } },
    });
    await publishBatch(
      ctx.broker.url,
      Array.from({ length: 25 }, (_, i) => ({ id: `m${i}`, type: 'com.example.batch' })),
    );
    const records = await ctx.sink.waitFor(
      (r) =>
        r
          .filter((x) => x.path === '/batch')
          .reduce((n, x) => n + (JSON.parse(bodyText(x)) as unknown[]).length, 0) >= 25,
    );
    const batches = records.filter((r) => r.path === '/batch');
    for (const batch of batches) {
      expect(batch.headers['content-type']).toBe('application/cloudevents-batch+json');
      expect(batch.headers['herald-batch-size']).toBe(
        String((JSON.parse(bodyText(batch)) as unknown[]).length),
      );
    }
    const ids = batches.flatMap((b) => (JSON.parse(bodyText(b)) as Array<{ id: string }>).map((e) => e.id));
    expect(ids).toEqual(Array.from({ length: 25 }, (_, i) => `m${i}`));
    expect(
      Math.max(...batches.map((b) => (JSON.parse(bodyText(b)) as unknown[]).length)),
    ).toBeLessThanOrEqual(10);
    expect(batches.length).toBeGreaterThanOrEqual(3);
  });

  it('batch mode: a backlog goes out in full batches of maxEvents (sizes 100, 100, 50 for 250 events)', async () => {
    const subscription = await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/backlog`,
      types: ['com.example.backlog'],
      delivery: { contentMode: 'batch', batch: { maxEvents: 100, maxWait: 'PT1S' } },
    });
    expect(
      (await requestJson('POST', `${ctx.broker.url}/subscriptions/${subscription.id}/pause`)).status,
    ).toBe(200);
    await publishBatch(
      ctx.broker.url,
      Array.from({ length: 250 }, (_, i) => ({ id: `q${i}`, type: 'com.example.backlog' })),
    );
    await waitForStatus(ctx.broker.url, subscription.id, (status) => status.lag >= 250);
    await requestJson('POST', `${ctx.broker.url}/subscriptions/${subscription.id}/resume`);
    const size = (record: SinkRecord) => (JSON.parse(bodyText(record)) as unknown[]).length;
    const records = await ctx.sink.waitFor(
      (r) => r.filter((x) => x.path === '/backlog').reduce((n, x) => n + size(x), 0) >= 250,
    );
    const batches = records.filter((r) => r.path === '/backlog');
    expect(batches.map(size)).toEqual([100, 100, 50]);
    expect(batches.map((b) => b.headers['herald-batch-size'])).toEqual(['100', '100', '50']);
    const ids = batches.flatMap((b) => (JSON.parse(bodyText(b)) as Array<{ id: string }>).map((e) => e.id));
    expect(ids).toEqual(Array.from({ length: 250 }, (_, i) => `q${i}`));
  });

  it('batch mode: a batch of one event is still a batch, with Herald-Batch-Size: 1', async () => {
    await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/single-batch`,
      types: ['com.example.single-batch'],
      delivery: { contentMode: 'batch', batch: { maxEvents: 10, maxWait: 'PT0.05S' } },
    });
    await publishBatch(ctx.broker.url, [{ id: 'only', type: 'com.example.single-batch' }]);
    const records = await ctx.sink.waitFor((r) => r.some((x) => x.path === '/single-batch'));
    const record = records.find((r) => r.path === '/single-batch')!;
    expect(record.headers['content-type']).toBe('application/cloudevents-batch+json');
    expect((JSON.parse(bodyText(record)) as Array<{ id: string }>).map((e) => e.id)).toEqual(['only']);
    expect(record.headers['herald-batch-size']).toBe('1');
  });
});
