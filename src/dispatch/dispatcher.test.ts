import { mkdtempSync, rmSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HeraldError } from '../errors/index.js';
import { BrokerMetrics, createLogger } from '../observability/index.js';
import { EmbeddedEventStore } from '../store/embedded/sqlite-store.js';
import { sampleEvent } from '../store/testing/conformance.js';
import type { EventStore } from '../store/types.js';
import { DEFAULT_DELIVERY, compileSubscription } from '../subscriptions/index.js';
import type { CompiledSubscription } from '../subscriptions/index.js';
import { Dispatcher } from './dispatcher.js';
import { startRecordingSink } from './testing/manual-dispatcher.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A paused subscription (delivering to `sink` when one is given): the shared tail feeds it (its queue holds what it was offered, so its position is
 * the first event it has not delivered) and it never connects anywhere.
 */
function pausedSubscription(id: string, sink?: string): CompiledSubscription {
  return compileSubscription(
    {
      id,
      sink: sink ?? 'http://127.0.0.1:9/never',
      protocol: 'HTTP',
      delivery: DEFAULT_DELIVERY,
      startAt: 'latest',
      paused: sink === undefined,
      origin: 'api',
      createdAt: new Date(0).toISOString(),
    },
    undefined,
  );
}

/** The real embedded store, with its reads and its waits for appends counted. */
function countedStore(statsDelayMs = 0): {
  store: EventStore;
  reads: { pages: number; empty: number; waits: number };
} {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-dispatcher-'));
  const embedded = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
  cleanups.push(async () => {
    await embedded.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const reads = { pages: 0, empty: 0, waits: 0 };
  const store = new Proxy(embedded, {
    get(target, property, receiver) {
      if (property === 'stats' && statsDelayMs > 0) {
        // As a distributed store's stats (a request to the server) can be.
        return async () => {
          await new Promise((resolve) => setTimeout(resolve, statsDelayMs));
          return target.stats();
        };
      }
      if (property === 'waitForAppend') {
        return (after: number, signal?: AbortSignal) => {
          reads.waits++;
          return target.waitForAppend(after, signal);
        };
      }
      if (property !== 'read') return Reflect.get(target, property, receiver) as unknown;
      return async (from: number, limit: number) => {
        const page = await target.read(from, limit);
        reads.pages++;
        if (page.length === 0) reads.empty++;
        return page;
      };
    },
  }) as EventStore;
  return { store, reads };
}

/** A dispatcher on `store`, started, and stopped after the test. */
async function startedDispatcher(store: EventStore): Promise<Dispatcher> {
  const dispatcher = new Dispatcher({
    store,
    metrics: new BrokerMetrics(false),
    logger: createLogger('silent'),
  });
  await dispatcher.start();
  cleanups.push(() => dispatcher.stop(1_000));
  return dispatcher;
}

async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

describe('dispatcher shared tail', () => {
  it('reads the log only when it holds something new, never a page of nothing after each page', async () => {
    // For a distributed store an empty read is a request to the server per page (JetStream: a direct
    // get answered "nothing").
    const { store, reads } = countedStore();
    const dispatcher = await startedDispatcher(store);
    await dispatcher.add(pausedSubscription('feeds-the-tail'), 1);

    for (let i = 1; i <= 5; i++) {
      await store.append([{ event: sampleEvent(`e${i}`) }]);
      await until(`the tail to pass event ${i}`, () => dispatcher.tailPosition() === i + 1);
    }
    await store.append([{ event: sampleEvent('e6') }, { event: sampleEvent('e7') }]);
    await until('the tail to pass events 6 and 7', () => dispatcher.tailPosition() === 8);

    expect(reads.pages).toBeGreaterThanOrEqual(6);
    expect(reads.empty).toBe(0);
  });

  it('neither reads the log nor waits for appends while it has no subscription', async () => {
    const { store, reads } = countedStore();
    const dispatcher = await startedDispatcher(store);
    const waitsBefore = reads.waits;
    for (let i = 1; i <= 20; i++) await store.append([{ event: sampleEvent(`idle${i}`) }]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Nothing read, and no reader waiting: the store keeps its large groups' syncs in place.
    expect(reads.pages).toBe(0);
    expect(reads.waits).toBe(waitsBefore);

    // A subscription from the latest event on: the tail starts at the end of the log, not where it idled.
    await dispatcher.add(pausedSubscription('latest'), 21);
    await until('the tail to move to the end of the log', () => dispatcher.tailPosition() === 21);
    expect(reads.pages).toBe(0);
    await store.append([{ event: sampleEvent('after') }]);
    await until(
      'the subscription to be offered event 21',
      () => dispatcher.worker('latest')?.status().lag === 1,
    );
    expect(dispatcher.worker('latest')?.position()).toBe(21);
  });

  it('after idling, delivers to a subscription that joins where the tail stopped every event appended meanwhile', async () => {
    const { url, received } = await startRecordingSink(cleanups);
    // The end of the log is slow to learn (as a distributed store's stats, a request to its server can
    // be), so the returning subscription joins the idle tail before the tail has looked.
    const { store } = countedStore(100);
    const dispatcher = await startedDispatcher(store);
    await dispatcher.add(pausedSubscription('returns', url), 1);
    await store.append([{ event: sampleEvent('e1') }]);
    await until('event 1 to be delivered', () => received.length === 1);
    await dispatcher.remove('returns', false);
    await store.append([{ event: sampleEvent('e2') }]);
    await until('the tail to pass event 2 and idle', () => dispatcher.tailPosition() === 3);
    for (let i = 3; i <= 30; i++) await store.append([{ event: sampleEvent(`e${i}`) }]);
    // Back from event 2 on: it reads event 2 itself and joins the tail at 3, which reads on from there.
    await store.commitCursor('returns', 2);
    await dispatcher.add(pausedSubscription('returns', url), 2);
    await store.append([{ event: sampleEvent('e31') }]);
    await until('events 2..31 to be delivered', () => received.length >= 31);
    await new Promise((resolve) => setTimeout(resolve, 150));
    // Up to 16 in flight: the order may vary, the set may not (each once, none skipped).
    const byNumber = [...received].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
    expect(byNumber).toEqual(Array.from({ length: 31 }, (_, i) => `e${i + 1}`));
  });

  it("logs its failing reads once per --log-refusals-interval with the subscriptions', not once a second", async () => {
    // The store is away for reads: the tail tries again every second, and it logged an error each time.
    const { store: embedded } = countedStore();
    const store = new Proxy(embedded, {
      get(target, property, receiver) {
        if (property !== 'read') return Reflect.get(target, property, receiver) as unknown;
        return () => Promise.reject(new HeraldError('HERALD_STORE_UNAVAILABLE', 'the store is away'));
      },
    }) as EventStore;
    const output = new PassThrough();
    const lines: string[] = [];
    output.on('data', (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
    const metrics = new BrokerMetrics(false);
    const dispatcher = new Dispatcher({
      store,
      metrics,
      logger: createLogger('info', {}, output),
      logRepeatsIntervalMs: 60_000,
    });
    await dispatcher.start();
    cleanups.push(() => dispatcher.stop(1_000));
    await dispatcher.add(pausedSubscription('fed-by-the-tail'), 1);
    await store.append([{ event: sampleEvent('unread') }]);
    await new Promise((resolve) => setTimeout(resolve, 3_500));

    const failures = lines.filter((line) => /read(ing the log)? failed/.test(line));
    expect(failures).toHaveLength(1);
    expect(JSON.parse(failures[0] as string)).toMatchObject({
      msg: 'reading the log failed; retrying',
      reader: 'shared tail',
      err: { code: 'HERALD_STORE_UNAVAILABLE' },
    });
    expect((await metrics.logLinesSuppressed.get()).values[0]?.value).toBeGreaterThanOrEqual(2);
  });
});
