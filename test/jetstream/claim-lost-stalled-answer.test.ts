// Two broker replicas on one nats-server, a subscription with `ordering: strict`. The replica delivering it
// stalls (SIGSTOP, as a long GC pause or a starved CPU would) with an attempt in flight; its claim runs out
// and the other replica takes over, delivering the same event again. The sink answers the stalled
// replica's attempt while it is stopped, so when it wakes that answer is the first thing its event loop
// reads — before any timer, the claim's renewal (which finds the lease ran out) included. The stale
// replica acted on it as the holder: a refusal was stored as a dead letter of an event the new holder was
// delivering (claim-lost-in-flight.test.ts answers only after the replica noticed the loss).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { publish, requestJson, subscribe } from '../harness/client.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { waitFor } from '../infra/process.js';
import { loggedReplicas } from '../support/logged-replicas.js';
import { killReplicas, startJetStreamBroker, uniqueBrokerName, wakeAfterLostClaim } from './brokers.js';
import { holderOf, startHoldingSink } from './holding-sink.js';
import type { HoldingSink } from './holding-sink.js';

describe('jetstream replicas: an answer read by a replica whose claim ran out while it stalled', () => {
  let nats: NatsServer;
  const sinks: HoldingSink[] = [];
  const replicas: BrokerProcess[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
  }, 60_000);

  afterAll(async () => {
    await killReplicas(replicas);
    for (const sink of sinks) await sink.close();
    await nats?.stop();
  });

  it('a refusal read after the claim ran out stores no dead letter', async () => {
    const brokerName = uniqueBrokerName('stalled');
    const group = loggedReplicas(async (onOutput) => {
      const replica = await startJetStreamBroker(nats.url, { brokerName, onOutput });
      replicas.push(replica);
      return replica;
    });
    const sink = await startHoldingSink();
    sinks.push(sink);
    const [a, b] = [await group.start(), await group.start()];
    const { id } = await subscribe(a.adminUrl, {
      sink: sink.url,
      delivery: { ordering: 'strict', retry: 0, timeout: 'PT2M' },
    });
    const holder = await holderOf([a, b], id);
    const other = holder === a ? b : a;

    await publish(other.url, { id: 'e-1' });
    const first = await waitFor('the holder to send e-1', async () => sink.arrivals[0], {
      timeoutMs: 30_000,
    });
    expect(first.eventId).toBe('e-1');

    process.kill(holder.child.pid as number, 'SIGSTOP');
    const second = await waitFor(
      'the other replica to take over and send e-1',
      async () => sink.arrivals[1],
      { timeoutMs: 60_000 },
    );
    expect(second.eventId).toBe('e-1');
    // Refused while the holder is stopped: the answer waits in its socket for it to wake.
    sink.answer(first, 400);
    await new Promise<void>((resolve) =>
      first.res.writableFinished ? resolve() : first.res.once('finish', () => resolve()),
    );
    await wakeAfterLostClaim(holder, () => group.log(holder));
    // Whatever the stale replica did with that answer is done by the time it has stopped gracefully.
    expect(await holder.stop('SIGTERM')).toBe(0);
    sink.answer(second, 200);

    const letters = await requestJson<{ deadLetters: Array<{ sequence: number }> }>(
      'GET',
      `${other.adminUrl}/subscriptions/${id}/deadletters`,
    );
    expect(letters.status).toBe(200);
    // The new holder delivers e-1: nothing may hold it as a dead letter.
    expect(letters.body.deadLetters).toEqual([]);
  }, 150_000);
});
