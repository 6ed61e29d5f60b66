// Two broker replicas on one nats-server: a replica that stalled past its claim must not move the
// committed cursor back over the new holder's when it wakes (the scenario: ./stale-commit-scenario.ts).
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { killReplicas, startJetStreamBroker, uniqueBrokerName } from './brokers.js';
import { staleCommitScenario, startRecordingSink } from './stale-commit-scenario.js';
import type { RecordingSink } from './stale-commit-scenario.js';

describe('jetstream replicas: a stale replica that wakes after losing its claim', () => {
  let nats: NatsServer;
  let admin: NatsConnection;
  let sink: RecordingSink;
  const replicas: BrokerProcess[] = [];

  beforeAll(async () => {
    [nats, sink] = await Promise.all([startNatsServer(), startRecordingSink()]);
    admin = await connect({ servers: nats.url });
  }, 60_000);

  afterAll(async () => {
    await killReplicas(replicas);
    await admin?.close();
    await sink?.close();
    await nats?.stop();
  });

  it('does not move the committed cursor back over the new holder’s: nothing is delivered twice after a second takeover', async () => {
    const brokerName = uniqueBrokerName('stale');
    // The committed cursor as the bucket holds it: the broker's one subscription has the one key.
    const cursors = await new Kvm(admin).open(`herald_${brokerName}_cursors`);
    await staleCommitScenario({
      sink,
      start: async (onOutput) => {
        const replica = await startJetStreamBroker(nats.url, { brokerName, onOutput });
        replicas.push(replica);
        return replica;
      },
      committed: async () => {
        const keys: string[] = [];
        for await (const key of await cursors.keys()) keys.push(key);
        if (keys.length !== 1) return undefined;
        const entry = await cursors.get(keys[0] as string);
        return entry === null || entry.operation !== 'PUT' ? undefined : Number(entry.string());
      },
    });
  }, 240_000);
});
