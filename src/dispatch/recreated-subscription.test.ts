import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaCluster } from '../../test/infra/kafka/server.js';
import type { KafkaCluster } from '../../test/infra/kafka/server.js';
import { startNatsServer } from '../../test/infra/nats/server.js';
import type { NatsServer } from '../../test/infra/nats/server.js';
import type { EventStore } from '../store/index.js';
import { createJetStreamStore } from '../store/jetstream/index.js';
import { createKafkaStore } from '../store/kafka/index.js';
import { sampleEvent } from '../store/testing/conformance.js';
import { cursorKeyOf } from '../subscriptions/index.js';
import { startAcceptingSink, startManualDispatcher, testSubscription } from './testing/manual-dispatcher.js';
import type { Cleanups } from './testing/manual-dispatcher.js';
import { until } from '../testing/until.js';

// A subscription deleted on one replica and created again under the same id (a Subscription resource
// re-created, a PUT after a DELETE) must start at its own start position, whatever the replicas that
// delivered its predecessor commit later. Two stores on one broker name are two replicas, on a real
// nats-server and a real Kafka node (each fails its suite when missing, never skips it).

interface Backend {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A store of broker `broker`: each call is another replica. */
  open(broker: string): Promise<EventStore>;
}

function jetStream(): Backend {
  let server: NatsServer | undefined;
  return {
    name: 'jetstream',
    start: async () => void (server = await startNatsServer()),
    stop: async () => server?.stop(),
    async open(broker) {
      const store = createJetStreamStore({ servers: (server as NatsServer).url, brokerName: broker });
      await store.whenReady();
      return store;
    },
  };
}

function kafka(): Backend {
  let cluster: KafkaCluster | undefined;
  return {
    name: 'kafka',
    start: async () => void (cluster = await startKafkaCluster(1)),
    stop: async () => cluster?.stop(),
    async open(broker) {
      const store = createKafkaStore({ brokers: (cluster as KafkaCluster).bootstrap, brokerName: broker });
      await store.whenReady();
      return store;
    },
  };
}

const cleanups: Cleanups = [];
let brokers = 0;

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe.each([jetStream(), kafka()])('$name store: a subscription created again under its id', (backend) => {
  beforeAll(() => backend.start(), 120_000);
  afterAll(() => backend.stop());

  async function replicas(count: number): Promise<EventStore[]> {
    const broker = `r${process.pid}-${++brokers}`;
    const stores: EventStore[] = [];
    for (let i = 0; i < count; i++) {
      const store = await backend.open(broker);
      cleanups.push(() => store.close());
      stores.push(store);
    }
    return stores;
  }

  it('starts at its start position, not at the cursor a replica still delivering its predecessor commits as it stops', async () => {
    const [a, b] = (await replicas(2)) as [EventStore, EventStore];
    const sink = await startAcceptingSink(cleanups);
    // Replica a delivers the subscription; replica b serves its DELETE (which forgets the cursor).
    const onA = await startManualDispatcher(a, cleanups);
    const onB = await startManualDispatcher(b, cleanups);
    await onA.add(testSubscription('s', sink, 'first'), 1);
    for (const id of ['e1', 'e2']) await a.append([{ event: sampleEvent(id) }]);
    await until('both delivered on a', () => onA.worker('s')?.position() === 3);

    await onB.remove('s', true);
    // Replica a is being stopped (a rolling update): it stopped following definitions first, so it never
    // hears of the delete, and its dispatcher commits every cursor it holds on the way out.
    await onA.stop(1_000);

    // Created again from `latest` (a Subscription resource re-created under its name: no cursor is
    // committed before the dispatcher starts it), after e3: it starts at 4, not at its predecessor's 3.
    await b.append([{ event: sampleEvent('e3') }]);
    await onB.add(testSubscription('s', sink, 'second'), 4);
    expect(onB.worker('s')?.status().cursor).toBe(4);
    // What the stopping replica committed stays with the incarnation it delivered.
    expect(await b.getCursor(cursorKeyOf({ id: 's', incarnation: 'first' }))).toBe(3);
  });

  it('moves a cursor stored under the bare id (before incarnations) to its incarnation’s key, and forgets both with the subscription', async () => {
    const [store] = (await replicas(1)) as [EventStore];
    const sink = await startAcceptingSink(cleanups);
    for (const id of ['e1', 'e2', 'e3']) await store.append([{ event: sampleEvent(id) }]);
    // A version without incarnations delivered it up to 3; its definition now carries one (a declared
    // resource's uid).
    await store.commitCursor('s', 3);
    const dispatcher = await startManualDispatcher(store, cleanups);
    await dispatcher.add(testSubscription('s', sink, 'uid-1'), 4);
    expect(dispatcher.worker('s')?.status().cursor).toBe(3);
    const key = cursorKeyOf({ id: 's', incarnation: 'uid-1' });
    expect(await store.getCursor(key)).toBe(3);

    await until('e3 delivered', () => dispatcher.worker('s')?.position() === 4);
    await dispatcher.commitCursors(true);
    expect(await store.getCursor(key)).toBe(4);
    // The bare one stays as it was, for a replica of the older version taking over during an update.
    expect(await store.getCursor('s')).toBe(3);
    await dispatcher.remove('s', true);
    expect(await store.getCursor(key)).toBeUndefined();
    expect(await store.getCursor('s')).toBeUndefined();
  });
});
