import { Admin, Producer } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaCluster } from '../../../test/infra/kafka/server.js';
import type { KafkaCluster } from '../../../test/infra/kafka/server.js';
import { sampleEvent } from '../testing/conformance.js';
import { createKafkaStore } from './kafka-store.js';
import type { KafkaEventStore } from './kafka-store.js';

// One real Kafka node for the file; each test has its own broker name, hence its own topics.
let kafka: KafkaCluster;
let admin: Admin;
let raw: Producer;
let brokers = 0;

beforeAll(async () => {
  kafka = await startKafkaCluster(1);
  admin = new Admin({ clientId: 'herald-test-admin', bootstrapBrokers: [kafka.bootstrap] });
  raw = new Producer({ clientId: 'herald-test-raw', bootstrapBrokers: [kafka.bootstrap] });
}, 120_000);

afterAll(async () => {
  await raw?.close();
  await admin?.close();
  await kafka?.stop();
});

const nextBroker = () => `undecodable${process.pid}-${++brokers}`;

async function open(broker: string): Promise<KafkaEventStore> {
  const store = createKafkaStore({ brokers: kafka.bootstrap, brokerName: broker });
  await store.whenReady();
  return store;
}

async function removeBroker(broker: string): Promise<void> {
  await admin
    .deleteTopics({
      topics: [
        `herald.${broker}.events`,
        `herald.${broker}.state`,
        `herald.${broker}.deadletters`,
        `herald.${broker}.retired`,
      ],
    })
    .catch(() => undefined);
}

/** Produces one record by hand, with Herald's headers. */
async function produceByHand(
  topic: string,
  key: string | undefined,
  value: string,
  pairs: Array<[string, string]>,
) {
  await raw.send({
    messages: [
      {
        topic,
        ...(key === undefined ? {} : { key: Buffer.from(key) }),
        value: Buffer.from(value),
        headers: new Map(pairs.map(([k, v]) => [Buffer.from(k), Buffer.from(v)])),
      },
    ],
  });
}

const letter = (id: string) => ({
  subscription: 'sub-1',
  sequence: 1,
  event: sampleEvent(id),
  trace: undefined,
  error: { code: 'HERALD_SINK_REJECTED', message: '400 Bad Request', status: 400 },
  attempts: 1,
  deadLetteredAt: 1234,
});

describe('the kafka store and records its codec cannot decode', () => {
  it("skips an event record with Herald's headers whose attributes are not a JSON object", async () => {
    const broker = nextBroker();
    const store = await open(broker);
    try {
      await store.append([{ event: sampleEvent('before') }]);
      for (const value of ['null', '[1,2]', '"text"']) {
        await produceByHand(store.eventsTopic, undefined, value, [
          ['herald-attrs', String(Buffer.byteLength(value))],
          ['herald-kind', '0'],
        ]);
      }
      await store.append([{ event: sampleEvent('after') }]);
      const all = await store.read(1, 10);
      expect(all.map((e) => [e.sequence, e.event.attributes['id']])).toEqual([
        [1, 'before'],
        [5, 'after'],
      ]);
    } finally {
      await store.close();
      await removeBroker(broker);
    }
  }, 60_000);

  it('reads past a fetch that answered foreign records only', async () => {
    const broker = nextBroker();
    const store = await open(broker);
    try {
      await store.append([{ event: sampleEvent('before') }]);
      // Larger than a fetch's 1 MiB: Kafka answers the record alone, and the event after it needs another fetch.
      await produceByHand(store.eventsTopic, undefined, 'x'.repeat(1_200_000), []);
      await store.append([{ event: sampleEvent('after') }]);
      expect((await store.read(2, 10)).map((e) => [e.sequence, e.event.attributes['id']])).toEqual([
        [3, 'after'],
      ]);
    } finally {
      await store.close();
      await removeBroker(broker);
    }
  }, 60_000);

  it("lists and trims dead letters past one whose error header is not Herald's JSON", async () => {
    const broker = nextBroker();
    const store = await open(broker);
    try {
      const first = await store.addDeadLetter(letter('first'));
      const attrs = JSON.stringify({ specversion: '1.0', id: 'x', source: '/s', type: 't' });
      await produceByHand(store.deadLetterTopic, 'sub-1\u0000by-hand', attrs, [
        ['herald-attrs', String(Buffer.byteLength(attrs))],
        ['herald-kind', '0'],
        ['herald-subscription', 'sub-1'],
        ['herald-sequence', '1'],
        ['herald-error', 'not json'],
        ['herald-attempts', '1'],
        ['herald-at', '1234'],
      ]);
      const last = await store.addDeadLetter(letter('last'));
      const listed = await store.listDeadLetters('sub-1', 10);
      expect(listed.map((l) => [l.id, l.event.attributes['id']])).toEqual([
        [first.id, 'first'],
        [last.id, 'last'],
      ]);
      // Trimming to one letter keeps the newest of the ones Herald wrote.
      await store.trimDeadLetters({ maxAgeMs: 0, maxLetters: 1, maxBytes: 0 }, Date.now());
      expect((await store.listDeadLetters('sub-1', 10)).map((l) => l.id)).toEqual([last.id]);
    } finally {
      await store.close();
      await removeBroker(broker);
    }
  }, 60_000);
});
