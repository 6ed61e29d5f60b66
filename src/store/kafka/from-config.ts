import { readFileSync } from 'node:fs';
import type { BrokerConfig } from '../../config/index.js';
import { HeraldError } from '../../errors/index.js';
import type { StoreLogger } from './follower.js';
import { createKafkaStore } from './kafka-store.js';
import type { KafkaEventStore } from './kafka-store.js';

const MECHANISMS = {
  plain: 'PLAIN',
  'scram-sha-256': 'SCRAM-SHA-256',
  'scram-sha-512': 'SCRAM-SHA-512',
} as const;

/**
 * The Kafka store as the broker's configuration describes it. Connects in the background: the broker
 * starts while Kafka is away and is not ready until it answers.
 */
export function openKafkaStore(config: BrokerConfig, logger: StoreLogger): KafkaEventStore {
  const { kafka } = config;
  let password: string | undefined;
  if (kafka.sasl !== undefined) {
    try {
      password = readFileSync(kafka.sasl.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new HeraldError(
        'HERALD_INVALID_CONFIG',
        `--kafka-sasl-password-file: cannot read ${kafka.sasl.passwordFile}: ${(error as Error).message}`,
      );
    }
  }
  return createKafkaStore({
    brokers: kafka.brokers ?? '',
    brokerName: config.brokerName,
    replicationFactor: kafka.replicationFactor,
    requestTimeoutMs: kafka.requestTimeoutMs,
    dedupeWindowMs: config.dedupeWindowMs,
    retention: config.retention,
    // A request may carry up to --max-request-size of events: one record batch must hold them all.
    maxBatchBytes: config.maxRequestSize + 1024 * 1024,
    security: {
      ...(kafka.sasl === undefined
        ? {}
        : {
            sasl: {
              mechanism: MECHANISMS[kafka.sasl.mechanism],
              username: kafka.sasl.username,
              password: password ?? '',
            },
          }),
      ...(kafka.tls ? { tls: { ca: kafka.ca } } : {}),
    },
    logger,
  });
}
