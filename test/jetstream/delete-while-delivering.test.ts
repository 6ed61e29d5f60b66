// Two broker replicas on one nats-server. A subscription is deleted through the replica that does not
// deliver it, while the one that does has an attempt in flight. The deleting replica removes the
// subscription's dead letters at once; the delivering one hears of the delete a moment later and lets
// its attempt end (as a change does), and a refusal that ends it is stored as a dead letter. Nothing
// must be left behind: a dead letter of a deleted subscription is listed by no one, counts against the
// dead-letter bounds for ever, and is handed to a subscription made again under the same id (a
// Kubernetes resource, a seed name) as its own.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir } from '../harness/processes.js';
import { publish, requestJson } from '../harness/client.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { waitFor } from '../infra/process.js';
import { startJetStreamBroker, uniqueBrokerName } from './brokers.js';
import { startHoldingSink, subscribeUnretried } from './holding-sink.js';
import type { HoldingSink } from './holding-sink.js';

describe('jetstream replicas: a subscription deleted through one replica while another delivers it', () => {
  let nats: NatsServer;
  let admin: NatsConnection;
  let sink: HoldingSink;
  const replicas: BrokerProcess[] = [];

  beforeAll(async () => {
    [nats, sink] = await Promise.all([startNatsServer(), startHoldingSink()]);
    admin = await connect({ servers: nats.url });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.stop('SIGKILL')));
    for (const replica of replicas) removeDir(replica.dataDir);
    await admin?.close();
    await sink?.close();
    await nats?.stop();
  });

  it('leaves no dead letter of the deleted subscription, stored by the delivering replica as its attempt ended', async () => {
    const brokerName = uniqueBrokerName('del');
    const a = await startJetStreamBroker(nats.url, { brokerName });
    replicas.push(a);
    const b = await startJetStreamBroker(nats.url, { brokerName });
    replicas.push(b);
    // No retry: the sink's refusal of the one attempt makes a dead letter at once.
    const { id, other } = await subscribeUnretried([a, b], sink.url);

    await publish(other.url, { id: 'e-1' });
    const held = await waitFor('the holder to send the event', async () => sink.arrivals[0], {
      timeoutMs: 30_000,
    });
    expect((await requestJson('DELETE', `${other.adminUrl}/subscriptions/${id}`)).status).toBe(200);
    // The attempt ends in a refusal: the holder stores a dead letter, before or after it hears of the delete.
    sink.answer(held, 400);

    const jsm = await jetstreamManager(admin);
    const deadLetters = async () => (await jsm.streams.info(`HERALD_${brokerName}_deadletters`)).state;
    await waitFor(
      'the refusal to be stored as a dead letter',
      async () => ((await deadLetters()).last_seq >= 1 ? true : undefined),
      { timeoutMs: 30_000 },
    );
    // ...and removed again: the subscription it belonged to is gone. (Bounded by a timeout only.)
    await waitFor(
      'the dead letter of the deleted subscription to be removed',
      async () => ((await deadLetters()).messages === 0 ? true : undefined),
      { timeoutMs: 20_000 },
    ).catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message}; the stream holds ${(await deadLetters()).messages}`);
    });
    expect(sink.arrivals).toHaveLength(1);
  }, 120_000);
});
