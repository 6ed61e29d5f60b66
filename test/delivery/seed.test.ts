import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { bodyText, removeDir, startBroker, startSink } from '../harness/processes.js';
import { requestJson, sleep } from '../harness/client.js';

/** The original project's README walk-through, against Herald's seed-compatible routes. */
describe('seed walk-through', () => {
  let broker: BrokerProcess;
  let consumer: SinkProcess;

  beforeAll(async () => {
    [broker, consumer] = await Promise.all([startBroker(), startSink()]);
  });
  afterAll(async () => {
    await Promise.all([broker.stop(), consumer.stop()]);
    removeDir(broker.dataDir);
  });

  const pub = (subject: string, id: string) =>
    fetch(`${broker.url}/events/pub`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({
        specversion: '1.0',
        type: 'io.neuroglia.test',
        source: '/test',
        subject,
        id,
        datacontenttype: 'application/json',
        data: { message: 'hello world' },
      }),
    });

  it('subscribe by subject, publish, receive, unsubscribe, receive nothing more', async () => {
    const created = await requestJson<{
      id: string;
      subject: string;
      subscribers: string[];
      channel: string;
    }>('POST', `${broker.url}/events/sub`, {
      subject: 'test',
      channel: 'natss',
      subscribers: [`${consumer.url}/events`],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      subject: 'test',
      channel: 'natss',
      subscribers: [`${consumer.url}/events`],
      type: null,
      source: null,
    });

    expect((await pub('test', 'one')).status).toBe(202);
    expect((await pub('other', 'two')).status).toBe(202);
    const received = await consumer.waitFor((r) => r.length >= 1);
    await sleep(300);
    const all = await consumer.received();
    expect(all).toHaveLength(1);
    expect(received[0]!.headers['content-type']).toBe('application/cloudevents+json');
    expect(JSON.parse(bodyText(received[0]!))).toMatchObject({
      id: 'one',
      subject: 'test',
      data: { message: 'hello world' },
    });

    const unsub = await fetch(`${broker.url}/events/unsub?subscriptionId=${created.body.id}`, {
      method: 'DELETE',
    });
    expect(unsub.status).toBe(204);
    expect((await pub('test', 'three')).status).toBe(202);
    await sleep(500);
    expect(await consumer.received()).toHaveLength(1);

    const again = await fetch(`${broker.url}/events/unsub?subscriptionId=${created.body.id}`, {
      method: 'DELETE',
    });
    expect(again.status).toBe(404);
    expect(again.headers.get('content-type')).toBe('application/problem+json');
  });

  it('requires every given attribute to match (the original ORed them)', async () => {
    await consumer.clear();
    const created = await requestJson<{ id: string }>('POST', `${broker.url}/events/sub`, {
      subject: 'orders',
      type: 'com.example.created',
      subscribers: [`${consumer.url}/and`],
      streamPosition: -1,
    });
    expect(created.status).toBe(201);
    const send = (id: string, subject: string, type: string) =>
      fetch(`${broker.url}/events/pub`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ specversion: '1.0', id, source: '/s', subject, type }),
      });
    expect((await send('both', 'orders', 'com.example.created')).status).toBe(202);
    expect((await send('subject-only', 'orders', 'com.example.deleted')).status).toBe(202);
    expect((await send('type-only', 'invoices', 'com.example.created')).status).toBe(202);
    await consumer.waitFor((r) => r.length >= 1);
    await sleep(300);
    expect((await consumer.received()).map((r) => JSON.parse(bodyText(r)).id)).toEqual(['both']);
  });

  it('streamPosition 0 replays from the start', async () => {
    await consumer.clear();
    const created = await requestJson('POST', `${broker.url}/events/sub`, {
      subject: 'test',
      streamPosition: 0,
      subscribers: [`${consumer.url}/replay`],
    });
    expect(created.status).toBe(201);
    const records = await consumer.waitFor((r) => r.length >= 2);
    expect(new Set(records.map((r) => JSON.parse(bodyText(r)).id))).toEqual(new Set(['one', 'three']));
  });

  it('unsubscribing removes every subscriber the subscription named, not only the first', async () => {
    await consumer.clear();
    const created = await requestJson<{ id: string }>('POST', `${broker.url}/events/sub`, {
      subject: 'fan',
      subscribers: [`${consumer.url}/fan-a`, `${consumer.url}/fan-b`],
    });
    expect(created.status).toBe(201);
    // One Herald subscription per subscriber: the group's id, then `<id>.1`, `<id>.2`, …
    const members = async () =>
      (await requestJson<Array<{ id: string }>>('GET', `${broker.url}/subscriptions`)).body
        .map((s) => s.id)
        .filter((id) => id === created.body.id || id.startsWith(`${created.body.id}.`));
    expect(await members()).toHaveLength(2);
    expect((await pub('fan', 'fan-1')).status).toBe(202);
    const first = await consumer.waitFor((r) => r.length >= 2);
    expect(first.map((r) => r.path).sort()).toEqual(['/fan-a', '/fan-b']);

    const unsub = await fetch(`${broker.url}/events/unsub?subscriptionId=${created.body.id}`, {
      method: 'DELETE',
    });
    expect(unsub.status).toBe(204);
    expect(await members()).toEqual([]);
    expect((await pub('fan', 'fan-2')).status).toBe(202);
    await sleep(300);
    expect((await consumer.received()).map((r) => JSON.parse(bodyText(r)).id)).toEqual(['fan-1', 'fan-1']);
  });

  it('unsubscribes with the query name in any case, as ASP.NET bound it (?SubscriptionId=)', async () => {
    await consumer.clear();
    const created = await requestJson<{ id: string }>('POST', `${broker.url}/events/sub`, {
      subject: 'cased',
      subscribers: [`${consumer.url}/cased`],
    });
    expect(created.status).toBe(201);
    const unsub = await fetch(`${broker.url}/events/unsub?SubscriptionId=${created.body.id}`, {
      method: 'DELETE',
    });
    expect(unsub.status).toBe(204);
    // Gone, not only answered: the group is unknown now, and its sink gets nothing more.
    const again = await fetch(`${broker.url}/events/unsub?subscriptionId=${created.body.id}`, {
      method: 'DELETE',
    });
    expect(again.status).toBe(404);
    expect((await pub('cased', 'cased-1')).status).toBe(202);
    await sleep(300);
    expect(await consumer.received()).toEqual([]);
  });

  it("delivers the original's extension attributes: subscriptionid, sequence, sequencetype, redelivered", async () => {
    await consumer.clear();
    // The first attempt fails: its retry is a redelivery.
    await consumer.configure({ status: 200, delayMs: 0, failTimes: 1, failStatus: 503 });
    const created = await requestJson<{ id: string }>('POST', `${broker.url}/events/sub`, {
      subject: 'ext',
      subscribers: [`${consumer.url}/ext-a`, `${consumer.url}/ext-b`],
    });
    expect(created.status).toBe(201);
    expect((await pub('ext', 'ext-1')).status).toBe(202);
    const records = await consumer.waitFor((r) => r.filter((x) => x.status === 200).length >= 2);
    await consumer.configure({ status: 200, delayMs: 0, failTimes: 0 });
    const stored = await requestJson<{ events: Array<{ sequence: number; event: Record<string, unknown> }> }>(
      'GET',
      `${broker.url}/events?from=1&limit=1000`,
    );
    const kept = stored.body.events.find((e) => e.event['id'] === 'ext-1');
    // Added to what is delivered, never to what is stored.
    expect(kept?.event['subscriptionid']).toBeUndefined();
    const seen = records.map((r) => {
      const event = JSON.parse(bodyText(r)) as Record<string, unknown>;
      return [
        r.status,
        event['subscriptionid'],
        event['sequence'],
        event['sequencetype'],
        event['redelivered'],
      ];
    });
    const sequence = String(kept?.sequence);
    expect(seen).toEqual([
      [503, created.body.id, sequence, 'ulong', false],
      [200, created.body.id, sequence, 'ulong', false],
      [200, created.body.id, sequence, 'ulong', true],
    ]);
  });

  it('rejects bad seed requests with coded errors', async () => {
    const cases: Array<[unknown, string]> = [
      [{ subject: 'x' }, 'HERALD_INVALID_REQUEST'],
      [{ subscribers: [] }, 'HERALD_INVALID_REQUEST'],
      [{ subscribers: ['not a uri'] }, 'HERALD_INVALID_SINK'],
      [{ subscribers: ['http://ok'], streamPosition: -5 }, 'HERALD_INVALID_REQUEST'],
      [{ subscribers: ['http://ok'], bogus: 1 }, 'HERALD_UNKNOWN_FIELD'],
      [{ subscribers: ['http://ok'], subject: '' }, 'HERALD_INVALID_REQUEST'],
    ];
    for (const [body, code] of cases) {
      const response = await requestJson<{ code: string }>('POST', `${broker.url}/events/sub`, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.body.code, JSON.stringify(body)).toBe(code);
    }
  });
});
