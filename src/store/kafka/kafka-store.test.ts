import { Admin, Producer } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaCluster } from '../../../test/infra/kafka/server.js';
import type { KafkaCluster } from '../../../test/infra/kafka/server.js';
import { freePort } from '../../../test/infra/process.js';
import { describeStoreConformance, sampleEvent, serverStoreHarness } from '../testing/conformance.js';
import type { StoreHarnessOptions } from '../testing/conformance.js';
import { describeSharedStoreConformance } from '../testing/shared-conformance.js';
import { createKafkaStore } from './kafka-store.js';
import type { KafkaEventStore, KafkaStoreOptions } from './kafka-store.js';
import { until } from '../../testing/until.js';

// One real Kafka node (fetched by test/infra/kafka/build.sh) for the whole file; each test gets its own
// broker name, hence its own topics. A missing Kafka fails the file, it never skips it.
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

const nextBroker = () => `t${process.pid}-${++brokers}`;

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

async function open(
  broker: string,
  options: Partial<KafkaStoreOptions> = {},
  bootstrap = kafka.bootstrap,
): Promise<KafkaEventStore> {
  const store = createKafkaStore({ brokers: bootstrap, brokerName: broker, ...options });
  await store.whenReady();
  return store;
}

/**
 * The contract's options, with the dedupe window cut to an age limit below it: the kafka store refuses
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

describeStoreConformance('kafka', openHarness);

describeSharedStoreConformance('kafka', () => {
  const broker = nextBroker();
  return {
    open: ({ claimTtlMs } = {}) => open(broker, claimTtlMs === undefined ? {} : { claimTtlMs }),
    // The holder stops renewing without releasing (a crashed replica, from Kafka's point of view).
    stopRenewing: (store) => {
      type Leases = { held: Map<string, { timer: NodeJS.Timeout }> };
      const { leases } = (store as unknown as { parts: { claims: { leases: Leases } } }).parts.claims;
      for (const { timer } of leases.held.values()) clearInterval(timer);
      return Promise.resolve();
    },
    tellsLost: false,
    remove: () => removeBroker(broker),
  };
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('kafka store', () => {
  it('creates the topics with one partition, log-append time and the retention age', async () => {
    const broker = nextBroker();
    const store = await open(broker, { retention: { maxAgeMs: 3_600_000 } });
    try {
      const metadata = await admin.metadata({
        topics: [store.eventsTopic, store.stateTopic, store.deadLetterTopic],
        forceUpdate: true,
      });
      for (const topic of [store.eventsTopic, store.stateTopic, store.deadLetterTopic]) {
        expect(metadata.topics.get(topic)?.partitionsCount).toBe(1);
      }
      const [described] = await admin.describeConfigs({
        resources: [{ resourceType: 2, resourceName: store.eventsTopic, configurationKeys: [] }],
      });
      const config = new Map(described?.configs.map((c) => [c.name, c.value]));
      expect(config.get('message.timestamp.type')).toBe('LogAppendTime');
      expect(config.get('retention.ms')).toBe('3600000');
      expect(config.get('cleanup.policy')).toBe('delete');
      const [state] = await admin.describeConfigs({
        resources: [{ resourceType: 2, resourceName: store.stateTopic, configurationKeys: [] }],
      });
      expect(state?.configs.find((c) => c.name === 'cleanup.policy')?.value).toBe('compact');
    } finally {
      await store.close();
      await removeBroker(broker);
    }
  });

  it('keeps the partitionkey as the record key and stores concurrent batches whole and contiguous', async () => {
    const broker = nextBroker();
    const store = await open(broker);
    try {
      const batches = await Promise.all(
        Array.from({ length: 20 }, (_, b) =>
          store.append(
            Array.from({ length: 10 }, (_, i) => ({
              event: sampleEvent(`b${b}-${i}`, { partitionkey: `k${b % 3}` }),
            })),
          ),
        ),
      );
      const all = batches.flat().map((o) => o.sequence);
      expect(new Set(all).size).toBe(200);
      expect(Math.max(...all)).toBe(200);
      for (const batch of batches) {
        const first = batch[0]!.sequence;
        expect(batch.map((o) => o.sequence)).toEqual(Array.from({ length: 10 }, (_, i) => first + i));
      }
      const read = await store.read(1, 1000);
      expect(read).toHaveLength(200);
      expect(read[0]?.event.attributes['partitionkey']).toMatch(/^k[012]$/);
      // storedAt is the log-append time: non-decreasing with the sequence.
      for (let i = 1; i < read.length; i++)
        expect(read[i]!.storedAt).toBeGreaterThanOrEqual(read[i - 1]!.storedAt);
      // A duplicate of an event another request is storing right now gets that event's sequence.
      const [x, y] = await Promise.all([
        store.append([{ event: sampleEvent('race') }]),
        store.append([{ event: sampleEvent('race') }]),
      ]);
      expect(y?.[0]?.sequence).toBe(x?.[0]?.sequence);
      expect([x?.[0]?.duplicate, y?.[0]?.duplicate].sort()).toEqual([false, true]);
      // An event larger than a record batch may hold is refused alone, nothing is stored.
      const small = await open(broker, { maxBatchBytes: 4096 });
      try {
        const big = sampleEvent('big');
        await expect(
          small.append([{ event: sampleEvent('ok') }, { event: { ...big, data: new Uint8Array(8000) } }]),
        ).rejects.toMatchObject({ code: 'HERALD_PAYLOAD_TOO_LARGE' });
        expect((await small.stats()).last).toBe(201);
      } finally {
        await small.close();
      }
    } finally {
      await store.close();
      await removeBroker(broker);
    }
  });

  it('stores concurrent appends and dead letters that each fit a record batch, even when together they do not', async () => {
    // Each request alone is within the batch limit (the topic's max.message.bytes), three together are
    // not: grouped into one produce request, Kafka would refuse them all as too large (a 413 for valid
    // events, which a publisher does not retry).
    const broker = nextBroker();
    const store = await open(broker, { maxBatchBytes: 64 * 1024 });
    const bigEvent = (id: string) => ({ ...sampleEvent(id), data: new Uint8Array(24 * 1024).fill(65) });
    try {
      // The first request goes out alone; the other three wait behind it and are sent together.
      const outcomes = await Promise.all(
        Array.from({ length: 4 }, (_, i) => store.append([{ event: bigEvent(`big-${i}`) }])),
      );
      expect(outcomes.flat().map((o) => o.sequence)).toEqual([1, 2, 3, 4]);
      const read = await store.read(1, 10);
      expect(read.map((e) => e.event.attributes['id'])).toEqual(['big-0', 'big-1', 'big-2', 'big-3']);

      const letters = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          store.addDeadLetter({
            subscription: 'big',
            sequence: i + 1,
            event: bigEvent(`dead-${i}`),
            trace: undefined,
            error: { code: 'X', message: 'm' },
            attempts: 1,
            deadLetteredAt: i,
          }),
        ),
      );
      expect(new Set(letters.map((l) => l.id)).size).toBe(4);
      expect(await store.countDeadLetters('big')).toBe(4);
    } finally {
      await store.close();
      await removeBroker(broker);
    }
  });

  it('starts while Kafka is down, refuses appends until it is up, then becomes ready', async () => {
    const port = await freePort();
    const broker = nextBroker();
    const store = createKafkaStore({
      brokers: `127.0.0.1:${port}`,
      brokerName: broker,
      requestTimeoutMs: 1_000,
    });
    let late: KafkaCluster | undefined;
    try {
      await sleep(300);
      expect(store.isReady()).toBe(false);
      await expect(store.append([{ event: sampleEvent('early') }])).rejects.toMatchObject({
        code: 'HERALD_STORE_UNAVAILABLE',
        retryAfter: 1,
      });
      // Calls other than append wait for the set-up instead of failing.
      const stats = store.stats();
      stats.catch(() => undefined); // awaited below; a failed start must not also report it unhandled
      late = await startKafkaCluster(1, { port });
      await store.whenReady();
      expect(store.isReady()).toBe(true);
      expect((await stats).last).toBe(0);
      const [outcome] = await store.append([{ event: sampleEvent('late') }]);
      expect(outcome).toEqual({ sequence: 1, duplicate: false });
    } finally {
      await store.close();
      await late?.stop();
    }
  }, 120_000);

  it('survives a SIGKILL of Kafka: refuses appends while it is away, then resumes with every acknowledged event', async () => {
    const own = await startKafkaCluster(1);
    const broker = nextBroker();
    const store = await open(broker, { requestTimeoutMs: 1_000 }, own.bootstrap);
    try {
      const acknowledged = await store.append(
        Array.from({ length: 50 }, (_, i) => ({ event: sampleEvent(`before-${i}`) })),
      );
      const waiting = store.waitForAppend(50);
      await own.nodes[0]!.kill('SIGKILL');
      await until('the store notices', () => !store.isReady());
      await expect(store.append([{ event: sampleEvent('lost') }])).rejects.toMatchObject({
        code: 'HERALD_STORE_UNAVAILABLE',
      });
      await own.nodes[0]!.restart();
      await until('ready again', () => store.isReady(), 60_000);
      const [after] = await store.append([{ event: sampleEvent('after') }]);
      await waiting;
      const read = await store.read(1, 100);
      const ids = read.map((e) => e.event.attributes['id']);
      expect(ids.slice(0, 50)).toEqual(acknowledged.map((_, i) => `before-${i}`));
      expect(ids[ids.length - 1]).toBe('after');
      expect(after?.sequence).toBe(read[read.length - 1]?.sequence);
    } finally {
      await store.close();
      await own.stop();
    }
  }, 120_000);

  it('stores a dead letter once when Kafka wrote it but its answer came too late', async () => {
    const own = await startKafkaCluster(1);
    const broker = nextBroker();
    const store = await open(broker, { requestTimeoutMs: 1_000 }, own.bootstrap);
    const letter = (n: number) => ({
      subscription: 'late',
      sequence: n,
      event: sampleEvent(`late-${n}`),
      trace: undefined,
      error: { code: 'X', message: 'm' },
      attempts: 1,
      deadLetteredAt: n,
    });
    const pid = own.nodes[0]!.pid!;
    try {
      await store.addDeadLetter(letter(1)); // connections and producer id in place
      // Kafka stops answering: the request sits in its socket buffer, the add gives up and rejects; Kafka
      // resumes and writes it all the same.
      process.kill(pid, 'SIGSTOP');
      try {
        await expect(store.addDeadLetter(letter(2))).rejects.toMatchObject({
          code: 'HERALD_STORE_UNAVAILABLE',
        });
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      // The dispatcher retries a rejected add until it succeeds (src/dispatch/dead-lettering.ts).
      await until('the retried add succeeds', async () => {
        try {
          await store.addDeadLetter(letter(2));
          return true;
        } catch {
          return false;
        }
      });
      const letters = await store.listDeadLetters('late', 10);
      expect(letters.map((l) => l.sequence)).toEqual([1, 2]);
    } finally {
      await store.close();
      await own.stop();
    }
  }, 120_000);

  it('answers "store unavailable" within a bound when Kafka takes writes but serves no fetches, then recovers', async () => {
    // Kafka keeps acknowledging produce and ListOffsets requests, but every fetch comes back empty: a
    // default consumer quota of 1 byte/s throttles each one (SIGSTOP would stop the produce too, which
    // fails at the producer's own timeout before anything waits for the follower). A write then waits to
    // read itself back, a read waits to read up to the end offset: neither may wait without a bound.
    const own = await startKafkaCluster(1);
    const quotas = new Admin({ clientId: 'herald-test-quotas', bootstrapBrokers: [own.bootstrap] });
    const raw = new Producer({ clientId: 'herald-test-raw', bootstrapBrokers: [own.bootstrap] });
    const throttle = (on: boolean) =>
      quotas.alterClientQuotas({
        entries: [
          {
            entities: [{ entityType: 'client-id', entityName: null }],
            ops: [
              on
                ? { key: 'consumer_byte_rate', value: 1, remove: false }
                : { key: 'consumer_byte_rate', remove: true },
            ],
          },
        ],
      });
    const broker = nextBroker();
    const store = await open(broker, { requestTimeoutMs: 1_000 }, own.bootstrap);
    // The test's own bound, far beyond the store's (one fetch: 500 ms + 2 × the 1 s request timeout).
    const answered = <T>(what: string, call: Promise<T>) =>
      Promise.race([
        call,
        sleep(20_000).then(() => {
          throw new Error(`${what}: no answer within 20 s`);
        }),
      ]);
    const letter = {
      subscription: 'dl',
      sequence: 1,
      event: sampleEvent('dl-1'),
      trace: undefined,
      error: { code: 'X', message: 'm' },
      attempts: 1,
      deadLetteredAt: 1,
    };
    let throttled = false;
    try {
      await store.putSubscription({ id: 'before', document: '{}' });
      await throttle(true);
      throttled = true;
      await until('the followers stall', () => !store.isReady(), 30_000);
      const unavailable = { code: 'HERALD_STORE_UNAVAILABLE' };
      // Kafka stores these (a lease record, a dead letter, an event) but the views never read them.
      await expect(
        answered('putSubscription', store.putSubscription({ id: 'during', document: '{}' })),
      ).rejects.toMatchObject(unavailable);
      await expect(answered('addDeadLetter', store.addDeadLetter(letter))).rejects.toMatchObject(unavailable);
      await raw.send({ messages: [{ topic: store.eventsTopic, value: Buffer.from('not herald') }] });
      await expect(answered('listSubscriptions', store.listSubscriptions())).rejects.toMatchObject(
        unavailable,
      );
      await expect(answered('deleteSubscription', store.deleteSubscription('before'))).rejects.toMatchObject(
        unavailable,
      );
      await expect(answered('listDeadLetters', store.listDeadLetters('dl', 10))).rejects.toMatchObject(
        unavailable,
      );
      await expect(answered('stats', store.stats())).rejects.toMatchObject(unavailable);

      await throttle(false);
      throttled = false;
      await until('ready again', () => store.isReady(), 60_000);
      await until('a write reads itself back again', async () => {
        try {
          await store.putSubscription({ id: 'after', document: '{}' });
          return true;
        } catch {
          return false;
        }
      });
      // The put answered 503 wrote no definition: its lease record was never read back, so it never held
      // the lease it writes under (a write answered 503 may be stored, or not).
      expect((await store.listSubscriptions()).map((r) => r.id)).toEqual(['after', 'before']);
      // The retried add of the same letter keeps one copy.
      await store.addDeadLetter(letter);
      expect((await store.listDeadLetters('dl', 10)).map((l) => l.sequence)).toEqual([1]);
      expect((await store.stats()).last).toBe(1);
    } finally {
      if (throttled) await throttle(false).catch(() => undefined);
      await store.close();
      await Promise.all([quotas.close(), raw.close()]);
      await own.stop();
    }
  }, 180_000);

  it('stops a holder whose renewal Kafka never answers once its lease ran out, so another may take over', async () => {
    const broker = nextBroker();
    const options = { claimTtlMs: 1_500 };
    const [a, b] = [await open(broker, options), await open(broker, options)];
    type Write = (records: unknown[]) => Promise<number[]>;
    const { state } = (a as unknown as { parts: { state: { write: Write } } }).parts;
    const write = state.write;
    const unanswered: Array<(offsets: number[]) => void> = [];
    let aLost = 0;
    try {
      expect(await a.claim('s', () => aLost++)).toBe(true);
      // From now on a's writes to the state topic get no answer (a connection cut off without a reset):
      // its next renewal waits, and its lease record is not renewed.
      state.write = () => new Promise<number[]>((resolve) => unanswered.push(resolve));
      await until('a renewal waits', () => unanswered.length > 0);
      await until('b takes the subscription over', () => b.claim('s', () => undefined));
      // b delivers now; a must have stopped (its lease ran out), not keep delivering beside it.
      await until('a stops delivering', () => aLost === 1);
      expect(aLost).toBe(1);
    } finally {
      state.write = write;
      for (const answer of unanswered) answer([]); // nothing was written: the renewal fails
      await Promise.all([a.close(), b.close()]);
      await removeBroker(broker);
    }
  });

  it("refuses a replacement when another replica's delete is stored just before it writes (Kafka has no compare-and-set)", async () => {
    const broker = nextBroker();
    const [a, b] = [await open(broker), await open(broker)];
    type Write = (records: unknown[]) => Promise<number[]>;
    const { state } = (a as unknown as { parts: { state: { write: Write } } }).parts;
    const write = state.write;
    let raced = false;
    try {
      await a.putSubscription({ id: 's', document: '{"v":0}' });
      await until('b to hold s', async () => (await b.listSubscriptions()).length === 1);
      // b's delete is stored just before a's first write to the state topic (its definition lease; before
      // the leases, its definition, after its check): the one order a check before the write cannot see.
      state.write = async (records) => {
        if (!raced) {
          raced = true;
          expect(await b.deleteSubscription('s')).toBe(true);
        }
        return write.call(state, records);
      };
      expect(await a.replaceSubscription({ id: 's', document: '{"v":1}' })).toBe(false);
      expect(raced).toBe(true);
      expect(await a.listSubscriptions()).toEqual([]);
      expect(await b.listSubscriptions()).toEqual([]);
    } finally {
      state.write = write;
      await Promise.all([a.close(), b.close()]);
      await removeBroker(broker);
    }
  });
});
