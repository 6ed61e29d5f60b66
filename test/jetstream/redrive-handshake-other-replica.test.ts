// Two broker replicas on one nats-server with --sink-handshake required. A redrive asked of the replica
// that does not deliver the subscription runs on a worker of its own there, which first runs the Web Hook
// handshake with the sink. On consent that worker went on as a delivering worker would: it read the log from
// its start and delivered every event of the subscription, beside the replica holding the claim — a
// subscription delivered by two replicas at once. A redrive delivers the dead letters named, nothing else.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { publish, requestJson, subscribe } from '../harness/client.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { waitFor } from '../infra/process.js';
import { killReplicas, startJetStreamBroker, uniqueBrokerName } from './brokers.js';
import { holderOf } from './holding-sink.js';

/** A sink that consents to every handshake, refuses the first delivery of `e-1` and takes the rest. */
async function startConsentingSink(): Promise<{ url: string; ids: string[]; close(): Promise<void> }> {
  const ids: string[] = [];
  let refused = false;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'OPTIONS') {
        res.writeHead(200, { 'webhook-allowed-origin': '*' }).end();
        return;
      }
      const id = String(req.headers['ce-id']);
      ids.push(id);
      const refuse = id === 'e-1' && !refused;
      if (refuse) refused = true;
      res.writeHead(refuse ? 400 : 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    ids,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('jetstream replicas with --sink-handshake required: a redrive through the replica not delivering', () => {
  let nats: NatsServer;
  let sink: Awaited<ReturnType<typeof startConsentingSink>>;
  const replicas: BrokerProcess[] = [];

  beforeAll(async () => {
    [nats, sink] = await Promise.all([startNatsServer(), startConsentingSink()]);
  }, 60_000);

  afterAll(async () => {
    await killReplicas(replicas);
    await sink?.close();
    await nats?.stop();
  });

  it('delivers the dead letter and no other event of the subscription', async () => {
    const brokerName = uniqueBrokerName('handshake');
    const start = async (): Promise<BrokerProcess> => {
      const replica = await startJetStreamBroker(nats.url, {
        brokerName,
        args: ['--sink-handshake', 'required'],
      });
      replicas.push(replica);
      return replica;
    };
    const [a, b] = [await start(), await start()];
    const { id } = await subscribe(a.adminUrl, { sink: sink.url, delivery: { retry: 0 } });
    const holder = await holderOf([a, b], id);
    const other = holder === a ? b : a;
    // The other replica delivers a subscription of its own (one no event here matches), so its shared tail
    // reads the log as it grows (an idle one stays where it started). Which replica takes a new
    // subscription is a race: made until the other one has one.
    let owns = false;
    for (let made = 0; made < 20 && !owns; made++) {
      const own = await subscribe(other.adminUrl, { sink: sink.url, types: ['com.example.none'] });
      owns = (await holderOf([a, b], own.id)) === other;
    }
    expect(owns).toBe(true);
    const letters = async (): Promise<unknown[]> =>
      (
        await requestJson<{ deadLetters: unknown[] }>(
          'GET',
          `${other.adminUrl}/subscriptions/${id}/deadletters`,
        )
      ).body.deadLetters;

    for (const event of ['e-1', 'e-2', 'e-3']) await publish(other.url, { id: event });
    await waitFor(
      'e-1 refused, e-2 and e-3 delivered',
      async () => (sink.ids.includes('e-3') && (await letters()).length === 1 ? true : undefined),
      { timeoutMs: 30_000 },
    );

    const redrive = await requestJson<{ redriving: number }>(
      'POST',
      `${other.adminUrl}/subscriptions/${id}/deadletters/redrive`,
    );
    expect(redrive.body).toEqual({ redriving: 1 });
    await waitFor('the letter redriven', async () => ((await letters()).length === 0 ? true : undefined), {
      timeoutMs: 30_000,
    });
    // One more event through the holder: the sink has what each replica sent meanwhile by the time it
    // arrives (a worker reading the log on the other replica starts at once, with the redrive).
    await publish(other.url, { id: 'e-4' });
    await waitFor('e-4 delivered', async () => (sink.ids.includes('e-4') ? true : undefined), {
      timeoutMs: 30_000,
    });

    expect([...sink.ids].sort()).toEqual(['e-1', 'e-1', 'e-2', 'e-3', 'e-4']);
  }, 120_000);
});
