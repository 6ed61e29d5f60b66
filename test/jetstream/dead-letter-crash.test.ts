// A refused event is stored as one dead letter across a SIGKILL, on the jetstream store against a real
// nats-server (the scenarios: test/delivery/scenarios/dead-letter-crash.ts). The broker started again
// takes the subscription once the killed one's claim ran out.
import { afterAll, beforeAll } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir } from '../harness/processes.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { describeDeadLetterCrashScenarios } from '../delivery/scenarios/dead-letter-crash.js';
import { startJetStreamBroker, uniqueBrokerName } from './brokers.js';

let nats: NatsServer;
const started: BrokerProcess[] = [];
/** The broker name of each broker started: a restart serves the same broker (stream, buckets). */
const names = new Map<BrokerProcess, string>();

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  for (const broker of started) {
    await broker.stop('SIGKILL');
    removeDir(broker.dataDir);
  }
  await nats?.stop();
});

describeDeadLetterCrashScenarios('jetstream', async (previous) => {
  const brokerName = (previous === undefined ? undefined : names.get(previous)) ?? uniqueBrokerName('dlc');
  const broker = await startJetStreamBroker(nats.url, { brokerName });
  started.push(broker);
  names.set(broker, brokerName);
  return broker;
});
