// A Channel's retention.maxAge becomes the broker's --retention-max-age, and `herald broker` refuses an
// age limit below --dedupe-window on the jetstream and kafka stores. The operator leaves the window at
// its default (2m) unless the age limit is shorter: then the broker's window is the age limit, or a
// Channel with `maxAge: 1m` would give a configuration every pod exits on. No cluster needed: the
// operator's herald.yaml is loaded here exactly as the broker loads it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBrokerConfig } from '../../src/config/index.js';
import type { Broker, Channel } from '../../src/k8s-api/index.js';
import { brokerConfigFile } from '../../src/operator/resources.js';

const dir = mkdtempSync(path.join(tmpdir(), 'herald-channel-dedupe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const broker: Broker = {
  apiVersion: 'eventing.herald.dev/v1alpha1',
  kind: 'Broker',
  metadata: { name: 'orders', namespace: 'shop' },
  spec: { channel: 'events' },
};

const stores = {
  jetstream: { type: 'jetstream', jetstream: { url: 'nats://nats.shop:4222' } },
  kafka: { type: 'kafka', kafka: { brokers: 'kafka.shop:9092' } },
  embedded: { type: 'embedded' },
} as const;

function channel(type: keyof typeof stores, maxAge: string): Channel {
  return {
    apiVersion: 'eventing.herald.dev/v1alpha1',
    kind: 'Channel',
    metadata: { name: 'events', namespace: 'shop' },
    spec: { ...stores[type], retention: { maxAge } },
  };
}

let files = 0;
function load(text: string) {
  const file = path.join(dir, `herald-${++files}.yaml`);
  writeFileSync(file, text);
  return loadBrokerConfig(['--config', file], {});
}

describe("the operator's broker configuration for a Channel's retention.maxAge", () => {
  for (const type of ['jetstream', 'kafka'] as const) {
    it(`${type}: a maxAge below the default dedupe window gives a window of maxAge, which the broker accepts`, () => {
      const config = load(brokerConfigFile(broker, channel(type, '1m')));
      expect(config.retention.maxAgeMs).toBe(60_000);
      expect(config.dedupeWindowMs).toBe(60_000);
    });

    it(`${type}: a maxAge at or above the default window keeps the default window`, () => {
      expect(load(brokerConfigFile(broker, channel(type, 'P7D'))).dedupeWindowMs).toBe(120_000);
      expect(load(brokerConfigFile(broker, channel(type, '2m'))).dedupeWindowMs).toBe(120_000);
    });
  }

  it('embedded: keeps the default window (its retention keeps the keys it deletes)', () => {
    const text = brokerConfigFile(broker, channel('embedded', '1m'));
    expect(text).not.toContain('dedupe-window');
    expect(load(text).dedupeWindowMs).toBe(120_000);
  });
});
