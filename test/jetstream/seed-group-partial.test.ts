// The original project's `POST /events/sub` with several subscribers makes one Herald subscription per
// subscriber, written together. JetStream KV has no multi-key transaction, so the store may take some of
// them and refuse another: the request then fails, and the client, told so and given no id to unsubscribe,
// retries. Whatever was written must not stay behind, delivering (twice, once the retry succeeds).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestJson, sleep, subscribe } from '../harness/client.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { removeDir, startSink } from '../harness/processes.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { startJetStreamBroker, uniqueBrokerName } from './brokers.js';

let nats: NatsServer;
let sink: SinkProcess;
const brokers: BrokerProcess[] = [];

beforeAll(async () => {
  [nats, sink] = await Promise.all([startNatsServer(), startSink()]);
});
afterAll(async () => {
  for (const broker of brokers) {
    await broker.stop();
    removeDir(broker.dataDir);
  }
  await Promise.all([nats?.stop(), sink?.stop()]);
});

async function listedIds(broker: BrokerProcess): Promise<string[]> {
  return (await requestJson<Array<{ id: string }>>('GET', `${broker.adminUrl}/subscriptions`)).body.map(
    (s) => s.id,
  );
}

describe('a seed subscribe whose subscribers the store takes only in part', () => {
  it('leaves none of them stored or delivering', async () => {
    const brokerName = uniqueBrokerName('seed-partial');
    const first = await startJetStreamBroker(nats.url, { brokerName });
    brokers.push(first);

    // Every member's definition carries the request's subscriber list (its seed view). A 600 KB
    // subscriber URL puts its own member (the URL as sink and in the list) over nats-server's default
    // max_payload of 1 MB, while the other member (the URL once) fits: one put fails, one succeeds.
    const long = `${sink.url}/long?pad=${'x'.repeat(600_000)}`;
    const created = await requestJson<{ code?: string }>('POST', `${first.adminUrl}/events/sub`, {
      subject: 'partial',
      subscribers: [long, `${sink.url}/short`],
    });
    expect(created.status, JSON.stringify(created.body)).toBeGreaterThanOrEqual(400);

    // A replica started now reads what the store holds: the failed request must have left nothing.
    const second = await startJetStreamBroker(nats.url, { brokerName });
    brokers.push(second);
    expect(await listedIds(second)).toEqual([]);

    // Nor does either replica deliver anything of it: a marker subscription, created after, receives the
    // event; the failed request's sinks must not.
    const marker = await subscribe(first.adminUrl, {
      sink: `${sink.url}/marker`,
      types: ['com.example.partial'],
    });
    const published = await fetch(`${first.url}/events/pub`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({
        specversion: '1.0',
        id: 'after-failure',
        source: '/tests',
        type: 'com.example.partial',
        subject: 'partial',
      }),
    });
    expect(published.status).toBe(202);
    await sink.waitFor((records) => records.some((r) => r.path === '/marker'));
    await sleep(1000);
    expect((await sink.received()).map((r) => r.path.split('?')[0])).toEqual(['/marker']);
    expect(await listedIds(first)).toEqual([marker.id]);
  });
});
