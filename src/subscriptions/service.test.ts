import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedEventStore } from '../store/embedded/index.js';
import { sampleEvent } from '../store/testing/conformance.js';
import { cursorKeyOf } from './cursor-key.js';
import type { SubscriptionService } from './service.js';
import { startReplica } from './testing/replica.js';
import { parseSubscriptionRequest } from './validate.js';

// The service on the real embedded store and the real dispatcher: what a subscription's incarnation is
// across create, replace and delete (the cursor key of every replica follows it; see cursor-key.ts).
const cleanups: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openService(): Promise<{ service: SubscriptionService; store: EmbeddedEventStore }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-service-'));
  const store = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
  cleanups.push(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const { service } = await startReplica(store, cleanups);
  return { service, store };
}

// A sink on loopback that no event reaches: none of the events here matches.
const request = (types: string[]) =>
  parseSubscriptionRequest({ sink: 'http://127.0.0.1:9/', protocol: 'HTTP', types, startAt: 'latest' });

describe('subscription service: incarnations', () => {
  it('gives every create a new incarnation, keeps it when the subscription is replaced, and hides it from clients', async () => {
    const { service, store } = await openService();
    const first = await service.create(request(['a']), 'api', undefined, 's');
    expect(first.incarnation).toMatch(/^[0-9a-f-]{36}$/);
    // The first cursor is stored under the incarnation's key, none under the bare id.
    expect(await store.getCursor(cursorKeyOf(first))).toBe(1);
    expect(await store.getCursor('s')).toBeUndefined();

    const replaced = await service.update('s', request(['b']));
    expect(replaced.incarnation).toBe(first.incarnation);
    expect(service.view(replaced)).not.toHaveProperty('incarnation');

    await service.delete('s');
    expect(await store.getCursor(cursorKeyOf(first))).toBeUndefined();
    const again = await service.create(request(['a']), 'api', undefined, 's');
    expect(again.incarnation).toBeDefined();
    expect(again.incarnation).not.toBe(first.incarnation);
  });

  it('stores a seek under the incarnation’s key', async () => {
    const { service, store } = await openService();
    const created = await service.create(request(['a']), 'api', undefined, 's');
    await store.append([{ event: sampleEvent('e1', { type: 'b' }) }]);
    await service.seek('s', 'latest');
    expect(await store.getCursor(cursorKeyOf(created))).toBe(2);
    expect(await store.getCursor('s')).toBeUndefined();
  });
});
