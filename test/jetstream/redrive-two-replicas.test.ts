// Two broker replicas on one nats-server, one subscription, dead letters in the shared store: redrives
// asked through both replicas at once, or through the one that does not deliver the subscription, deliver
// each letter once and store a refusal of it once (the scenario: redrive-replicas-scenario.ts).
import { describe } from 'vitest';
import { startNatsServer } from '../infra/nats/server.js';
import { startJetStreamBroker, uniqueBrokerName } from './brokers.js';
import { redriveAcrossReplicas } from './redrive-replicas-scenario.js';

describe('jetstream replicas: dead letters redriven through two replicas', () => {
  redriveAcrossReplicas(async () => {
    const nats = await startNatsServer();
    const brokerName = uniqueBrokerName('redrive');
    const a = await startJetStreamBroker(nats.url, { brokerName });
    const b = await startJetStreamBroker(nats.url, { brokerName });
    return { replicas: [a, b], stop: () => nats.stop() };
  });
});
