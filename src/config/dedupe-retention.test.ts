import { describe, expect, it } from 'vitest';
import { loadBrokerConfig } from './load.js';
import { configProblems as problems } from './testing/config-problems.js';

const STORES = {
  jetstream: ['--store', 'jetstream', '--nats-url', 'nats://127.0.0.1:4222'],
  kafka: ['--store', 'kafka', '--kafka-brokers', '127.0.0.1:9092'],
} as const;

const accepts = (argv: readonly string[]) => expect(() => loadBrokerConfig(argv, {})).not.toThrow();

// JetStream and Kafka rebuild the dedupe window from the events still stored, and JetStream caps its
// duplicate window at max_age: an age limit below the window cannot keep the --dedupe-window promise.
describe('--retention-max-age against --dedupe-window', () => {
  for (const [store, flags] of Object.entries(STORES)) {
    it(`${store}: refuses an age limit below the dedupe window, naming both flags`, () => {
      const lines = problems([...flags, '--retention-max-age', '30s', '--dedupe-window', '2m']);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^--retention-max-age\b/);
      expect(lines[0]).toContain('--dedupe-window');
      // The default window (2m) counts too: an operator who only set the age limit learns why.
      expect(problems([...flags, '--retention-max-age', '1m'])).toHaveLength(1);
    });

    it(`${store}: accepts an age limit at or above the window, no age limit, or deduplication off`, () => {
      accepts([...flags, '--retention-max-age', '2m', '--dedupe-window', '2m']);
      accepts([...flags, '--retention-max-age', '30s', '--dedupe-window', '30s']);
      accepts([...flags, '--retention-max-events', '10', '--dedupe-window', '10m']);
      accepts([...flags, '--retention-max-age', '30s', '--dedupe-window', '0']);
    });
  }

  it('embedded: accepts an age limit below the window (retention keeps the keys it deletes)', () => {
    accepts(['--retention-max-age', '30s', '--dedupe-window', '2m']);
  });
});
