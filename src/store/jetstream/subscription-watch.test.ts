import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNatsRelay } from '../../../test/infra/nats/relay.js';
import type { NatsRelay } from '../../../test/infra/nats/relay.js';
import { startNatsServer } from '../../../test/infra/nats/server.js';
import type { NatsServer } from '../../../test/infra/nats/server.js';
import type { SubscriptionRecord } from '../types.js';
import { createJetStreamStore } from './index.js';
import type { JetStreamEventStore } from './index.js';

// The subscription watch on a real nats-server reports changes some time after they were made, a
// process's own included. Store `mine` talks through a relay that holds the watch's deliveries (and
// only those) until the test releases them, so the changes are heard after every write was answered.
let server: NatsServer;
let relay: NatsRelay;
let brokers = 0;
const stores: JetStreamEventStore[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  relay = await startNatsRelay(server.port, { framed: true });
}, 120_000);

afterAll(async () => {
  relay?.close();
  await server?.stop();
});

afterEach(async () => {
  relay.release();
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

/** Two processes of one broker: `mine` (through the relay) and `other`; `heard` is what `mine`'s watch reported. */
async function open() {
  const brokerName = `watch${process.pid}-${++brokers}`;
  const mine = createJetStreamStore({ servers: relay.url, brokerName });
  const other = createJetStreamStore({ servers: server.url, brokerName });
  stores.push(mine, other);
  await Promise.all([mine.whenReady(), other.whenReady()]);
  const heard: Array<string | undefined> = [];
  mine.watchSubscriptions((_id, record) => heard.push(record?.document));
  const until = async (what: string, check: () => boolean) => {
    const deadline = Date.now() + 15_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`never heard ${what}; heard ${JSON.stringify(heard)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  return { mine, other, heard, until, stream: `KV_herald_${brokerName}_subscriptions` };
}

const record = (document: string): SubscriptionRecord => ({ id: 's', document });

describe('JetStream store: the subscription watch and this process’s own writes', () => {
  it('does not report a change this process has written over since: the later write is reported', async () => {
    const { mine, heard, until, stream } = await open();
    await mine.putSubscription(record('v0'));
    await until('v0', () => heard.includes('v0'));
    heard.length = 0;

    relay.holdDeliveries(stream);
    await mine.putSubscription(record('v1'));
    expect(await mine.deleteSubscription('s')).toBe(true);
    await mine.putSubscriptions([record('v2')]);
    relay.release();
    await until('v2', () => heard.includes('v2'));
    // Reporting v1 after v2 was written would bring v1 back where it is heard, the delete would
    // remove v2 there.
    expect(heard).toEqual(['v2']);

    heard.length = 0;
    relay.holdDeliveries(stream);
    await mine.putSubscription(record('v3'));
    expect(await mine.deleteSubscription('s')).toBe(true);
    relay.release();
    await until('the delete', () => heard.includes(undefined));
    expect(heard).toEqual([undefined]);
  });

  it('reports every change another process made after this one’s write, a delete included', async () => {
    const { mine, other, heard, until, stream } = await open();
    relay.holdDeliveries(stream);
    await mine.putSubscription(record('v1'));
    await other.putSubscription(record('v2'));
    expect(await other.deleteSubscription('s')).toBe(true);
    relay.release();
    await until('the delete', () => heard.length === 3);
    expect(heard).toEqual(['v1', 'v2', undefined]);

    // And once the watch has passed this process's writes, every change is reported again.
    heard.length = 0;
    await other.putSubscription(record('v4'));
    await until('v4', () => heard.includes('v4'));
    expect(heard).toEqual(['v4']);
  });
});
