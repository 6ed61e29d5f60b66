import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatcher } from '../dispatch/index.js';
import type { EventStore, SubscriptionRecord } from '../store/index.js';
import type { SubscriptionService } from './service.js';
import { startReplica } from './testing/replica.js';
import { jetStream, kafka } from './testing/lagging-backends.js';
import { parseSubscriptionRequest } from './validate.js';
import { until } from '../testing/until.js';
import { startAcceptingSink } from '../dispatch/testing/manual-dispatcher.js';

// Replica a changes a subscription that replica b changed a moment before, which a has not heard yet:
// both changes must be kept, as when they are sent to one replica one after the other. A PUT keeps the
// pause of the subscription it changes, and a pause keeps its spec: written from what a last heard, a's
// change undid b's (b's PUT answered 200 and the subscription went on delivering to the old sink; b's
// pause answered 200 and the subscription was delivered again), on every replica. On a real nats-server
// and a real Kafka node (each fails its suite when missing, never skips it).

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

const cases = [
  [
    'PUT',
    'a pause',
    (r: Replica, id: string, sink: string) => r.service.update(id, request(sink)),
    (r: Replica, id: string) => r.service.setPaused(id, true),
  ],
  [
    'pause',
    'a PUT',
    (r: Replica, id: string) => r.service.setPaused(id, true),
    (r: Replica, id: string, sink: string) => r.service.update(id, request(sink)),
  ],
] as const;

describe.each([jetStream(), kafka()])(
  '$name store: a change of a subscription changed meanwhile on another replica',
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

    it.each(cases)(
      "a %s on b, then %s on a that has not heard it: the store and both replicas hold both changes, a's delivery too",
      async (_b, _a, bChange, aChange) => {
        const [oldSink, newSink] = [await startSink(), await startSink()];
        const broker = `changed${process.pid}-${++brokers}`;
        // a delivers s; b, started then, lists it; then a stops hearing b's writes.
        const a = await replica(broker, true);
        const { id } = await a.service.create(request(oldSink), 'api', undefined, 's');
        await until('a to deliver s', () => a.dispatcher.worker(id) !== undefined);
        const b = await replica(broker, false);
        expect(b.service.find(id).sink).toBe(oldSink);
        backend.hold(broker);

        await bChange(b, id, newSink);
        expect(a.service.find(id)).toMatchObject({ sink: oldSink, paused: false });
        await aChange(a, id, newSink);

        // Both hear everything written before b's next write (the watch reports in log order).
        backend.release();
        await b.service.create(request(newSink), 'api', undefined, 'marker');
        for (const r of [a, b])
          await until('the marker to be heard', () => r.heard.some((h) => h.id === 'marker'));
        // Queued behind what each replica heard of the subscription so far.
        const holds = async (r: Replica) => {
          await r.service.seek(id, 'latest');
          const d = r.service.find(id);
          return { sink: d.sink, paused: d.paused };
        };
        const stored = (await b.store.listSubscriptions()).find((record) => record.id === id);
        const storedDefinition = JSON.parse(stored?.document ?? '{}') as { sink?: string; paused?: boolean };
        expect({
          stored: { sink: storedDefinition.sink, paused: storedDefinition.paused },
          a: await holds(a),
          b: await holds(b),
          aDelivers: {
            sink: a.dispatcher.worker(id)?.compiled.definition.sink,
            state: a.dispatcher.status(id)?.state,
          },
        }).toEqual({
          stored: { sink: newSink, paused: true },
          a: { sink: newSink, paused: true },
          b: { sink: newSink, paused: true },
          aDelivers: { sink: newSink, state: 'paused' },
        });
      },
      90_000,
    );
  },
);
