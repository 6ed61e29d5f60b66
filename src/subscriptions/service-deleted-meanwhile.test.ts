import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatcher } from '../dispatch/index.js';
import type { EventStore, SubscriptionRecord } from '../store/index.js';
import type { SubscriptionService } from './service.js';
import { startReplica } from './testing/replica.js';
import { jetStream, kafka } from './testing/lagging-backends.js';
import { parseSubscriptionRequest } from './validate.js';
import { until } from '../testing/until.js';
import { startAcceptingSink } from '../dispatch/testing/manual-dispatcher.js';

// Replica a changes a subscription (PUT, pause, seek) that replica b deleted a moment before, which a
// has not heard yet: the change must answer 404 and leave it deleted everywhere, as on one replica. An
// unconditional write of the change would store the subscription again, and every replica would list
// and deliver it again (its cursor forgotten by the delete). On a real nats-server and a real Kafka node
// (each fails its suite when missing, never skips it).

const cleanups: Array<() => Promise<unknown>> = [];
let brokers = 0;

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const startSink = (): Promise<string> => startAcceptingSink(cleanups);

const request = (sink: string) =>
  parseSubscriptionRequest({ sink, protocol: 'HTTP', types: ['t'], startAt: 'latest' });

interface Replica {
  readonly store: EventStore;
  readonly dispatcher: Dispatcher;
  readonly service: SubscriptionService;
  /** What this replica's store watch reported, in order (heard after the service, whose listener came first). */
  readonly heard: Array<{ id: string; record: SubscriptionRecord | undefined }>;
}

const changes = [
  ['PUT', (r: Replica, id: string, sink: string) => r.service.update(id, request(sink))],
  ['pause', (r: Replica, id: string) => r.service.setPaused(id, true)],
  ['seek', (r: Replica, id: string) => r.service.seek(id, 'earliest')],
] as const;

describe.each([jetStream(), kafka()])(
  '$name store: a change of a subscription deleted meanwhile',
  (backend) => {
    beforeAll(() => backend.start(), 180_000);
    afterAll(() => backend.stop());
    afterEach(() => backend.release());

    async function replica(broker: string, lagging: boolean): Promise<Replica> {
      const store = await backend.open(broker, lagging);
      cleanups.push(() => store.close());
      const { dispatcher, service } = await startReplica(store, cleanups);
      const heard: Replica['heard'] = [];
      const stop = store.watchSubscriptions((id, record) => heard.push({ id, record }));
      cleanups.push(() => Promise.resolve(stop()));
      return { store, dispatcher, service, heard };
    }

    /**
     * Replica a creates subscription `s` to `sink` and delivers it; b, started then, lists it (a holds its
     * claim). Then a stops hearing b's writes, until `heardAll`.
     */
    async function delivering(prefix: string, sink: string): Promise<{ a: Replica; b: Replica; id: string }> {
      const broker = `${prefix}${process.pid}-${++brokers}`;
      const a = await replica(broker, true);
      const { id } = await a.service.create(request(sink), 'api', undefined, 's');
      await until('a to deliver s', () => a.dispatcher.worker(id) !== undefined);
      const b = await replica(broker, false);
      expect(b.service.find(id).sink).toBe(sink);
      backend.hold(broker);
      return { a, b, id };
    }

    /** a hears again; both replicas hear everything written before b's next write (the watch reports in log order). */
    async function heardAll(a: Replica, b: Replica, sink: string): Promise<void> {
      backend.release();
      await b.service.create(request(sink), 'api', undefined, 'marker');
      for (const r of [a, b])
        await until('the marker to be heard', () => r.heard.some((h) => h.id === 'marker'));
    }

    const answerOf = (change: Promise<unknown>) =>
      change.then(
        () => 'changed',
        (error: { code?: string }) => error.code,
      );

    it.each(changes)(
      "a %s on a replica that has not heard another replica's DELETE answers 404 and does not bring the subscription back",
      async (_name, change) => {
        const sink = await startSink();
        const { a, b, id } = await delivering('gone', sink);
        // b deletes it; a, which hears nothing meanwhile, still lists it when the change comes.
        await b.service.delete(id);
        expect(a.service.find(id).id).toBe(id);
        const answer = await answerOf(change(a, id, sink));
        await heardAll(a, b, sink);
        // Queued behind what the replica heard of the subscription so far: whether it exists there.
        const lists = (r: Replica) =>
          r.service.setPaused(id, false).then(
            () => true,
            (error: { code?: string }) => (error.code === 'HERALD_NOT_FOUND' ? false : Promise.reject(error)),
          );
        expect({
          answer,
          aLists: await lists(a),
          bLists: await lists(b),
          aDelivers: a.dispatcher.worker(id) !== undefined,
          bDelivers: b.dispatcher.worker(id) !== undefined,
          stored: (await b.store.listSubscriptions()).map((record) => record.id),
        }).toEqual({
          answer: 'HERALD_NOT_FOUND',
          aLists: false,
          bLists: false,
          aDelivers: false,
          bDelivers: false,
          stored: ['marker'],
        });
      },
      90_000,
    );

    it.each(changes)(
      "a %s on a replica that has not heard another replica's DELETE and create under the same id answers 404 and leaves the new subscription as created",
      async (_name, change) => {
        const [oldSink, newSink] = [await startSink(), await startSink()];
        const { a, b, id } = await delivering('again', oldSink);
        // b deletes it and creates it again (another incarnation, another sink); a hears nothing meanwhile.
        await b.service.delete(id);
        const created = await b.service.create(request(newSink), 'api', undefined, id);
        expect(a.service.find(id).sink).toBe(oldSink);
        const answer = await answerOf(change(a, id, oldSink));
        await heardAll(a, b, newSink);
        // Queued behind what the replica heard of the subscription so far: how it stands there.
        const holds = (r: Replica) =>
          r.service.setPaused(id, false).then((d) => ({ sink: d.sink, incarnation: d.incarnation }));
        const stored = (await b.store.listSubscriptions()).find((record) => record.id === id);
        const storedDefinition = JSON.parse(stored?.document ?? '{}') as {
          sink?: string;
          paused?: boolean;
          seek?: unknown;
        };
        expect({
          answer,
          a: await holds(a),
          b: await holds(b),
          stored: {
            sink: storedDefinition.sink,
            paused: storedDefinition.paused,
            seek: storedDefinition.seek,
          },
        }).toEqual({
          answer: 'HERALD_NOT_FOUND',
          a: { sink: newSink, incarnation: created.incarnation },
          b: { sink: newSink, incarnation: created.incarnation },
          stored: { sink: newSink, paused: false },
        });
      },
      90_000,
    );
  },
);
