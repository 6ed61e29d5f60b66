import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNatsRelay } from '../../../test/infra/nats/relay.js';
import { startNatsServer } from '../../../test/infra/nats/server.js';
import type { NatsServer } from '../../../test/infra/nats/server.js';
import {
  startAcceptingSink,
  startManualDispatcher,
  testSubscription,
} from '../../dispatch/testing/manual-dispatcher.js';
import type { Cleanups } from '../../dispatch/testing/manual-dispatcher.js';
import { sampleEvent } from '../testing/conformance.js';
import { encodeToken } from './codec.js';
import { createJetStreamStore } from './jetstream-store.js';
import type { JetStreamEventStore } from './jetstream-store.js';
import { removeBrokerStreams } from './testing/remove-broker.js';
import { until } from '../../testing/until.js';

// The cursor of a deleted subscription, with the dispatcher on a real nats-server: a commit in flight when
// the subscription is forgotten does not outlive the delete (one connection keeps their order). Across
// replicas a new subscription of the same id has a cursor key of its own: src/dispatch/recreated-subscription.test.ts.
let server: NatsServer;
let brokers = 0;
const cleanups: Cleanups = [];

beforeAll(async () => {
  server = await startNatsServer();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

afterAll(async () => {
  await server?.stop();
});

async function openStore(broker: string, url = server.url): Promise<JetStreamEventStore> {
  const store = createJetStreamStore({ servers: url, brokerName: broker });
  cleanups.push(() => store.close());
  await store.whenReady();
  return store;
}

function newBroker(): string {
  const broker = `c${process.pid}-${++brokers}`;
  cleanups.push(async () => {
    const nc = await connect({ servers: server.url });
    await removeBrokerStreams(nc, broker);
    await nc.close();
  });
  return broker;
}

describe('jetstream store: the cursor of a deleted subscription', () => {
  it('a cursor commit in flight when the subscription is forgotten does not outlive the delete', async () => {
    const relay = await startNatsRelay(server.port);
    cleanups.push(() => Promise.resolve(relay.close()));
    const broker = newBroker();
    const store = await openStore(broker, relay.url);
    const sink = await startAcceptingSink(cleanups);
    const dispatcher = await startManualDispatcher(store, cleanups);
    await dispatcher.add(testSubscription('s', sink), 1);
    await store.append([{ event: sampleEvent('e1') }]);
    await store.append([{ event: sampleEvent('e2') }]);
    await until('both delivered', () => dispatcher.worker('s')?.position() === 3);

    // The commit of cursor 3 reaches the server; its acknowledgement is held back, so it is still in
    // flight when the dispatcher deletes the cursor. (The delete is sent after it on the same connection,
    // so the server applies it last: the dispatcher need not wait for the commit.)
    const key = `$KV.herald_${broker}_cursors.${encodeToken('s')}`;
    relay.countSent(key);
    relay.hold();
    let committed = false;
    const commit = dispatcher.commitCursors(true).then(() => (committed = true));
    await until('the commit is sent', () => relay.sent(key) === 1);
    const deleteCursor = store.deleteCursor.bind(store);
    let deleting = false;
    store.deleteCursor = (id: string) => {
      deleting = true;
      return deleteCursor(id);
    };
    const removed = dispatcher.remove('s', true);
    await until('the cursor is being deleted', () => deleting);
    expect(committed).toBe(false);
    relay.release();
    await Promise.all([commit, removed]);

    expect(await store.getCursor('s')).toBeUndefined();
    // Created again with the same id, from `latest` (sequence 4 after e3): it starts there.
    await store.append([{ event: sampleEvent('e3') }]);
    await dispatcher.add(testSubscription('s', sink), 4);
    expect(dispatcher.worker('s')?.status().cursor).toBe(4);
  });
});
