// Two broker replicas on one nats-server. The replica delivering a subscription stalls (SIGSTOP, as a
// long GC pause or a starved CPU would) with an attempt in flight; its claim runs out and the other
// replica takes the subscription over and delivers the event. When the stalled replica wakes it learns
// the claim is gone, and from then on it must deliver nothing more of that subscription ("it stops
// delivering that subscription at once", docs/jetstream.md): its attempt still in flight is ended then,
// not left to finish, or a sink that answers it late makes the stale replica act on the answer beside
// the new holder (a refusal stored a dead letter of an event the new holder had delivered).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { publish, requestJson } from '../harness/client.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { waitFor } from '../infra/process.js';
import { loggedReplicas } from '../support/logged-replicas.js';
import { killReplicas, startJetStreamBroker, uniqueBrokerName, wakeAfterLostClaim } from './brokers.js';
import { startHoldingSink, subscribeUnretried } from './holding-sink.js';
import type { HoldingSink } from './holding-sink.js';

describe('jetstream replicas: a claim lost while an attempt is in flight', () => {
  let nats: NatsServer;
  let sink: HoldingSink;
  const replicas: BrokerProcess[] = [];

  beforeAll(async () => {
    [nats, sink] = await Promise.all([startNatsServer(), startHoldingSink()]);
  }, 60_000);

  afterAll(async () => {
    await killReplicas(replicas);
    await sink?.close();
    await nats?.stop();
  });

  it('the stale replica ends the attempt when it learns of the loss: a late refusal stores no dead letter', async () => {
    const brokerName = uniqueBrokerName('lost');
    const group = loggedReplicas(async (onOutput) => {
      const replica = await startJetStreamBroker(nats.url, { brokerName, onOutput });
      replicas.push(replica);
      return replica;
    });
    const [a, b] = [await group.start(), await group.start()];
    // No retry: the sink's refusal of the one attempt makes a dead letter at once.
    const { id, holder, other } = await subscribeUnretried([a, b], sink.url);

    await publish(other.url, { id: 'e-1' });
    const first = await waitFor('the holder to send the event', async () => sink.arrivals[0], {
      timeoutMs: 30_000,
    });
    expect(first.eventId).toBe('e-1');

    // The holder stalls with that attempt in flight; its claim runs out (6 s) and the other replica
    // takes the subscription over from the committed cursor, so it delivers the event again.
    process.kill(holder.child.pid as number, 'SIGSTOP');
    const second = await waitFor(
      'the other replica to take over and send the event',
      async () => sink.arrivals[1],
      { timeoutMs: 60_000 },
    );
    expect(second.eventId).toBe('e-1');
    sink.answer(second, 200);

    // The stalled replica wakes and finds its claim gone. Once it says so, the sink refuses its attempt.
    await wakeAfterLostClaim(holder, () => group.log(holder));
    sink.answer(first, 400);
    // Whatever the stale replica does with that answer is done by the time it has stopped gracefully.
    expect(await holder.stop('SIGTERM')).toBe(0);

    const letters = await requestJson<{ deadLetters: Array<{ sequence: number }> }>(
      'GET',
      `${other.adminUrl}/subscriptions/${id}/deadletters`,
    );
    expect(letters.status).toBe(200);
    // The event was delivered by the replica holding the claim: nothing may hold it as a dead letter.
    expect(letters.body.deadLetters).toEqual([]);
  }, 150_000);
});
