// Subscription limits on two broker replicas sharing one JetStream store: they hold for the broker, not
// per replica (the scenario: replica-subscription-limits-scenario.ts).
import { afterAll, beforeAll, describe } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir } from '../harness/processes.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { startSecureBroker } from '../security/fixtures.js';
import { startJetStreamBroker, uniqueBrokerName, waitReady } from './brokers.js';
import { limitsAcrossReplicas } from './replica-subscription-limits-scenario.js';

let nats: NatsServer;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

async function stopAll(brokers: readonly BrokerProcess[], dirs: readonly string[] = []): Promise<void> {
  for (const broker of brokers) {
    await broker.stop();
    removeDir(broker.dataDir);
  }
  for (const dir of dirs) removeDir(dir);
}

describe('subscription limits across replicas sharing a JetStream store', () => {
  limitsAcrossReplicas(async (args, secure) => {
    const brokerName = uniqueBrokerName('limits');
    if (!secure) {
      const one = await startJetStreamBroker(nats.url, { brokerName, args });
      const two = await startJetStreamBroker(nats.url, { brokerName, args });
      return { urls: [one.adminUrl, two.adminUrl], stop: () => stopAll([one, two]) };
    }
    const store = ['--store', 'jetstream', '--nats-url', nats.url, '--broker-name', brokerName];
    const one = await startSecureBroker([...args, ...store]);
    await waitReady(one.broker);
    const two = await startSecureBroker([...args, ...store]);
    await waitReady(two.broker);
    return {
      urls: [one.broker.adminUrl, two.broker.adminUrl],
      // The tokens are the same for every secure broker of the test process.
      bearer: one.bearer,
      stop: () => stopAll([one.broker, two.broker], [one.dir, two.dir]),
    };
  });
});
