import { describe, expect, it } from 'vitest';
import { freePort } from '../../../test/infra/process.js';
import { createKafkaStore } from './kafka-store.js';
import type { KafkaEventStore } from './kafka-store.js';

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
