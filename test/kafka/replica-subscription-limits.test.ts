// Subscription limits on two broker replicas sharing one Kafka store (one Kafka node): they hold for the
// broker, not per replica (the scenario: ../jetstream/replica-subscription-limits-scenario.ts).
import { afterAll, beforeAll, describe } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir } from '../harness/processes.js';
import { startKafkaCluster } from '../infra/kafka/server.js';
import type { KafkaCluster } from '../infra/kafka/server.js';
import { limitsAcrossReplicas } from '../jetstream/replica-subscription-limits-scenario.js';
import { startSecureBroker } from '../security/fixtures.js';
import { startKafkaBroker, uniqueBrokerName, waitReady } from './brokers.js';

let kafka: KafkaCluster;
beforeAll(async () => {
  kafka = await startKafkaCluster(1);
}, 180_000);
afterAll(async () => {
  await kafka?.stop();
});

async function stopAll(brokers: readonly BrokerProcess[], dirs: readonly string[] = []): Promise<void> {
  for (const broker of brokers) {
    await broker.stop();
    removeDir(broker.dataDir);
  }
  for (const dir of dirs) removeDir(dir);
}

describe('subscription limits across replicas sharing a Kafka store', () => {
  limitsAcrossReplicas(async (args, secure) => {
    const brokerName = uniqueBrokerName('limits');
    if (!secure) {
      const one = await startKafkaBroker(kafka.bootstrap, { brokerName, args });
      const two = await startKafkaBroker(kafka.bootstrap, { brokerName, args });
      return { urls: [one.adminUrl, two.adminUrl], stop: () => stopAll([one, two]) };
    }
    const store = ['--store', 'kafka', '--kafka-brokers', kafka.bootstrap, '--broker-name', brokerName];
    const one = await startSecureBroker([...args, ...store]);
    await waitReady(one.broker, 60_000);
    const two = await startSecureBroker([...args, ...store]);
    await waitReady(two.broker, 60_000);
    return {
      urls: [one.broker.adminUrl, two.broker.adminUrl],
      // The tokens are the same for every secure broker of the test process.
      bearer: one.bearer,
      stop: () => stopAll([one.broker, two.broker], [one.dir, two.dir]),
    };
  });
});
