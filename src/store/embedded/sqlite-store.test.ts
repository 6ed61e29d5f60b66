import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { describeStoreConformance, sampleEvent } from '../testing/conformance.js';
import type { StoreHarnessOptions } from '../testing/conformance.js';
import { EmbeddedEventStore } from './sqlite-store.js';

function openEmbedded(options: StoreHarnessOptions, dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'))) {
  const make = () =>
    new EmbeddedEventStore({
      dataDir: dir,
      maintenanceIntervalMs: 0,
      ...(options.dedupeWindowMs === undefined ? {} : { dedupeWindowMs: options.dedupeWindowMs }),
      ...(options.retention === undefined ? {} : { retention: options.retention }),
    });
  let store = make();
  return {
    dir,
    get store() {
      return store;
    },
    async reopen() {
      await store.close();
      store = make();
      return store;
    },
    applyRetention() {
      store.runMaintenance();
      return Promise.resolve();
    },
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describeStoreConformance('embedded', (options) => Promise.resolve(openEmbedded(options)));

describe('embedded store', () => {
  it('reports the store unavailable while another process holds the write lock, and stores nothing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    const store = new EmbeddedEventStore({ dataDir: dir, busyTimeoutMs: 50, maintenanceIntervalMs: 0 });
    const other = new Database(store.file);
    other.exec('BEGIN IMMEDIATE');
    await expect(store.append([{ event: sampleEvent('locked') }])).rejects.toMatchObject({
      code: 'HERALD_STORE_UNAVAILABLE',
    });
    other.exec('ROLLBACK');
    other.close();
    const [outcome] = await store.append([{ event: sampleEvent('after') }]);
    expect(outcome?.sequence).toBe(1);
    expect((await store.read(0, 10)).map((e) => e.event.attributes['id'])).toEqual(['after']);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('commits appends issued in one turn of the event loop in one transaction', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    const store = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.append([{ event: sampleEvent(`g${i}`) }])));
    expect(store.commits).toBe(1);
    for (let i = 0; i < 5; i++) await store.append([{ event: sampleEvent(`s${i}`) }]);
    expect(store.commits).toBe(6);
    expect((await store.stats()).events).toBe(105);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
