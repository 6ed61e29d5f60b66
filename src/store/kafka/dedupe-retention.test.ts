import { Admin } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaCluster } from '../../../test/infra/kafka/server.js';
import type { KafkaCluster } from '../../../test/infra/kafka/server.js';
import { freePort } from '../../../test/infra/process.js';
import { sampleEvent } from '../testing/conformance.js';
import { createKafkaStore } from './kafka-store.js';
import type { KafkaEventStore, KafkaStoreOptions } from './kafka-store.js';

// The Kafka store rebuilds its dedupe window on start from the retained log (the herald-dedupe header):
// an event the age limit deleted inside the window would be stored again when re-sent after a restart.
// An age limit below the window is refused; no Kafka is needed to see that the store does not start.
describe('kafka store: --retention-max-age against --dedupe-window', () => {
  it('refuses an age limit below the dedupe window', async () => {
    // A loopback port nothing listens on: were the store made, it would only retry connecting.
    const brokers = `127.0.0.1:${await freePort()}`;
    const settings = { brokers, brokerName: 'dedupe-age', dedupeWindowMs: 120_000 };
    let made: KafkaEventStore | undefined;
    try {
      expect(() => {
        made = createKafkaStore({ ...settings, retention: { maxAgeMs: 30_000 } });
      }).toThrow(expect.objectContaining({ code: 'HERALD_INVALID_CONFIG' }));
    } finally {
      await made?.close();
    }
    // At or above the window, or with deduplication off, the store is made.
    for (const options of [
      { ...settings, retention: { maxAgeMs: 120_000 } },
      { ...settings, dedupeWindowMs: 0, retention: { maxAgeMs: 30_000 } },
    ]) {
      const store = createKafkaStore(options);
      await store.close();
    }
  });
});

// The count and size limits are Herald's own (DeleteRecords in `applyRetention`): they delete events
// inside the dedupe window whatever the window, so what the store learns on start must include them.
describe('kafka store: count and size retention inside the dedupe window', () => {
  // One real Kafka node (fetched by test/infra/kafka/build.sh); a missing Kafka fails these tests.
  let kafka: KafkaCluster;
  let admin: Admin;
  let brokers = 0;

  beforeAll(async () => {
    kafka = await startKafkaCluster(1);
    admin = new Admin({ clientId: 'herald-test-admin', bootstrapBrokers: [kafka.bootstrap] });
  }, 120_000);

  afterAll(async () => {
    await admin?.close();
    await kafka?.stop();
  });

  /**
   * X is stored, retention removes it, the store restarts (it rebuilds its window on start), and X is
   * sent again well inside the dedupe window: it is acknowledged as a duplicate, not stored again.
   */
  async function resendAfterRetention(retention: NonNullable<KafkaStoreOptions['retention']>) {
    const options = {
      brokers: kafka.bootstrap,
      brokerName: `dr${process.pid}-${++brokers}`,
      dedupeWindowMs: 600_000,
      retention,
    };
    const first = createKafkaStore(options);
    let second: KafkaEventStore | undefined;
    try {
      await first.whenReady();
      const [x] = await first.append([{ event: sampleEvent('x') }]);
      for (let i = 0; i < 4; i++) await first.append([{ event: sampleEvent(`other-${i}`) }]);
      await first.applyRetention();
      expect((await first.read(1, 10)).map((e) => e.event.attributes['id'])).not.toContain('x');
      await first.close();
      second = createKafkaStore(options);
      await second.whenReady();
      const [again] = await second.append([{ event: sampleEvent('x') }]);
      expect(again).toEqual({ sequence: x?.sequence, duplicate: true });
      const stats = await second.stats();
      expect(stats.last).toBe(5);
    } finally {
      await first.close();
      await second?.close();
      await admin
        .deleteTopics({
          topics: [first.eventsTopic, first.stateTopic, first.deadLetterTopic, first.retiredTopic],
        })
        .catch(() => undefined);
    }
  }

  it('does not store again an event --retention-max-events removed, after the store restarts', async () => {
    await resendAfterRetention({ maxEvents: 2 });
  });

  it('does not store again an event --retention-max-bytes removed, after the store restarts', async () => {
    // Records of about 160 bytes: 400 keeps the last two.
    await resendAfterRetention({ maxBytes: 400 });
  });
});
