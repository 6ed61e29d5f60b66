import { jetstreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/infra/process.js';
import { startNatsServer } from '../../../test/infra/nats/server.js';
import type { NatsServer } from '../../../test/infra/nats/server.js';
import { startNatsRelay } from '../../../test/infra/nats/relay.js';
import type { NatsRelay as Relay } from '../../../test/infra/nats/relay.js';
import { DataKind } from '../../cloudevents/index.js';
import type { CloudEvent } from '../../cloudevents/index.js';
import { describeStoreConformance, sampleEvent, serverStoreHarness } from '../testing/conformance.js';
import type { StoredEvent } from '../types.js';
import type { StoreHarnessOptions } from '../testing/conformance.js';
import { describeSharedStoreConformance } from '../testing/shared-conformance.js';
import { createJetStreamStore } from './jetstream-store.js';
import type { JetStreamEventStore, JetStreamStoreOptions } from './jetstream-store.js';
import { until } from '../../testing/until.js';
import { removeBrokerStreams } from './testing/remove-broker.js';

// One real nats-server (built by test/infra/nats/build.sh) for the whole file; each test gets its own
// broker name, hence its own stream and buckets. A missing binary fails the file, it never skips it.
let server: NatsServer;
let admin: NatsConnection;
let brokers = 0;

beforeAll(async () => {
  server = await startNatsServer();
  admin = await connect({ servers: server.url });
});

afterAll(async () => {
  await admin?.close();
  await server?.stop();
});

const nextBroker = () => `t${process.pid}-${++brokers}`;

const removeBroker = (broker: string): Promise<void> => removeBrokerStreams(admin, broker);

async function open(
  broker: string,
  options: Partial<JetStreamStoreOptions> = {},
  url = server.url,
): Promise<JetStreamEventStore> {
  const store = createJetStreamStore({ servers: url, brokerName: broker, ...options });
  await store.whenReady();
  return store;
}

/**
 * The contract's options, with the dedupe window cut to an age limit below it: the jetstream store refuses
 * `maxAgeMs` below the dedupe window (a restart would forget events the limit deleted inside it).
 */
function windowWithinAge(options: StoreHarnessOptions): StoreHarnessOptions {
  const maxAgeMs = options.retention?.maxAgeMs ?? 0;
  const windowMs = options.dedupeWindowMs ?? 120_000;
  return maxAgeMs > 0 && maxAgeMs < windowMs ? { ...options, dedupeWindowMs: maxAgeMs } : options;
}

async function openHarness(options: StoreHarnessOptions) {
  const broker = nextBroker();
  return serverStoreHarness(
    windowWithinAge(options),
    (settings) => open(broker, settings),
    () => removeBroker(broker),
  );
}

describeStoreConformance('jetstream', openHarness);

describeSharedStoreConformance('jetstream', () => {
  const broker = nextBroker();
  return {
    open: ({ claimTtlMs, announcedWakeOnly } = {}) =>
      open(broker, {
        ...(claimTtlMs === undefined ? {} : { claimTtlMs }),
        ...(announcedWakeOnly === true ? { notificationCheckMs: 0 } : {}),
      }),
    // The holder's connection dies without releasing (a crashed replica, from NATS's point of view).
    stopRenewing: (store) => (store as unknown as { handles: { nc: NatsConnection } }).handles.nc.close(),
    tellsLost: true,
    remove: () => removeBroker(broker),
  };
});

/** Runs `body` on a store of its own broker connected through a relay; closes and removes both after. */
async function withRelayedStore(
  options: Partial<JetStreamStoreOptions>,
  body: (store: JetStreamEventStore, relay: Relay) => Promise<void>,
): Promise<void> {
  const relay = await startNatsRelay(server.port);
  const broker = nextBroker();
  const store = await open(broker, options, relay.url);
  try {
    await body(store, relay);
  } finally {
    relay.release();
    await store.close();
    relay.close();
    await removeBroker(broker);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('jetstream store', () => {
  it('maps the dedupe window and retention onto the stream, and duplicate acks onto outcomes', async () => {
    const broker = nextBroker();
    let store = await open(broker, {
      dedupeWindowMs: 3_000,
      retention: { maxAgeMs: 3_000, maxEvents: 100, maxBytes: 1 << 20 },
    });
    try {
      const { config } = await (await jetstreamManager(admin)).streams.info(`HERALD_${broker}`);
      expect(config.duplicate_window).toBe(nanos(3_000));
      expect(config.max_age).toBe(nanos(3_000));
      expect(config.max_msgs).toBe(100);
      expect(config.max_bytes).toBe(1 << 20);
      expect(config.discard).toBe('old');
      expect(config.allow_atomic).toBe(true);
      expect(config.allow_direct).toBe(true);
      await store.close();
      // Settings changed between runs are applied to the existing stream and buckets.
      store = await open(broker, { dedupeWindowMs: 1_000, claimTtlMs: 4_000 });
      const jsm = await jetstreamManager(admin);
      expect((await jsm.streams.info(`HERALD_${broker}`)).config).toMatchObject({
        duplicate_window: nanos(1_000),
        max_age: 0,
        max_msgs: -1,
      });
      expect((await jsm.streams.info(`KV_herald_${broker}_claims`)).config.max_age).toBe(nanos(4_000));

      const [a] = await store.append([{ event: sampleEvent('a') }]);
      // A batch naming a stored event: the server rejects it whole, the store then stores it event by event.
      const mixed = await store.append([
        { event: sampleEvent('b') },
        { event: sampleEvent('a') },
        { event: sampleEvent('c') },
      ]);
      expect(mixed).toEqual([
        { sequence: a!.sequence + 1, duplicate: false },
        { sequence: a!.sequence, duplicate: true },
        { sequence: a!.sequence + 2, duplicate: false },
      ]);
      expect((await store.read(0, 10)).map((e) => e.event.attributes['id'])).toEqual(['a', 'b', 'c']);
    } finally {
      await store.close();
      await removeBroker(broker);
    }
  });

  it('stores a batch whole or not at all, with contiguous sequences', async () => {
    const broker = nextBroker();
    const store = await open(broker);
    try {
      const outcomes = await store.append(
        Array.from({ length: 200 }, (_, i) => ({ event: sampleEvent(`n${i}`) })),
      );
      expect(outcomes.map((o) => o.sequence)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      // Make the server refuse one message of the next batch: nothing of it may be stored.
      const jsm = await jetstreamManager(admin);
      const { config } = await jsm.streams.info(`HERALD_${broker}`);
      await jsm.streams.update(`HERALD_${broker}`, { ...config, max_msg_size: 400 });
      const big = sampleEvent('big');
      const refused = store.append([
        { event: sampleEvent('x1') },
        { event: { ...big, data: new Uint8Array(600) } },
        { event: sampleEvent('x2') },
      ]);
      await expect(refused).rejects.toMatchObject({ code: 'HERALD_PAYLOAD_TOO_LARGE' });
      const stats = await store.stats();
      expect(stats).toMatchObject({ last: 200, events: 200 });
      expect(
        await store
          .append(Array.from({ length: 1001 }, (_, i) => ({ event: sampleEvent(`m${i}`) })))
          .then(() => 'stored')
          .catch((e: { code: string }) => e.code),
      ).toBe('HERALD_PAYLOAD_TOO_LARGE');
    } finally {
      await store.close();
      await removeBroker(broker);
    }
  });

  it('can read a page from the stream leader, for when the replica answering direct gets lags', async () => {
    const broker = nextBroker();
    const store = await open(broker, { retention: { maxEvents: 4 } });
    try {
      for (let i = 0; i < 6; i++) await store.append([{ event: sampleEvent(`l${i}`) }]);
      // Sequences 1 and 2 are gone (max_msgs 4): the page starts at the first one at or after `start`.
      const internals = store as unknown as {
        handles: unknown;
        log: {
          leaderPage(handles: unknown, start: number, limit: number): Promise<Array<{ seq: number }>>;
        };
      };
      const page = await internals.log.leaderPage(internals.handles, 1, 3);
      expect(page.map((m) => m.seq)).toEqual([3, 4, 5]);
      expect(await internals.log.leaderPage(internals.handles, 7, 3)).toEqual([]);
    } finally {
      await store.close();
      await removeBroker(broker);
    }
  });

  it('does not take an append that lands while an empty read is in flight for a lagging replica', async () => {
    const broker = nextBroker();
    const store = await open(broker);
    try {
      const [first] = await store.append([{ event: sampleEvent('r1') }]);
      // The tail reads ahead of the writers: the get for the next sequence is answered "nothing" by
      // the server, and the next append is acknowledged before that answer is looked at.
      type GetBatch = (...args: unknown[]) => Promise<unknown>;
      const { direct } = (store as unknown as { handles: { jsm: { direct: { getBatch: GetBatch } } } })
        .handles.jsm;
      const getBatch = direct.getBatch.bind(direct);
      let appended: Promise<unknown> | undefined;
      direct.getBatch = (...args: unknown[]) => {
        const answer = getBatch(...args);
        appended ??= store.append([{ event: sampleEvent('r2') }]);
        return appended.then(() => answer);
      };
      const page = await store.read(first!.sequence + 1, 10);
      direct.getBatch = getBatch;
      await appended;
      // Nothing was there when the get was sent: an empty page, not a lagging-replica retry.
      expect(page).toEqual([]);
      expect(store.counters.laggingReads).toBe(0);
      expect((await store.read(first!.sequence + 1, 10)).map((e) => e.event.attributes['id'])).toEqual([
        'r2',
      ]);
    } finally {
      await store.close();
      await removeBroker(broker);
    }
  });

  it('publishes single events asked for in one turn together, each answered by its own ack', async () => {
    const broker = nextBroker();
    const store = await open(broker);
    try {
      await store.append([{ event: sampleEvent('g0') }]);
      const before = { ...store.counters };
      const outcomes = await Promise.all(
        [...Array.from({ length: 20 }, (_, i) => `g${i + 1}`), 'g0', 'g5'].map(async (id) => {
          const [outcome] = await store.append([{ event: sampleEvent(id) }]);
          // Answered only once stored: the event reads back at its sequence.
          const [read] = await store.read(outcome!.sequence, 1);
          expect(read?.event.attributes['id']).toBe(id);
          return outcome!;
        }),
      );
      expect(store.counters.publishGroups - before.publishGroups).toBe(1);
      expect(store.counters.groupedPublishes - before.groupedPublishes).toBe(22);
      const fresh = outcomes.slice(0, 20);
      expect(fresh.every((o) => !o.duplicate)).toBe(true);
      expect(new Set(fresh.map((o) => o.sequence)).size).toBe(20);
      // Duplicates in the group keep their Nats-Msg-Id semantics.
      expect(outcomes[20]).toEqual({ sequence: 1, duplicate: true });
      expect(outcomes[21]).toEqual({ sequence: fresh[4]!.sequence, duplicate: true });
      expect((await store.stats()).events).toBe(21);
    } finally {
      await store.close();
      await removeBroker(broker);
    }
  });

  it('starts while NATS is down, refuses appends until it is up, then becomes ready', async () => {
    const port = await freePort();
    const broker = nextBroker();
    const store = createJetStreamStore({ servers: `nats://127.0.0.1:${port}`, brokerName: broker });
    let late: NatsServer | undefined;
    try {
      await sleep(300);
      expect(store.isReady()).toBe(false);
      await expect(store.append([{ event: sampleEvent('early') }])).rejects.toMatchObject({
        code: 'HERALD_STORE_UNAVAILABLE',
        retryAfter: 1,
      });
      // Calls other than append wait for the connection instead of failing.
      const stats = store.stats();
      late = await startNatsServer({ port });
      await store.whenReady();
      expect(store.isReady()).toBe(true);
      expect((await stats).last).toBe(0);
      const [outcome] = await store.append([{ event: sampleEvent('late') }]);
      expect(outcome).toEqual({ sequence: 1, duplicate: false });
    } finally {
      await store.close();
      await late?.stop();
    }
  });

  it('survives a restart of the server: refuses appends while it is away, then resumes', async () => {
    const own = await startNatsServer();
    const broker = nextBroker();
    const store = await open(broker, {}, own.url);
    try {
      await store.append([{ event: sampleEvent('before') }]);
      const waiting = store.waitForAppend(1);
      await own.kill('SIGKILL');
      await until('the store notices', () => !store.isReady());
      await expect(store.append([{ event: sampleEvent('lost') }])).rejects.toMatchObject({
        code: 'HERALD_STORE_UNAVAILABLE',
      });
      await own.restart();
      await until('ready again', () => store.isReady());
      const [after] = await store.append([{ event: sampleEvent('after') }]);
      expect(after?.sequence).toBe(2);
      await waiting;
      expect((await store.read(1, 10)).map((e) => e.event.attributes['id'])).toEqual(['before', 'after']);
    } finally {
      await store.close();
      await own.stop();
    }
  });

  it('retries a publish whose ack did not come in time; the event is stored once', async () => {
    await withRelayedStore({ requestTimeoutMs: 300, publishRetryMs: 20_000 }, async (store, relay) => {
      await store.append([{ event: sampleEvent('before') }]);
      const groups = store.counters.publishGroups;
      // The server's answers stop reaching the store (the connection stays up: pings are 10 s apart).
      relay.hold();
      const pending = store.append([{ event: sampleEvent('paused') }]);
      // The first attempt's deadline passes and the same message (same Nats-Msg-Id) is sent again.
      await until('a retry', () => store.counters.publishGroups >= groups + 2);
      relay.release();
      const [outcome] = await pending;
      expect(outcome?.sequence).toBe(2);
      expect((await store.stats()).events).toBe(2);
      expect((await store.read(1, 10)).map((e) => e.event.attributes['id'])).toEqual(['before', 'paused']);
    });
  });

  it('stores a retried publish and a retried batch once with --dedupe-window 0 too', async () => {
    const settings = { dedupeWindowMs: 0, requestTimeoutMs: 300, publishRetryMs: 20_000 };
    await withRelayedStore(settings, async (store, relay) => {
      await store.append([{ event: sampleEvent('before') }]);
      const groups = store.counters.publishGroups;
      relay.hold();
      const single = store.append([{ event: sampleEvent('paused') }]);
      // The first attempt was stored; its ack is held back until a second attempt has been sent.
      await until('a retry', () => store.counters.publishGroups >= groups + 2);
      relay.release();
      expect(await single).toEqual([{ sequence: 2, duplicate: false }]);

      // A batch whose commit ack is held back past the request timeout is sent again as a new batch.
      const jsm = await jetstreamManager(admin);
      const lastSeq = async () => (await jsm.streams.info(store.streamName)).state.last_seq;
      relay.countSent('Nats-Batch-Sequence: 1\r\n');
      relay.holdOnceSent('Nats-Batch-Commit');
      const batch = store.append([{ event: sampleEvent('b1') }, { event: sampleEvent('b2') }]);
      await until('the first batch is stored', async () => (await lastSeq()) >= 4);
      await until('the batch is sent again', () => relay.sent('Nats-Batch-Sequence: 1\r\n') >= 2);
      relay.release();
      expect((await batch).map((o) => o.sequence)).toEqual([3, 4]);

      expect((await store.read(1, 10)).map((e) => e.event.attributes['id'])).toEqual([
        'before',
        'paused',
        'b1',
        'b2',
      ]);
      expect((await store.stats()).events).toBe(4);
    });
  });

  it('does not send a publish again once its dedupe window may have passed', async () => {
    // The window (100 ms) is shorter than a request's timeout: a second attempt would not be recognised.
    const settings = { dedupeWindowMs: 100, requestTimeoutMs: 300, publishRetryMs: 20_000 };
    await withRelayedStore(settings, async (store, relay) => {
      await store.append([{ event: sampleEvent('before') }]);
      relay.countSent('Nats-Msg-Id');
      relay.hold();
      const outcome = store.append([{ event: sampleEvent('paused') }]).then(
        () => 'stored',
        (e: { code: string }) => e.code,
      );
      const jsm = await jetstreamManager(admin);
      await until('it is stored', async () => (await jsm.streams.info(store.streamName)).state.last_seq >= 2);
      // Answered 503 rather than sent again: the client may retry; Herald does not store it twice itself.
      expect(await outcome).toBe('HERALD_STORE_UNAVAILABLE');
      relay.release();
      expect((await store.stats()).events).toBe(2);
      expect(relay.sent('Nats-Msg-Id')).toBe(1);
    });
  });

  it('stores a dead letter once when the ack of its first attempt is lost', async () => {
    const settings = { requestTimeoutMs: 300, publishRetryMs: 20_000 };
    await withRelayedStore(settings, async (store, relay) => {
      const letter = {
        subscription: 'dl',
        sequence: 1,
        event: sampleEvent('gave-up'),
        trace: undefined,
        error: { code: 'HERALD_SINK_REJECTED', message: 'the sink answered 400', status: 400 },
        attempts: 3,
        deadLetteredAt: Date.now(),
      };
      relay.countSent('.deadletters.dl ');
      relay.hold();
      // As the dispatcher does (src/dispatch/dead-lettering.ts): a failed add is tried again until it resolves.
      const added = (async () => {
        for (;;) {
          try {
            return await store.addDeadLetter(letter);
          } catch {
            await sleep(10);
          }
        }
      })();
      // The first attempt reached the server and was stored; its ack is held until a second attempt left.
      await until('the letter is sent again', () => relay.sent('.deadletters.dl ') >= 2);
      relay.release();
      const { id } = await added;
      expect(await store.countDeadLetters('dl')).toBe(1);
      expect((await store.listDeadLetters('dl', 10)).map((l) => l.id)).toEqual([id]);
    });
  });

  it('keeps one group of single publishes awaiting its acks; what is asked for meanwhile forms the next group', async () => {
    await withRelayedStore({ requestTimeoutMs: 20_000 }, async (store, relay) => {
      await store.append([{ event: sampleEvent('first') }]);
      const before = { ...store.counters };
      relay.hold();
      const a = store.append([{ event: sampleEvent('a') }]);
      await until('a is published', () => store.counters.publishGroups === before.publishGroups + 1);
      // Asked for in later turns of the event loop, while a's group waits for its PubAck.
      const b = store.append([{ event: sampleEvent('b') }]);
      await sleep(20);
      const c = store.append([{ event: sampleEvent('c') }]);
      await sleep(20);
      expect(store.counters.publishGroups).toBe(before.publishGroups + 1);
      relay.release();
      const outcomes = await Promise.all([a, b, c]);
      expect(outcomes.map(([o]) => o?.sequence)).toEqual([2, 3, 4]);
      // b and c left together, once a was answered.
      expect(store.counters.publishGroups - before.publishGroups).toBe(2);
      expect(store.counters.groupedPublishes - before.groupedPublishes).toBe(3);
    });
  });

  it('does not hold new publishes behind a group whose acks a lost connection took with it', async () => {
    // The lost ack's attempt waits for its whole deadline; nothing else may.
    const settings = { requestTimeoutMs: 120_000, publishRetryMs: 240_000 };
    await withRelayedStore(settings, async (store, relay) => {
      await store.append([{ event: sampleEvent('first') }]);
      const groups = store.counters.publishGroups;
      relay.hold();
      let lostSettled = false;
      store.append([{ event: sampleEvent('ack-lost') }]).then(
        () => (lostSettled = true),
        () => (lostSettled = true),
      );
      await until('it is published', () => store.counters.publishGroups === groups + 1);
      const connections = relay.connections();
      // The server stored it; its PubAck goes down with the connection. The client reconnects.
      relay.cut();
      await until('reconnected', () => relay.connections() > connections && store.isReady());
      const [after] = await store.append([{ event: sampleEvent('after') }]);
      expect(after).toEqual({ sequence: 3, duplicate: false });
      expect(lostSettled).toBe(false);
    });
  });

  it("drops an older build's republish from the stream; an append announced by another process wakes a reader", async () => {
    const broker = nextBroker();
    // An older build's stream: it republished every message to wake readers.
    const jsm = await jetstreamManager(admin);
    await jsm.streams.add({
      name: `HERALD_${broker}`,
      subjects: [`herald.${broker}.events`],
      republish: { src: `herald.${broker}.events`, dest: `herald.${broker}.appended`, headers_only: true },
    });
    // No periodic re-check of the stream: only b's announcement can wake a.
    const [a, b] = [await open(broker, { notificationCheckMs: 0 }), await open(broker)];
    try {
      expect((await jsm.streams.info(`HERALD_${broker}`)).config.republish).toBeUndefined();
      const waiting = a.waitForAppend(0);
      await b.append([{ event: sampleEvent('from-b') }]);
      await waiting;
    } finally {
      await Promise.all([a.close(), b.close()]);
      await removeBroker(broker);
    }
  });

  it('reads its own recent appends without asking JetStream, and what others stored from the stream', async () => {
    const broker = nextBroker();
    const [a, b] = [await open(broker), await open(broker)];
    try {
      // Direct gets of `a`, counted.
      type GetBatch = (...args: unknown[]) => Promise<unknown>;
      const { direct } = (a as unknown as { handles: { jsm: { direct: { getBatch: GetBatch } } } }).handles
        .jsm;
      const getBatch = direct.getBatch.bind(direct);
      let gets = 0;
      direct.getBatch = (...args: unknown[]) => {
        gets++;
        return getBatch(...args);
      };
      const binary: CloudEvent = {
        attributes: { specversion: '1.0', id: 'a2', source: '/conformance', type: 't', subject: 'ü' },
        data: new Uint8Array([0, 1, 2, 255]),
        dataKind: DataKind.Binary,
      };
      const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
      await a.append([{ event: sampleEvent('a1') }, { event: binary, trace }]);
      await b.append([{ event: sampleEvent('b1') }]);
      await a.append([{ event: sampleEvent('a3') }]);
      await a.append([{ event: sampleEvent('a1') }]); // a duplicate: stored once, at sequence 1

      const own = await a.read(1, 2);
      expect(gets).toBe(0);
      expect(a.counters.localReads).toBe(1);
      // The same as what the stream holds: `b` has none of these in its window and reads them back.
      const stored = await b.read(1, 2);
      // The time each store saw, and the attributes' text a read keeps beside them, aside.
      const strip = (events: StoredEvent[]) =>
        events.map(({ storedAt: _, event: { attributesJson: __, ...event }, ...rest }) => ({
          ...rest,
          event,
        }));
      expect(strip(own)).toEqual(strip(stored));
      expect(own[1]?.trace).toEqual(trace);
      expect([...(own[1]?.event.data ?? [])]).toEqual([0, 1, 2, 255]);

      // Past its own appends the page continues from the stream, in sequence order.
      const all = await a.read(1, 10);
      expect(all.map((e) => e.event.attributes['id'])).toEqual(['a1', 'a2', 'b1', 'a3']);
      expect(all.map((e) => e.sequence)).toEqual([1, 2, 3, 4]);
      expect(gets).toBe(1);
      expect((await a.read(4, 10)).map((e) => e.event.attributes['id'])).toEqual(['a3']);
      expect(gets).toBe(1);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await removeBroker(broker);
    }
  });
});
