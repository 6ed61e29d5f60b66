// A broker on the jetstream store starts while NATS is not reachable: it answers probes and refuses
// work with 503 + Retry-After, and becomes ready by itself once NATS is up.
import { afterAll, describe, expect, it } from 'vitest';
import { publish, requestJson, subscribe } from '../harness/client.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { freePort } from '../infra/process.js';
import { uniqueBrokerName, waitReady } from './brokers.js';

describe('jetstream: start-up before NATS', () => {
  let broker: BrokerProcess | undefined;
  let nats: NatsServer | undefined;
  let sink: SinkProcess | undefined;

  afterAll(async () => {
    await broker?.stop();
    if (broker !== undefined) removeDir(broker.dataDir);
    await Promise.all([nats?.stop(), sink?.stop()]);
  });

  it('serves 503 with Retry-After until NATS answers, then becomes ready and delivers', async () => {
    const port = await freePort();
    broker = await startBroker({
      args: [
        '--store',
        'jetstream',
        '--nats-url',
        `nats://127.0.0.1:${port}`,
        '--broker-name',
        uniqueBrokerName(),
      ],
    });
    expect((await fetch(`${broker.url}/healthz`)).status).toBe(200);
    const readyz = await requestJson<{ store: boolean; code: string; status: number; cause: string }>(
      'GET',
      `${broker.adminUrl}/readyz`,
    );
    expect(readyz.status).toBe(503);
    // An error answer like every other: problem+json with a code, plus why.
    expect(readyz.headers.get('content-type')).toBe('application/problem+json');
    expect(readyz.body).toMatchObject({ code: 'HERALD_NOT_READY', status: 503, store: false });
    expect(readyz.body.cause).toMatch(/^nats-/);
    const refused = await fetch(`${broker.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({ specversion: '1.0', id: 'early', source: '/t', type: 't' }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ code: 'HERALD_STORE_UNAVAILABLE' });
    const api = await requestJson('GET', `${broker.adminUrl}/subscriptions`);
    expect(api.status).toBe(503);

    [nats, sink] = await Promise.all([startNatsServer({ port }), startSink()]);
    await waitReady(broker);
    await subscribe(broker.url, { sink: `${sink.url}/late`, types: ['com.example.late'] });
    await publish(broker.url, { id: 'late-1', type: 'com.example.late' });
    const records = await sink.waitFor((r) => r.length === 1);
    expect(records[0]?.headers['ce-id']).toBe('late-1');
  });
});
