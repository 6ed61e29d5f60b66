import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerMetrics, createLogger } from '../observability/index.js';
import { EmbeddedEventStore } from '../store/embedded/sqlite-store.js';
import { sampleEvent } from '../store/testing/conformance.js';
import type { EventStore } from '../store/types.js';
import { Dispatcher } from './dispatcher.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

describe('dispatcher shared tail', () => {
  it('reads the log only when it holds something new, never a page of nothing after each page', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-dispatcher-'));
    const embedded = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
    cleanups.push(async () => {
      await embedded.close();
      rmSync(dir, { recursive: true, force: true });
    });
    // The real store, with its reads counted. For a distributed store an empty read is a request to
    // the server per page (JetStream: a direct get answered "nothing").
    const reads = { pages: 0, empty: 0 };
    const store = new Proxy(embedded, {
      get(target, property, receiver) {
        if (property !== 'read') return Reflect.get(target, property, receiver) as unknown;
        return async (from: number, limit: number) => {
          const page = await target.read(from, limit);
          reads.pages++;
          if (page.length === 0) reads.empty++;
          return page;
        };
      },
    }) as EventStore;
    const dispatcher = new Dispatcher({
      store,
      metrics: new BrokerMetrics(false),
      logger: createLogger('silent'),
    });
    await dispatcher.start();
    cleanups.push(() => dispatcher.stop(1_000));

    for (let i = 1; i <= 5; i++) {
      await store.append([{ event: sampleEvent(`e${i}`) }]);
      await until(`the tail to pass event ${i}`, () => dispatcher.tailPosition() === i + 1);
    }
    await store.append([{ event: sampleEvent('e6') }, { event: sampleEvent('e7') }]);
    await until('the tail to pass events 6 and 7', () => dispatcher.tailPosition() === 8);

    expect(reads.pages).toBeGreaterThanOrEqual(6);
    expect(reads.empty).toBe(0);
  });
});
