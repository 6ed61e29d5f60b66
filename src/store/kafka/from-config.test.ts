import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadBrokerConfig } from '../../config/index.js';
import { openKafkaStore } from './from-config.js';

const dir = mkdtempSync(path.join(tmpdir(), 'herald-kafka-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problems(argv: readonly string[]): readonly string[] {
  try {
    loadBrokerConfig(argv, {});
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the configuration to be rejected');
}

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('kafka settings', () => {
  it('reads the brokers, replication factor, SASL and TLS settings', () => {
    const config = loadBrokerConfig(
      [
        '--store',
        'kafka',
        '--kafka-brokers',
        '127.0.0.1:9092,127.0.0.1:9093',
        '--kafka-replication-factor',
        '3',
        '--kafka-request-timeout',
        '2s',
        '--kafka-sasl-mechanism',
        'scram-sha-512',
        '--kafka-sasl-username',
        'herald',
        '--kafka-sasl-password-file',
        '/run/secrets/kafka',
        '--kafka-tls',
        '--kafka-ca',
        '/etc/ca.pem',
      ],
      {},
    );
    expect(config.kafka).toEqual({
      brokers: '127.0.0.1:9092,127.0.0.1:9093',
      replicationFactor: 3,
      requestTimeoutMs: 2_000,
      sasl: { mechanism: 'scram-sha-512', username: 'herald', passwordFile: '/run/secrets/kafka' },
      tls: true,
      ca: '/etc/ca.pem',
    });
    expect(loadBrokerConfig([], {}).kafka).toEqual({
      brokers: undefined,
      replicationFactor: 1,
      requestTimeoutMs: 5_000,
      sasl: undefined,
      tls: false,
      ca: undefined,
    });
  });

  it.each([
    ['kafka without brokers', ['--store', 'kafka'], '--kafka-brokers'],
    ['SASL without credentials', ['--kafka-sasl-mechanism', 'plain'], '--kafka-sasl-mechanism'],
    ['an unknown SASL mechanism', ['--kafka-sasl-mechanism', 'gssapi'], '--kafka-sasl-mechanism'],
    ['a CA without TLS', ['--kafka-ca', '/etc/ca.pem'], '--kafka-ca'],
    ['a replication factor of 0', ['--kafka-replication-factor', '0'], '--kafka-replication-factor'],
    ['a request timeout below 500 ms', ['--kafka-request-timeout', '100ms'], '--kafka-request-timeout'],
  ])('rejects %s, naming the option', (_name, argv, needle) => {
    const lines = problems(argv);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(needle);
  });

  it('refuses a password file it cannot read, and strips the final newline of one it can', async () => {
    const base = ['--store', 'kafka', '--kafka-brokers', '127.0.0.1:1', '--kafka-sasl-mechanism', 'plain'];
    const missing = loadBrokerConfig(
      [...base, '--kafka-sasl-username', 'u', '--kafka-sasl-password-file', path.join(dir, 'none')],
      {},
    );
    expect(() => openKafkaStore(missing, silent)).toThrow(/kafka-sasl-password-file/);
    const file = path.join(dir, 'password');
    writeFileSync(file, 's3cret\n');
    const store = openKafkaStore(
      loadBrokerConfig(
        [
          ...base,
          '--kafka-sasl-username',
          'u',
          '--kafka-sasl-password-file',
          file,
          '--kafka-request-timeout',
          '7s',
        ],
        {},
      ),
      silent,
    );
    try {
      type Settings = { security: { sasl: unknown }; requestTimeoutMs: number };
      const { settings } = store as unknown as { settings: Settings };
      expect(settings.security.sasl).toEqual({ mechanism: 'PLAIN', username: 'u', password: 's3cret' });
      expect(settings.requestTimeoutMs).toBe(7_000);
      expect(store.isReady()).toBe(false);
    } finally {
      await store.close();
    }
  });
});
