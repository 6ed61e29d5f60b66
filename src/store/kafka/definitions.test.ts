import { Admin } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaCluster } from '../../../test/infra/kafka/server.js';
import type { KafkaCluster } from '../../../test/infra/kafka/server.js';
import type { SubscriptionRecord } from '../types.js';
import { createKafkaStore } from './kafka-store.js';
import type { KafkaEventStore } from './kafka-store.js';

// Replicas racing over one subscription definition, against one real Kafka node. Kafka has no
// compare-and-set: these orders of writes are the ones a check before a write cannot see. Each is made
// deterministic by holding one replica's write to the state topic until the other replica has written.
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

const nextBroker = () => `d${process.pid}-${++brokers}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function removeBroker(broker: string): Promise<void> {
  await admin
    .deleteTopics({
      topics: ['events', 'state', 'deadletters', 'retired'].map((t) => `herald.${broker}.${t}`),
    })
    .catch(() => undefined);
}

// A short claim TTL: a replica that crashed holding anything is passed over quickly.
async function open(broker: string): Promise<KafkaEventStore> {
  const store = createKafkaStore({ brokers: kafka.bootstrap, brokerName: broker, claimTtlMs: 1_500 });
  await store.whenReady();
  return store;
}

type Records = ReadonlyArray<{ key: string; value: Buffer | undefined }>;
type Write = (records: Records) => Promise<number[]>;

/** The store's state-topic writes, to hold or fail them (the state view is the store's own). */
function stateOf(store: KafkaEventStore): { write: Write } {
  return (store as unknown as { parts: { state: { write: Write } } }).parts.state;
}

const DEFINITION = 'subscription\u0000';

/**
 * Runs `hook` before each write of `store` that holds a subscription definition (n counts them from 0);
 * `first` resolves once any write of the store (whatever it holds) has landed.
 */
function intercept(
  store: KafkaEventStore,
  hook: (n: number) => Promise<void> = () => Promise.resolve(),
  crashAfterDefinition = false,
): { first: Promise<void>; restore(): void } {
  const state = stateOf(store);
  const write = state.write;
  let definitions = 0;
  let failing = false;
  let landed!: () => void;
  const first = new Promise<void>((resolve) => (landed = resolve));
  state.write = async (records) => {
    if (failing) throw new Error('the replica crashed');
    const definition = records.some((r) => r.key.startsWith(DEFINITION));
    if (definition) await hook(definitions++);
    const offsets = await write.call(state, records);
    // A SIGKILL right after the definition landed: nothing the replica would write next is written.
    if (definition && crashAfterDefinition) failing = true;
    landed();
    return offsets;
  };
  return { first, restore: () => (state.write = write) };
}

/**
 * Until `call` settles, or the replica wrote to Kafka and a moment passed (a replica that waits for
 * another's write to finish first: holding on for its answer would wait forever).
 */
async function started(call: Promise<unknown>, wrote: Promise<void>): Promise<void> {
  await Promise.race([
    call.then(
      () => undefined,
      () => undefined,
    ),
    wrote.then(() => sleep(300)),
  ]);
}

const doc = (v: number) => JSON.stringify({ v });
const is = (v: number) => (stored: string) => stored === doc(v);
const record = (v: number): SubscriptionRecord => ({ id: 's', document: doc(v) });

describe('kafka store: subscription definitions across replicas', () => {
  it('keeps a subscription deleted when the change that raced the delete crashed right after its write', async () => {
    const broker = nextBroker();
    const [a, b] = [await open(broker), await open(broker)];
    let deleting: Promise<boolean> | undefined;
    const intercepted: Array<{ restore(): void }> = [];
    try {
      await a.putSubscription(record(0));
      expect((await b.listSubscriptions()).map((r) => r.id)).toEqual(['s']);
      const bWrites = intercept(b);
      const aWrites = intercept(
        a,
        async () => {
          // b's delete reaches Kafka after a has read s and before a's definition is produced.
          deleting = b.deleteSubscription('s');
          await started(deleting, bWrites.first);
        },
        true,
      );
      intercepted.push(aWrites, bWrites);
      // a's answer does not matter: its process is gone.
      await a.replaceSubscription(record(1)).catch(() => undefined);
      expect(await deleting).toBe(true);
      await a.close();
      // Everything settled and a replica starts again: the subscription stays deleted.
      const c = await open(broker);
      try {
        expect(await c.listSubscriptions()).toEqual([]);
        expect(await b.listSubscriptions()).toEqual([]);
      } finally {
        await c.close();
      }
    } finally {
      for (const i of intercepted) i.restore();
      await Promise.all([a.close(), b.close()]);
      await removeBroker(broker);
    }
  }, 60_000);

  it('never shows any replica a deleted subscription again, not even for a moment', async () => {
    const broker = nextBroker();
    const [a, b, c] = [await open(broker), await open(broker), await open(broker)];
    let deleting: Promise<boolean> | undefined;
    let deleted = false;
    const seenAfterDelete: Array<string | undefined> = [];
    const stopWatching = c.watchSubscriptions((id, stored) => {
      if (deleted && id === 's') seenAfterDelete.push(stored?.document);
    });
    const intercepted: Array<{ restore(): void }> = [];
    try {
      await a.putSubscription(record(0));
      expect((await b.listSubscriptions()).map((r) => r.id)).toEqual(['s']);
      const bWrites = intercept(b);
      const aWrites = intercept(a, async () => {
        deleting = b.deleteSubscription('s').then((answer) => {
          deleted = answer;
          return answer;
        });
        await started(deleting, bWrites.first);
      });
      intercepted.push(aWrites, bWrites);
      await a.replaceSubscription(record(1));
      expect(await deleting).toBe(true);
      // Every replica has read the state topic to its end: whatever came after the delete was heard.
      for (const store of [a, b, c]) expect(await store.listSubscriptions()).toEqual([]);
      // The delete answered, so no replica may deliver s from then on: c never heard of it again.
      expect(seenAfterDelete.filter((d) => d !== undefined)).toEqual([]);
    } finally {
      stopWatching();
      for (const i of intercepted) i.restore();
      await Promise.all([a.close(), b.close(), c.close()]);
      await removeBroker(broker);
    }
  }, 60_000);

  it('loses no change when two replicas replace one subscription at once: the last answered true is stored', async () => {
    const broker = nextBroker();
    const [a, b] = [await open(broker), await open(broker)];
    const answered: Array<{ base: string; document: string; replaced: boolean }> = [];
    const replace = (store: KafkaEventStore, v: number, base: number) =>
      store.replaceSubscription(record(v), is(base)).then((replaced) => {
        answered.push({ base: doc(base), document: doc(v), replaced });
        return replaced;
      });
    const calls: Array<Promise<boolean>> = [];
    const aWrites = intercept(a);
    const bWrites = intercept(b, async (n) => {
      if (n === 0) {
        // a changes s from v0 as b, having read v0, is about to write its own change of v0.
        const call = replace(a, 1, 0);
        calls.push(call);
        await started(call, aWrites.first);
      } else if (n === 1) {
        // b writes again (what its change landed on): a, having read b's v2, changes that meanwhile.
        const call = replace(a, 3, 2);
        calls.push(call);
        await started(call, aWrites.first);
      }
    });
    try {
      await a.putSubscription(record(0));
      expect((await b.listSubscriptions()).map((r) => r.id)).toEqual(['s']);
      calls.push(replace(b, 2, 0));
      // Settled: every call answered (a call may add another while it runs).
      for (let i = 0; i < calls.length; i++) await calls[i];
      const wins = answered.filter(({ replaced }) => replaced);
      expect(wins.length).toBeGreaterThan(0);
      // Each change answered true was made from the one answered true before it (the first from v0): none
      // was written over a change it had not seen.
      expect(wins.map(({ base }) => base)).toEqual([doc(0), ...wins.slice(0, -1).map((w) => w.document)]);
      const stored = [(await a.listSubscriptions())[0]?.document, (await b.listSubscriptions())[0]?.document];
      // The last change answered true was kept: nothing wrote an older one back over it.
      const last = wins[wins.length - 1]?.document;
      expect(stored).toEqual([last, last]);
    } finally {
      aWrites.restore();
      bWrites.restore();
      await Promise.all([a.close(), b.close()]);
      await removeBroker(broker);
    }
  }, 60_000);
});
