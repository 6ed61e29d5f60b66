import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNatsRelay } from '../../test/infra/nats/relay.js';
import type { NatsRelay } from '../../test/infra/nats/relay.js';
import { startNatsServer } from '../../test/infra/nats/server.js';
import type { NatsServer } from '../../test/infra/nats/server.js';
import type { Dispatcher } from '../dispatch/index.js';
import type { SubscriptionRecord } from '../store/index.js';
import { createJetStreamStore } from '../store/jetstream/index.js';
import type { JetStreamEventStore } from '../store/jetstream/index.js';
import { sampleEvent } from '../store/testing/conformance.js';
import { cursorKeyOf } from './cursor-key.js';
import type { SubscriptionService } from './service.js';
import { startReplica } from './testing/replica.js';
import type { SubscriptionDefinition } from './types.js';
import { parseSubscriptionRequest } from './validate.js';
import { until as waitUntil } from '../testing/until.js';

// The service on a real nats-server, whose subscription watch reports every change to the definitions
// bucket, this replica's own writes included, some time after they were made. A relay in front of the
// nats-server holds the watch's deliveries (and only those) while the requests go on, so a change is
// heard late exactly when the test says, not when a race happens to make it so.
let server: NatsServer;
let brokers = 0;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  server = await startNatsServer();
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** How long a change may take to be heard or delivered (a bound, never a measured result). */
const DEADLINE_MS = 15_000;

const until = (what: string, check: () => boolean | Promise<boolean>): Promise<void> =>
  waitUntil(what, check, DEADLINE_MS);

/** A sink on loopback: records the id of every attempt, answers 503 while `refusing`, 204 otherwise. */
async function startSink() {
  const attempts: string[] = [];
  const delivered: string[] = [];
  const sink = {
    refusing: false,
    attempts,
    delivered,
    url: '',
  };
  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const header = req.headers['ce-id'];
      const id =
        typeof header === 'string'
          ? header
          : String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown }).id);
      attempts.push(id);
      if (sink.refusing) {
        res.writeHead(503).end();
        return;
      }
      delivered.push(id);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => http.close(() => resolve())));
  sink.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
  return sink;
}

interface Replica {
  readonly store: JetStreamEventStore;
  readonly dispatcher: Dispatcher;
  readonly service: SubscriptionService;
  /** What this replica's store watch reported, heard after the service (whose listener came first). */
  readonly heard: Array<{ id: string; record: SubscriptionRecord | undefined }>;
}

/** A broker replica: the real store (through `servers`), dispatcher and service, started. */
async function replica(broker: string, servers: string): Promise<Replica> {
  const store = createJetStreamStore({ servers, brokerName: broker });
  cleanups.push(() => store.close());
  await store.whenReady();
  const { dispatcher, service } = await startReplica(store, cleanups);
  const heard: Replica['heard'] = [];
  const stop = store.watchSubscriptions((id, record) => heard.push({ id, record }));
  cleanups.push(() => Promise.resolve(stop()));
  return { store, dispatcher, service, heard };
}

const incarnationOf = (record: SubscriptionRecord | undefined) =>
  record === undefined ? undefined : (JSON.parse(record.document) as SubscriptionDefinition).incarnation;

/** Waits until `r` heard `id` put with `definition`'s incarnation and sink (or deleted, for undefined). */
function heardChange(r: Replica, id: string, definition: SubscriptionDefinition | undefined) {
  return until(`the watch to report ${id} ${definition === undefined ? 'deleted' : 'put'}`, () =>
    r.heard.some(
      (h) =>
        h.id === id &&
        (definition === undefined
          ? h.record === undefined
          : incarnationOf(h.record) === definition.incarnation &&
            (JSON.parse(h.record?.document ?? '{}') as SubscriptionDefinition).sink === definition.sink),
    ),
  );
}

/**
 * Expects replica `r` to deliver `deleted` no more, once it is done with what it heard: a turn for what
 * its service started (resolving a start position is a request on the same connection, answered before
 * this one), then its dispatcher's queue of changes for the subscription.
 */
async function expectStopped(
  r: Replica,
  deleted: SubscriptionDefinition,
  sink: Awaited<ReturnType<typeof startSink>>,
): Promise<void> {
  const { id } = deleted;
  // Heard is not yet applied: the service applies what it heard of the subscription in order.
  await until(
    'the service to list the subscription no more',
    () => !r.service.list().some((d) => d.id === id),
  );
  await r.store.stats();
  await nextTurn();
  await r.dispatcher.setPaused(id, false);
  await until(
    'the deleted subscription to be delivered no more',
    () => r.dispatcher.worker(id) === undefined,
  ).catch(async (error: unknown) => {
    // Say what that means: an event published after the delete goes to the deleted subscription's sink.
    await r.store.append([{ event: sampleEvent('e-late', { type: 't' }) }]);
    await until('e-late', () => sink.delivered.includes('e-late')).catch(() => undefined);
    throw new Error(
      `${(error as Error).message}: ${id} is delivered (sink ${r.dispatcher.worker(id)?.compiled.definition.sink}, ` +
        `which got [${sink.delivered.join(', ')}]) while the service lists [${r.service
          .list()
          .map((d) => d.id)
          .join(', ')}]`,
    );
  });
  expect(await r.store.getCursor(cursorKeyOf(deleted))).toBeUndefined();
}

/** A subscription to events of type `t` from `latest`, retried quickly and (here) never dead-lettered. */
const request = (sink: string) =>
  parseSubscriptionRequest({
    sink,
    protocol: 'HTTP',
    types: ['t'],
    startAt: 'latest',
    delivery: { retry: 100, backoffPolicy: 'linear', backoffDelay: 'PT0.2S', backoffMax: 'PT0.2S' },
  });

describe('subscription service on JetStream: changes heard late from the watch', () => {
  let relay: NatsRelay;
  let broker: string;

  beforeAll(async () => {
    relay = await startNatsRelay(server.port, { framed: true });
  });
  afterAll(() => relay?.close());
  afterEach(() => relay?.release());

  const watchStream = () => `KV_herald_${broker}_subscriptions`;

  /** A new broker's replica `a`, its watch through the relay, delivering a subscription it created. */
  async function deliveringThroughRelay() {
    broker = `echo${process.pid}-${++brokers}`;
    const a = await replica(broker, relay.url);
    const before = await startSink();
    const after = await startSink();
    const created = await a.service.create(request(before.url));
    await heardChange(a, created.id, created);
    return { a, after, created, id: created.id };
  }

  it("another replica's change and delete heard together: the subscription is not delivered on after the delete", async () => {
    // Replica a (through the relay) delivers the subscription; replica b changes it, then deletes it.
    const { a, after, created, id } = await deliveringThroughRelay();
    expect(a.dispatcher.worker(id)).toBeDefined();
    // Started after a claimed it: b lists it and waits for the claim (never retried here).
    const b = await replica(broker, server.url);
    expect(b.service.find(id)).toEqual(created);

    relay.holdDeliveries(watchStream());
    const changed = await b.service.update(id, request(after.url));
    await b.service.delete(id);
    relay.release();
    await heardChange(a, id, changed);
    await heardChange(a, id, undefined);

    await expectStopped(a, created, after);
  }, 60_000);

  it('its own change and delete heard late: the subscription is not delivered on after the delete', async () => {
    const { a, after, created, id } = await deliveringThroughRelay();

    // A PUT then a DELETE answered before the watch reports either.
    relay.holdDeliveries(watchStream());
    await a.service.update(id, request(after.url));
    await a.service.delete(id);
    relay.release();
    await heardChange(a, id, undefined);
    await expectStopped(a, created, after);
  }, 60_000);

  describe('while a local change of the subscription is under way', () => {
    /**
     * Holds all that the nats-server sends replica `a` from a's next write of a definition on (its answer
     * included), so that what else happens meanwhile reaches `a` together with that answer. The write is
     * the publish to the key's subject (PUB, or HPUB with a compare-and-set header), not the read of the
     * key before a change (a direct get, whose subject names the key's subject too).
     */
    const holdFromNextWrite = () => relay.holdOnceSent(`PUB $KV.herald_${broker}_subscriptions.`);

    /** Replica b, on the nats-server directly: it lists the subscription (a delivers it). */
    async function observer(id: string) {
      const b = await replica(broker, server.url);
      expect(b.service.list().some((d) => d.id === id)).toBe(true);
      return b;
    }

    const holds = (r: Replica, id: string, check: (d: SubscriptionDefinition) => boolean) =>
      r.service.list().some((d) => d.id === id && check(d));

    it("its own PUT and another replica's DELETE close together: the subscription is not delivered on after the delete", async () => {
      const { a, after, created, id } = await deliveringThroughRelay();
      const b = await observer(id);

      // a's PUT is stored, then b's DELETE; a hears the delete with the PUT's answer, before it has
      // reached its dispatcher (which waits for the start position, a request of its own).
      holdFromNextWrite();
      const changing = a.service.update(id, request(after.url));
      await until('b to hear the change', () => holds(b, id, (d) => d.sink === after.url));
      await b.service.delete(id);
      relay.release();
      await changing;
      await heardChange(a, id, undefined);

      await expectStopped(a, created, after);
    }, 60_000);

    it('a PUT and a pause sent together to one replica: it delivers what the registry holds', async () => {
      const { a, after, id } = await deliveringThroughRelay();
      const b = await observer(id);

      // The PUT is stored first, the pause second (it changes the PUT's definition).
      holdFromNextWrite();
      const changing = a.service.update(id, request(after.url));
      const pausing = a.service.setPaused(id, true);
      await until('b to hear the change', () => holds(b, id, (d) => d.sink === after.url));
      relay.release();
      await Promise.all([changing, pausing]);
      await until('b to hear the pause', () => holds(b, id, (d) => d.sink === after.url && d.paused));

      expect(a.service.find(id)).toMatchObject({ sink: after.url, paused: true });
      expect(a.dispatcher.worker(id)?.compiled.definition.sink).toBe(after.url);
      expect(a.dispatcher.status(id)?.state).toBe('paused');
    }, 60_000);

    it("its own PUT and another replica's pause close together: it delivers what the registry holds", async () => {
      const { a, after, id } = await deliveringThroughRelay();
      const b = await observer(id);

      // a's PUT is stored, then b pauses the changed subscription; a hears the pause with the PUT's
      // answer, before the PUT has reached its dispatcher.
      holdFromNextWrite();
      const changing = a.service.update(id, request(after.url));
      await until('b to hear the change', () => holds(b, id, (d) => d.sink === after.url));
      await b.service.setPaused(id, true);
      relay.release();
      await changing;
      await until('a to hear the pause', () => holds(a, id, (d) => d.sink === after.url && d.paused));

      // What a heard goes to its dispatcher after the PUT's own change (no bound on how soon).
      await until(
        'a to deliver the changed subscription paused',
        () =>
          a.dispatcher.worker(id)?.compiled.definition.sink === after.url &&
          a.dispatcher.status(id)?.state === 'paused',
      ).catch((error: unknown) => {
        throw new Error(
          `${(error as Error).message}: the registry holds it paused, a's worker is ${a.dispatcher.status(id)?.state}`,
        );
      });
    }, 60_000);

    it("a PUT and a DELETE sent together to one replica: the PUT's echo, heard in between, does not bring the subscription back", async () => {
      const { a, after, created, id } = await deliveringThroughRelay();
      const b = await observer(id);

      // The PUT's echo reaches a with the PUT's answer, while the DELETE waits for the PUT; the DELETE's
      // echo is held (it would take back what the PUT's echo brought back, some time later).
      holdFromNextWrite();
      const changing = a.service.update(id, request(after.url));
      const deleting = a.service.delete(id);
      await until('b to hear the change', () => holds(b, id, (d) => d.sink === after.url));
      relay.release();
      relay.holdDeliveries(watchStream());
      await Promise.all([changing, deleting]);

      // Queued behind what a heard of the subscription so far: it does not exist.
      await expect(a.service.setPaused(id, true)).rejects.toMatchObject({ code: 'HERALD_NOT_FOUND' });
      await expectStopped(a, created, after);
    }, 60_000);

    it('a batch created on one replica, one of it deleted by another at once: that one is not delivered on', async () => {
      broker = `echo${process.pid}-${++brokers}`;
      const a = await replica(broker, relay.url);
      const b = await replica(broker, server.url);
      const sink = await startSink();

      // Both are stored and b deletes the second before a's batch has started delivering it (a
      // starts them one after another: each waits for its claim, a request of its own).
      holdFromNextWrite();
      const creating = a.service.createMany([request(sink.url), request(sink.url)], 'api', undefined, [
        'batch-1',
        'batch-2',
      ]);
      await until('b to hear the batch', () => holds(b, 'batch-2', () => true));
      const deleted = await b.service.delete('batch-2');
      relay.release();
      await creating;
      await heardChange(a, 'batch-2', undefined);

      expect(holds(a, 'batch-1', () => true)).toBe(true);
      await expectStopped(a, deleted, sink);
    }, 60_000);

    it('two seeks sent together to a replica that does not deliver the subscription: the one delivering it follows both', async () => {
      broker = `echo${process.pid}-${++brokers}`;
      // b delivers the subscription (it created it) to a sink that refuses: its cursor stays on the
      // first event after where it was sought to.
      const b = await replica(broker, server.url);
      const sink = await startSink();
      sink.refusing = true;
      const { id } = await b.service.create(request(sink.url));
      await b.store.append(['e1', 'e2', 'e3'].map((e) => ({ event: sampleEvent(e, { type: 't' }) })));
      await until('b to retry e1', () => sink.attempts.includes('e1'));
      const a = await replica(broker, relay.url);
      expect(holds(a, id, () => true)).toBe(true);

      // The seek to 2 is stored and heard by b before the seek to the end (its start position a
      // request answered with the first seek's write) is stored.
      holdFromNextWrite();
      const seeks = Promise.all([a.service.seek(id, { sequence: 2 }), a.service.seek(id, 'latest')]);
      await until('b to hear the seek to 2', () => holds(b, id, (d) => d.seek?.next === 2));
      relay.release();
      await seeks;
      await until('b to hear the seek to the end', () => holds(b, id, (d) => d.seek?.next === 4));

      await until('b to deliver from the end', () => b.dispatcher.status(id)?.cursor === 4).catch(
        (error: unknown) => {
          throw new Error(
            `${(error as Error).message}: the registry holds ${JSON.stringify(b.service.find(id).seek)}, b's cursor is ${b.dispatcher.status(id)?.cursor}`,
          );
        },
      );
    }, 60_000);
  });
});
