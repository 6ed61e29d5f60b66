import { describe, expect, it } from 'vitest';
import { startBroker, useBrokerAndSink } from '../harness/processes.js';
import { publish, requestJson, subscribe } from '../harness/client.js';
import type { SubscriptionBody } from '../harness/client.js';

describe('subscriptions API', () => {
  const ctx = useBrokerAndSink();

  // The table is built before any sink exists; validation never contacts the sink.
  const valid = () => ({ sink: 'http://127.0.0.1:9/api', protocol: 'HTTP' });

  it.each([
    ['unknown top-level field', { ...valid(), colour: 'red' }, 'HERALD_UNKNOWN_FIELD', '/colour'],
    [
      'unknown delivery field',
      { ...valid(), delivery: { retries: 3 } },
      'HERALD_UNKNOWN_FIELD',
      '/delivery/retries',
    ],
    ['missing sink', { protocol: 'HTTP' }, 'HERALD_INVALID_SINK', '/sink'],
    ['relative sink', { ...valid(), sink: '/relative' }, 'HERALD_INVALID_SINK', '/sink'],
    ['ftp sink', { ...valid(), sink: 'ftp://host/x' }, 'HERALD_INVALID_SINK', '/sink'],
    ['sink with credentials', { ...valid(), sink: 'http://u:p@host/x' }, 'HERALD_INVALID_SINK', '/sink'],
    ['sink with only a password', { ...valid(), sink: 'http://:p@host/x' }, 'HERALD_INVALID_SINK', '/sink'],
    [
      'dead-letter sink with only a password',
      { ...valid(), delivery: { deadLetterSink: 'http://:p@host/x' } },
      'HERALD_INVALID_SINK',
      '/delivery/deadLetterSink',
    ],
    [
      'bad dead-letter sink',
      { ...valid(), delivery: { deadLetterSink: 'nope' } },
      'HERALD_INVALID_SINK',
      '/delivery/deadLetterSink',
    ],
    ['lower-case protocol', { ...valid(), protocol: 'http' }, 'HERALD_INVALID_REQUEST', '/protocol'],
    ['MQTT protocol', { ...valid(), protocol: 'MQTT5' }, 'HERALD_INVALID_REQUEST', '/protocol'],
    ['empty type', { ...valid(), types: [''] }, 'HERALD_INVALID_REQUEST', '/types/0'],
    ['empty types array', { ...valid(), types: [] }, 'HERALD_INVALID_REQUEST', '/types'],
    [
      'unknown dialect',
      { ...valid(), filters: [{ regex: { type: 'x' } }] },
      'HERALD_UNSUPPORTED_FILTER',
      '/filters/0/regex',
    ],
    [
      'two dialects in one filter',
      { ...valid(), filters: [{ exact: { type: 'a' }, prefix: { type: 'b' } }] },
      'HERALD_INVALID_FILTER',
      '/filters/0',
    ],
    [
      'empty exact value',
      { ...valid(), filters: [{ exact: { type: '' } }] },
      'HERALD_INVALID_FILTER',
      '/filters/0/exact/type',
    ],
    [
      'bad attribute name',
      { ...valid(), filters: [{ prefix: { Type: 'a' } }] },
      'HERALD_INVALID_FILTER',
      '/filters/0/prefix/Type',
    ],
    ['empty all', { ...valid(), filters: [{ all: [] }] }, 'HERALD_INVALID_FILTER', '/filters/0/all'],
    [
      'non-string exact value',
      { ...valid(), filters: [{ exact: { type: 5 } }] },
      'HERALD_INVALID_FILTER',
      '/filters/0/exact/type',
    ],
    [
      'bad duration',
      { ...valid(), delivery: { backoffDelay: '5 seconds' } },
      'HERALD_INVALID_REQUEST',
      '/delivery/backoffDelay',
    ],
    [
      'bad ordering',
      { ...valid(), delivery: { ordering: 'fifo' } },
      'HERALD_INVALID_REQUEST',
      '/delivery/ordering',
    ],
    [
      'zero maxInFlight',
      { ...valid(), delivery: { maxInFlight: 0 } },
      'HERALD_INVALID_REQUEST',
      '/delivery/maxInFlight',
    ],
    ['bad startAt', { ...valid(), startAt: 'tomorrow' }, 'HERALD_INVALID_REQUEST', '/startAt'],
    [
      'hop-by-hop header',
      { ...valid(), protocolsettings: { headers: { 'Content-Length': '1' } } },
      'HERALD_INVALID_REQUEST',
      '/protocolsettings/headers/Content-Length',
    ],
    [
      'an event attribute header',
      { ...valid(), protocolsettings: { headers: { 'CE-Type': 'forged' } } },
      'HERALD_INVALID_REQUEST',
      '/protocolsettings/headers/CE-Type',
    ],
    [
      'a delivery metadata header',
      { ...valid(), protocolsettings: { headers: { 'herald-sequence': '99' } } },
      'HERALD_INVALID_REQUEST',
      '/protocolsettings/headers/herald-sequence',
    ],
    [
      'header injection',
      { ...valid(), protocolsettings: { headers: { 'x-a': 'b\r\nx-evil: 1' } } },
      'HERALD_INVALID_REQUEST',
      '/protocolsettings/headers/x-a',
    ],
    ['empty config key', { ...valid(), config: { '': 'v' } }, 'HERALD_INVALID_REQUEST', '/config/'],
  ])('rejects %s with a coded 400 and creates nothing', async (_name, body, code, pointer) => {
    const before = await requestJson<unknown[]>('GET', `${ctx.broker.url}/subscriptions`);
    const response = await requestJson<{ code: string; pointer: string }>(
      'POST',
      `${ctx.broker.url}/subscriptions`,
      body,
    );
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body.code).toBe(code);
    expect(response.body.pointer).toBe(pointer);
    const after = await requestJson<unknown[]>('GET', `${ctx.broker.url}/subscriptions`);
    expect(after.body).toEqual(before.body);
  });

  it('rejects malformed JSON and non-JSON bodies', async () => {
    const malformed = await fetch(`${ctx.broker.url}/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"sink":',
    });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { code: string }).code).toBe('HERALD_MALFORMED_JSON');
    const text = await fetch(`${ctx.broker.url}/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hi',
    });
    expect(text.status).toBe(415);
  });

  it('creates (201 + Location), reads, lists, updates, hides the credential, and deletes', async () => {
    const created = await requestJson<SubscriptionBody>('POST', `${ctx.broker.url}/subscriptions`, {
      ...valid(),
      id: 'ignored',
      types: ['com.example.api'],
      sinkcredential: { credentialtype: 'ACCESSTOKEN', accesstoken: 'secret' },
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect(id).not.toBe('ignored');
    expect(created.headers.get('location')).toBe(`/subscriptions/${id}`);
    expect(created.body['sinkcredential']).toBeUndefined();
    expect(created.body['delivery']).toMatchObject({ retry: 10, ordering: 'none', contentMode: 'binary' });
    const fetched = await requestJson<SubscriptionBody>('GET', `${ctx.broker.url}/subscriptions/${id}`);
    expect(fetched.body['types']).toEqual(['com.example.api']);
    const options = await fetch(`${ctx.broker.url}/subscriptions`, { method: 'OPTIONS' });
    expect(options.headers.get('allow')).toBe('GET, POST, OPTIONS');
    const updated = await requestJson<SubscriptionBody>('PUT', `${ctx.broker.url}/subscriptions/${id}`, {
      ...valid(),
      types: ['com.example.api2'],
      delivery: { retry: 2 },
    });
    expect(updated.status).toBe(200);
    expect(updated.body['types']).toEqual(['com.example.api2']);
    expect(updated.body['delivery']).toMatchObject({ retry: 2 });
    const mismatch = await requestJson('PUT', `${ctx.broker.url}/subscriptions/${id}`, {
      ...valid(),
      id: 'other',
    });
    expect(mismatch.status).toBe(400);
    const deleted = await requestJson<SubscriptionBody>('DELETE', `${ctx.broker.url}/subscriptions/${id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.id).toBe(id);
    expect((await requestJson('GET', `${ctx.broker.url}/subscriptions/${id}`)).status).toBe(404);
    expect((await requestJson('DELETE', `${ctx.broker.url}/subscriptions/${id}`)).status).toBe(404);
    expect((await requestJson('POST', `${ctx.broker.url}/subscriptions/${id}/pause`)).status).toBe(404);
  });

  it('keeps subscriptions and cursors across a restart', async () => {
    const subscription = await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/durable`,
      types: ['com.example.durable'],
    });
    await publish(ctx.broker.url, { id: 'd1', type: 'com.example.durable' });
    await ctx.sink.waitFor((r) => r.filter((x) => x.path === '/durable').length === 1);
    expect(await ctx.broker.stop()).toBe(0);
    ctx.broker = await startBroker({ dataDir: ctx.broker.dataDir });
    const listed = await requestJson<SubscriptionBody[]>('GET', `${ctx.broker.url}/subscriptions`);
    expect(listed.body.map((s) => s.id)).toContain(subscription.id);
    await publish(ctx.broker.url, { id: 'd2', type: 'com.example.durable' });
    const records = await ctx.sink.waitFor((r) => r.filter((x) => x.path === '/durable').length === 2);
    expect(records.filter((x) => x.path === '/durable').map((r) => r.headers['ce-id'])).toEqual(['d1', 'd2']);
  });

  it('keeps a change and a pause across a restart: the stored definition is replaced, not kept as first written', async () => {
    const subscription = await subscribe(ctx.broker.url, {
      sink: `${ctx.sink.url}/changed`,
      types: ['com.example.before'],
    });
    const url = `${ctx.broker.url}/subscriptions/${subscription.id}`;
    const updated = await requestJson('PUT', url, {
      sink: `${ctx.sink.url}/changed`,
      protocol: 'HTTP',
      types: ['com.example.after'],
    });
    expect(updated.status).toBe(200);
    expect((await requestJson('POST', `${url}/pause`)).status).toBe(200);
    await publish(ctx.broker.url, { id: 'while-paused', type: 'com.example.after' });
    expect(await ctx.broker.stop()).toBe(0);
    ctx.broker = await startBroker({ dataDir: ctx.broker.dataDir });
    const restarted = await requestJson<SubscriptionBody & { status: { state: string } }>(
      'GET',
      `${ctx.broker.url}/subscriptions/${subscription.id}`,
    );
    expect(restarted.body['types']).toEqual(['com.example.after']);
    expect(restarted.body.status.state).toBe('paused');
    expect(
      (await requestJson('POST', `${ctx.broker.url}/subscriptions/${subscription.id}/resume`)).status,
    ).toBe(200);
    const records = await ctx.sink.waitFor((r) => r.some((x) => x.path === '/changed'));
    expect(records.filter((x) => x.path === '/changed').map((r) => r.headers['ce-id'])).toEqual([
      'while-paused',
    ]);
  });
});
