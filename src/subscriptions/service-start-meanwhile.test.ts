import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer } from '../../test/infra/nats/server.js';
import type { NatsServer } from '../../test/infra/nats/server.js';
import type { SubscriptionRecord } from '../store/index.js';
import { createJetStreamStore } from '../store/jetstream/index.js';
import type { JetStreamEventStore } from '../store/jetstream/index.js';
import { until } from '../testing/until.js';
import type { SubscriptionService } from './service.js';
import { openReplica, startReplica } from './testing/replica.js';
import type { SubscriptionDefinition } from './types.js';
import { parseSubscriptionRequest } from './validate.js';
import { startAcceptingSink } from '../dispatch/testing/manual-dispatcher.js';

// A replica starting while another one changes a stored subscription, on a real nats-server. The
// starting replica lists the stored definitions, then starts them one by one, each once its start
// position is resolved (a request to the store); the watch, registered before the list, reports the
// other replica's change meanwhile. What the watch reported is at least as current as the list: the
// starting replica must end up holding it — a deleted subscription neither listed nor delivered there,
// a paused or changed one listed as the registry holds it — and never the older listed definition. The
// window is held open by the starting replica's store, which answers the start position of one
// subscription only when the test says so (the real store answers it then).

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

/** How long a change may take to be heard or applied (a bound, never a measured result). */
const DEADLINE_MS = 15_000;

const startSink = (): Promise<string> => startAcceptingSink(cleanups);

/** Each subscription starts at a time of its own, so the store can tell whose start position is asked. */
const START = { w: '2026-01-01T00:00:00Z', x: '2026-01-02T00:00:00Z' } as const;

const request = (sink: string, time: string) =>
  parseSubscriptionRequest({ sink, protocol: 'HTTP', types: ['t'], startAt: { time } });

async function openStore(broker: string): Promise<JetStreamEventStore> {
  const store = createJetStreamStore({ servers: server.url, brokerName: broker });
  cleanups.push(() => store.close());
  await store.whenReady();
  return store;
}

/**
 * The real store, whose answer to the start position at `held` (`sequenceAt`, asked only to resolve a
 * start position) waits until `release`; `reached` resolves once it is asked.
 */
function holdingStartPosition(store: JetStreamEventStore, held: string) {
  const time = Date.parse(held);
  let reach: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  const sequenceAt = async (at: number): Promise<number> => {
    if (at === time) {
      reach();
      await released;
    }
    return store.sequenceAt(at);
  };
  const holding = new Proxy(store, {
    get(target, property) {
      if (property === 'sequenceAt') return sequenceAt;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  // Never left waiting when a test fails first.
  cleanups.push(() => Promise.resolve(release()));
  return { store: holding, reached, release };
}

/** What replica b does to subscription x while replica a starts; resolves to x's definition after it. */
const changes = [
  ['DELETE', (b: SubscriptionService) => b.delete('x').then(() => undefined)],
  ['pause', (b: SubscriptionService) => b.setPaused('x', true)],
  // To another path of the sink: a definition of its own.
  ['PUT', (b: SubscriptionService, sink: string) => b.update('x', request(`${sink}changed`, START.x))],
] as const;

/** The change heard while a waits for x's own start position, or for w's (listed first) before it. */
const cases = [
  ['DELETE', 'x'],
  ['DELETE', 'w'],
  ['pause', 'w'],
  ['PUT', 'w'],
] as const;

describe('subscription service on JetStream: a change heard while the service starts', () => {
  it.each(cases)(
    "another replica's %s of a subscription heard while the starting replica waits for the start position of %s: the starting replica holds what it heard, not the older listed definition",
    async (name, waitsFor) => {
      const change = changes.find(([n]) => n === name)?.[1];
      if (change === undefined) throw new Error(`no change ${name}`);
      const broker = `start${process.pid}-${++brokers}`;
      // Replica b stores and delivers w and x (it created them); a starts while b runs.
      const b = await startReplica(await openStore(broker), cleanups);
      const sink = await startSink();
      await b.service.create(request(sink, START.w), 'api', undefined, 'w');
      await b.service.create(request(sink, START.x), 'api', undefined, 'x');

      const { store, reached, release } = holdingStartPosition(await openStore(broker), START[waitsFor]);
      // Registered before the service's watch: what this hears, the service's listener has been told.
      const heard: Array<{ id: string; record: SubscriptionRecord | undefined }> = [];
      const stop = store.watchSubscriptions((id, record) => heard.push({ id, record }));
      cleanups.push(() => Promise.resolve(stop()));
      const a = await openReplica(store, cleanups);
      const starting = a.service.start();
      await reached;

      // b changes x; a hears it while its start waits, and is given a turn to apply what it can.
      const after: SubscriptionDefinition | undefined = await change(b.service, sink);
      const document = after === undefined ? undefined : JSON.stringify(after);
      await until(
        `a to hear x ${name}`,
        () => heard.some((h) => h.id === 'x' && h.record?.document === document),
        DEADLINE_MS,
      );
      await nextTurn();
      release();
      await starting;

      // b delivers x as long as it exists (it holds the claim); a, only if it delivered a deleted x.
      const held = () => ({
        aLists: a.service.list().find((d) => d.id === 'x'),
        aDelivers: a.dispatcher.worker('x') !== undefined,
      });
      const expected = { aLists: after, aDelivers: false };
      // What a heard of x after its start applies in turn; whatever a holds once that is done stays.
      await until(
        'a to hold what it heard of x',
        () => JSON.stringify(held()) === JSON.stringify(expected),
        DEADLINE_MS,
      ).catch(() => undefined);
      expect(held()).toEqual(expected);
      expect(a.service.list().some((d) => d.id === 'w')).toBe(true);
    },
    60_000,
  );
});
