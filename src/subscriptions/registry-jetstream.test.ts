import { afterAll, beforeAll } from 'vitest';
import { startNatsServer } from '../../test/infra/nats/server.js';
import type { NatsServer } from '../../test/infra/nats/server.js';
import { createJetStreamStore } from '../store/jetstream/index.js';
import type { JetStreamEventStore } from '../store/jetstream/index.js';
import { StoreSubscriptionRegistry } from './registry.js';
import { describeRegistryConformance } from './testing/registry-conformance.js';

// One real nats-server (built by test/infra/nats/build.sh) for the file; each test gets its own broker
// name, hence its own buckets. A second store on the same broker name is another replica.
let server: NatsServer;
let brokers = 0;

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await server?.stop();
});

describeRegistryConformance(
  'store registry, JetStream store',
  async () => {
    const brokerName = `registry${process.pid}-${++brokers}`;
    const stores: JetStreamEventStore[] = [];
    const open = async () => {
      const store = createJetStreamStore({ servers: server.url, brokerName });
      stores.push(store);
      await store.whenReady();
      return new StoreSubscriptionRegistry(store);
    };
    return {
      registry: await open(),
      other: open,
      async cleanup() {
        await Promise.all(stores.map((store) => store.close()));
      },
    };
  },
  { replicas: true },
);
