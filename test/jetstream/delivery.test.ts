// The delivery behaviours of test/delivery, run unchanged on the jetstream store against a real
// nats-server (built by test/infra/nats/build.sh; a missing binary fails this file, never skips it).
import { afterAll, beforeAll } from 'vitest';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import type { BrokerFactory } from '../delivery/scenarios/factory.js';
import { describeDuplicateScenarios } from '../delivery/scenarios/duplicates.js';
import { describeOrderingScenarios } from '../delivery/scenarios/ordering.js';
import { describeReplayScenarios } from '../delivery/scenarios/replay.js';
import { describeRetryScenarios } from '../delivery/scenarios/retries.js';
import { startJetStreamBroker } from './brokers.js';

let nats: NatsServer;

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

// Each scenario group gets its own broker name, so its log starts at sequence 1 as the scenarios expect.
const jetstreamBroker: BrokerFactory = () => startJetStreamBroker(nats.url);

describeRetryScenarios('jetstream', jetstreamBroker);
describeOrderingScenarios('jetstream', jetstreamBroker);
describeReplayScenarios('jetstream', jetstreamBroker);
describeDuplicateScenarios('jetstream', jetstreamBroker);
