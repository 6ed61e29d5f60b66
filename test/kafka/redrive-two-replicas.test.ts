// Two broker replicas on one Kafka node, one subscription, dead letters in the shared store: redrives
// asked through both replicas at once, or through the one that does not deliver the subscription, deliver
// each letter once and store a refusal of it once (the scenario: ../jetstream/redrive-replicas-scenario.ts).
import { describe } from 'vitest';
import { startKafkaCluster } from '../infra/kafka/server.js';
import { redriveAcrossReplicas } from '../jetstream/redrive-replicas-scenario.js';
import { startKafkaBroker, uniqueBrokerName } from './brokers.js';

describe('kafka replicas: dead letters redriven through two replicas', () => {
  redriveAcrossReplicas(async () => {
    const kafka = await startKafkaCluster(1);
    const brokerName = uniqueBrokerName('redrive');
    const a = await startKafkaBroker(kafka.bootstrap, { brokerName });
    const b = await startKafkaBroker(kafka.bootstrap, { brokerName });
    return { replicas: [a, b], stop: () => kafka.stop() };
  });
});
