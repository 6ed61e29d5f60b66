import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer } from '../../../test/infra/nats/server.js';
import type { NatsServer } from '../../../test/infra/nats/server.js';
import { createJetStreamStore } from './jetstream-store.js';
import type { JetStreamEventStore } from './jetstream-store.js';
import { removeBrokerStreams } from './testing/remove-broker.js';

// A real nats-server (built by test/infra/nats/build.sh); a missing binary fails the file.
let server: NatsServer;
let admin: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  admin = await connect({ servers: server.url });
});

afterAll(async () => {
  await admin?.close();
  await server?.stop();
});

const broker = `dw${process.pid}`;

const removeBroker = (): Promise<void> => removeBrokerStreams(admin, broker);

describe('jetstream store: the duplicate window against max_age', () => {
  // JetStream requires duplicate_window <= max_age. The store used to cut the window to max_age without
  // a word (--retention-max-age 30s --dedupe-window 2m deduplicated for 30 s), and a nats-server restart
  // rebuilds its duplicate map only from the messages still stored. A window above max_age is refused.
  it('refuses a dedupe window longer than max_age instead of cutting it, and makes no stream', async () => {
    let made: JetStreamEventStore | undefined;
    try {
      expect(() => {
        made = createJetStreamStore({
          servers: server.url,
          brokerName: broker,
          dedupeWindowMs: 120_000,
          retention: { maxAgeMs: 30_000 },
        });
      }).toThrow(expect.objectContaining({ code: 'HERALD_INVALID_CONFIG' }));
    } finally {
      if (made !== undefined) {
        await made.whenReady();
        const { config } = await (await jetstreamManager(admin)).streams.info(`HERALD_${broker}`);
        await made.close();
        await removeBroker();
        expect.fail(`the store ran with a ${config.duplicate_window / 1e9} s duplicate window`);
      }
    }
    await expect((await jetstreamManager(admin)).streams.info(`HERALD_${broker}`)).rejects.toThrow();
    // Deduplication off: the retry window is cut to max_age, as before (nothing was promised).
    const store = createJetStreamStore({
      servers: server.url,
      brokerName: broker,
      dedupeWindowMs: 0,
      retention: { maxAgeMs: 1_000 },
    });
    await store.whenReady();
    try {
      const { config } = await (await jetstreamManager(admin)).streams.info(`HERALD_${broker}`);
      expect(config.duplicate_window).toBe(nanos(1_000));
    } finally {
      await store.close();
      await removeBroker();
    }
  });
});
