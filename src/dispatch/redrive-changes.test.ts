import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer } from '../../test/infra/nats/server.js';
import type { NatsServer } from '../../test/infra/nats/server.js';
import { EmbeddedEventStore } from '../store/embedded/sqlite-store.js';
import type { DeadLetter, EventStore } from '../store/index.js';
import { createJetStreamStore } from '../store/jetstream/index.js';
import { sampleEvent } from '../store/testing/conformance.js';
import { DEFAULT_DELIVERY, compileSubscription } from '../subscriptions/index.js';
import type { CompiledSubscription } from '../subscriptions/index.js';
import { until } from '../testing/until.js';
import { startManualDispatcher } from './testing/manual-dispatcher.js';
import type { Cleanups } from './testing/manual-dispatcher.js';

// A redrive racing a change of its subscription. A DELETE (or a PUT) retires the subscription's worker,
// and waits for its attempts in flight, so that nothing of the old subscription is delivered or stored
// after the change: the redrive's attempt in flight too (a letter the sink refuses again must not be
// stored as a dead letter of a deleted subscription, which a subscription created again under its id
// would inherit). A replica that does not deliver the subscription redrives with a detached worker: the
// change must end that one as well (otherwise it goes on delivering the letters it queued to the sink
// the PUT replaced, and redrives asked for after the PUT join its queue and go there too).

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

interface Arrival {
  readonly path: string;
  readonly id: string;
}

/** A loopback sink that holds each request `holdMs`, then answers `status`; it records every arrival. */
async function startSink(status: number, holdMs: number): Promise<{ url: string; arrivals: Arrival[] }> {
  const arrivals: Arrival[] = [];
  const server = createServer((req, res) => {
    arrivals.push({ path: req.url ?? '', id: String(req.headers['ce-id']) });
    req.resume();
    const timer = setTimeout(() => res.writeHead(status).end(), holdMs);
    res.on('close', () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, arrivals };
}

/** Subscription `id` delivering to `sink`, no retry (a refusal dead-letters at once). */
function subscription(id: string, sink: string): CompiledSubscription {
  return compileSubscription(
    {
      id,
      sink,
      protocol: 'HTTP',
      delivery: { ...DEFAULT_DELIVERY, retry: 0 },
      startAt: 'latest',
      paused: false,
      origin: 'api',
      createdAt: new Date(0).toISOString(),
      incarnation: 'first',
    },
    undefined,
  );
}

/** Stores one dead letter of `id` for each of `events`. */
async function deadLetters(store: EventStore, id: string, events: readonly string[]): Promise<DeadLetter[]> {
  const letters: DeadLetter[] = [];
  for (const [i, event] of events.entries()) {
    letters.push(
      await store.addDeadLetter({
        subscription: id,
        sequence: i + 1,
        event: sampleEvent(event),
        trace: undefined,
        error: { code: 'HERALD_SINK_REJECTED', message: 'status 400', status: 400 },
        attempts: 1,
        deadLetteredAt: Date.now(),
      }),
    );
  }
  return letters;
}

describe('a redrive racing a DELETE of its subscription (embedded store)', () => {
  it('ends the letter in flight before the removal resolves: one refused again is not stored for the deleted subscription', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-redrive-'));
    const store = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
    cleanups.push(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    // The sink refuses again, after holding the redriven letter long enough for the DELETE to run.
    const sink = await startSink(400, 1_500);
    const dispatcher = await startManualDispatcher(store, cleanups);
    const compiled = subscription('s', `${sink.url}/s`);
    await dispatcher.add(compiled, 1);
    const letters = await deadLetters(store, 's', ['l1', 'l2']);

    const redrive = dispatcher.redrive(compiled, { ids: letters.map((l) => l.id) });
    await until('the first letter at the sink', () => sink.arrivals.length === 1);
    // What `DELETE /subscriptions/{id}` does: the worker goes, then every dead letter listed.
    await dispatcher.remove('s', true);
    const listed = await store.listDeadLetters('s', Number.MAX_SAFE_INTEGER);
    await store.deleteDeadLetters(
      's',
      listed.map((l) => l.id),
    );
    await redrive;

    const left = await store.listDeadLetters('s', Number.MAX_SAFE_INTEGER);
    expect(left.map((l) => l.event.attributes.id)).toEqual([]);
    // The redrive ended with the removal: the second letter never went out.
    expect(sink.arrivals.map((a) => a.id)).toEqual(['l1']);
  });
});

describe('a redrive on a replica that does not deliver the subscription (jetstream store)', () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNatsServer();
  }, 120_000);
  afterAll(async () => {
    await nats?.stop();
  });

  async function replica(broker: string): Promise<EventStore> {
    const store = createJetStreamStore({ servers: nats.url, brokerName: broker });
    await store.whenReady();
    cleanups.push(() => store.close());
    return store;
  }

  it('sends nothing to the old sink once it applied a PUT, and a redrive asked for after it goes to the new one', async () => {
    const broker = `redrive-${process.pid}`;
    const a = await replica(broker);
    const b = await replica(broker);
    // Each letter held a moment at the old sink: the PUT lands while the first one is there.
    const sink = await startSink(200, 1_500);
    const onA = await startManualDispatcher(a, cleanups);
    const onB = await startManualDispatcher(b, cleanups);
    const old = subscription('s', `${sink.url}/old`);
    // Replica a holds the claim and delivers; b only knows the subscription.
    await onA.add(old, 1);
    await onB.add(old, 1);
    expect(onA.isLocal('s')).toBe(true);
    expect(onB.isLocal('s')).toBe(false);
    const ids = ['l1', 'l2', 'l3'];
    const letters = await deadLetters(a, 's', ids);

    const first = onB.redrive(old, { ids: letters.map((l) => l.id) });
    await until('the first letter at the old sink', () => sink.arrivals.length === 1);
    // The PUT changing the sink, as each replica applies it (the one serving it, and the other on hearing it).
    const changed = subscription('s', `${sink.url}/new`);
    await onB.add(changed, 1);
    await onA.add(changed, 1);
    const sentToOld = sink.arrivals.filter((x) => x.path === '/old').length;
    await first;
    // Whatever the first redrive left is asked for again, after the PUT: to the new sink.
    const left = await b.listDeadLetters('s', Number.MAX_SAFE_INTEGER);
    await onB.redrive(changed, { ids: left.map((l) => l.id) });

    expect(sink.arrivals.filter((x) => x.path === '/old').length).toBe(sentToOld);
    expect(await b.listDeadLetters('s', Number.MAX_SAFE_INTEGER)).toEqual([]);
    // None lost: each letter reached a sink, the new one unless it was at the old one before the PUT.
    expect([...new Set(sink.arrivals.map((x) => x.id))].sort()).toEqual(ids);
  });
});
