import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedEventStore } from '../store/embedded/index.js';
import { lockDatabase as lockDatabaseIn } from '../store/embedded/testing/lock-database.js';
import type { SubscriptionService } from './service.js';
import { startReplica } from './testing/replica.js';
import { parseSubscriptionRequest } from './validate.js';

// A change of a subscription that the store refuses to write (here: another process, an operator's
// sqlite3 shell or a backup, holds SQLite's write lock on the embedded store's database) fails, and
// changes nothing: what the broker lists and delivers stays what the store holds. Before, the change
// stayed in the broker's memory: a failed PUT was listed (GET showed the new sink while the old one got
// the events, until a restart brought back the stored one), and a failed DELETE answered 404 from then
// on while the stored subscription came back, delivering, at the next start.

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openService(dir: string): Promise<{ service: SubscriptionService }> {
  // A short busy timeout: a write meeting the lock fails after 100 ms instead of 2 s.
  const store = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0, busyTimeoutMs: 100 });
  cleanups.push(() => store.close());
  const { service } = await startReplica(store, cleanups);
  return { service };
}

/** A second process holding SQLite's write lock on `file` until it is released. */
async function lockDatabase(file: string): Promise<() => Promise<void>> {
  const release = await lockDatabaseIn(file);
  cleanups.push(release);
  return release;
}

const request = (sink: string) =>
  parseSubscriptionRequest({ sink, protocol: 'HTTP', types: ['never.sent'], startAt: 'latest' });

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-service-write-fails-'));
  cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  return dir;
}

describe('subscription service: a change the store cannot write', () => {
  it('a PUT, pause or seek that fails leaves the subscription as the store holds it', async () => {
    const dir = tempDir();
    const { service } = await openService(dir);
    await service.create(request('http://127.0.0.1:9/old'), 'api', undefined, 'sub');

    const stored = service.find('sub');
    const release = await lockDatabase(path.join(dir, 'default.db'));
    // Each checked on its own: a change made after a kept one is made again from what the store holds
    // (it is not what that change was made from), which would hide the kept one at the end.
    await expect(service.update('sub', request('http://127.0.0.1:9/new'))).rejects.toThrow();
    expect(service.find('sub'), 'after the failed PUT').toEqual(stored);
    await expect(service.setPaused('sub', true)).rejects.toThrow();
    expect(service.find('sub'), 'after the failed pause').toEqual(stored);
    await expect(service.seek('sub', 'earliest')).rejects.toThrow();
    expect(service.find('sub'), 'after the failed seek').toEqual(stored);
    await release();

    const listed = service.find('sub');
    expect(listed.sink).toBe('http://127.0.0.1:9/old');
    expect(listed.paused).toBe(false);
    expect(listed.seek).toBeUndefined();
    // And so does a broker started again on the same data.
    const restarted = await openService(dir);
    expect(restarted.service.find('sub')).toEqual(listed);
  });

  it('a DELETE that fails leaves the subscription listed, and one asked for again deletes it', async () => {
    const dir = tempDir();
    const { service } = await openService(dir);
    await service.create(request('http://127.0.0.1:9/sink'), 'api', undefined, 'sub');

    const release = await lockDatabase(path.join(dir, 'default.db'));
    await expect(service.delete('sub')).rejects.toThrow();
    await release();

    // Not answered 404 while the store still holds it (it would come back, delivering, at the next start).
    expect(service.find('sub').sink).toBe('http://127.0.0.1:9/sink');
    await service.delete('sub');
    expect(() => service.find('sub')).toThrow(/does not exist/);
    const restarted = await openService(dir);
    expect(restarted.service.list()).toEqual([]);
  });
});
