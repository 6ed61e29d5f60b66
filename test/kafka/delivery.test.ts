// The delivery behaviours of test/delivery, run unchanged on the kafka store against a real Kafka node
// (fetched by test/infra/kafka/build.sh; a missing Kafka fails this file, never skips it).
import { afterAll, beforeAll } from 'vitest';
import { startKafkaCluster } from '../infra/kafka/server.js';
import type { KafkaCluster } from '../infra/kafka/server.js';
import type { BrokerFactory } from '../delivery/scenarios/factory.js';
import { describeDuplicateScenarios } from '../delivery/scenarios/duplicates.js';
import { describeOrderingScenarios } from '../delivery/scenarios/ordering.js';
import { describeReplayScenarios } from '../delivery/scenarios/replay.js';
import { describeRetryScenarios } from '../delivery/scenarios/retries.js';
import { startKafkaBroker } from './brokers.js';

let kafka: KafkaCluster;

beforeAll(async () => {
  kafka = await startKafkaCluster(1);
}, 120_000);
afterAll(async () => {
  await kafka?.stop();
});

// Each scenario group gets its own broker name, so its log starts at sequence 1 as the scenarios expect.
const kafkaBroker: BrokerFactory = () => startKafkaBroker(kafka.bootstrap);

describeRetryScenarios('kafka', kafkaBroker);
describeOrderingScenarios('kafka', kafkaBroker);
describeReplayScenarios('kafka', kafkaBroker);
describeDuplicateScenarios('kafka', kafkaBroker);
