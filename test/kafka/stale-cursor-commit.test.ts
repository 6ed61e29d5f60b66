// Two broker replicas on one Kafka node: a replica that stalled past its claim must not move the committed
// cursor back over the new holder's when it wakes (the scenario: ../jetstream/stale-commit-scenario.ts).
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createKafkaStore } from '../../src/store/kafka/kafka-store.js';
import type { KafkaEventStore } from '../../src/store/kafka/kafka-store.js';
import type { BrokerProcess } from '../harness/processes.js';
import { startKafkaCluster } from '../infra/kafka/server.js';
import type { KafkaCluster } from '../infra/kafka/server.js';
import { staleCommitScenario, startRecordingSink } from '../jetstream/stale-commit-scenario.js';
import type { RecordingSink } from '../jetstream/stale-commit-scenario.js';
import { startKafkaBroker, uniqueBrokerName } from './brokers.js';
import { killReplicas } from '../jetstream/brokers.js';

describe('kafka replicas: a stale replica that wakes after losing its claim', () => {
  let kafka: KafkaCluster;
  let sink: RecordingSink;
  let reader: KafkaEventStore | undefined;
  const replicas: BrokerProcess[] = [];

  beforeAll(async () => {
    [kafka, sink] = await Promise.all([startKafkaCluster(1), startRecordingSink()]);
  }, 180_000);

  afterAll(async () => {
    await killReplicas(replicas);
    await reader?.close();
    await sink?.close();
    await kafka?.stop();
  });

  it('does not move the committed cursor back over the new holder’s: nothing is delivered twice after a second takeover', async () => {
    const brokerName = uniqueBrokerName('stale');
    await staleCommitScenario({
      sink,
      start: async (onOutput) => {
        const replica = await startKafkaBroker(kafka.bootstrap, { brokerName, onOutput });
        replicas.push(replica);
        return replica;
      },
      // The committed cursor as the state topic holds it, read by a store of the same broker that
      // delivers nothing: under the subscription's id and incarnation (its stored definition has it).
      committed: async (id) => {
        reader ??= createKafkaStore({ brokers: kafka.bootstrap, brokerName });
        await reader.whenReady();
        const record = (await reader.listSubscriptions()).find((r) => r.id === id);
        if (record === undefined) return undefined;
        const { incarnation } = JSON.parse(record.document) as { incarnation: string };
        return reader.getCursor(`${id}~${incarnation}`);
      },
    });
  }, 300_000);
});
