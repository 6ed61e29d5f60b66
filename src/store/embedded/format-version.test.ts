// The embedded store's format version (SQLite's user_version): a database of an older format is migrated
// on open, once; one of a newer format is refused before anything changes it. Letters stored before keys
// take the key the dispatcher adds a live delivery's letter with (`letterKeyOf`), so that the event refused
// again after the upgrade is that letter (test/upgrade/embedded-fixtures.test.ts shows it on a store an
// older build wrote).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { letterKeyOf } from '../../dispatch/dead-lettering.js';
import { HeraldError } from '../../errors/index.js';
import type { StoredEvent } from '../types.js';
import { sampleLetter } from '../testing/conformance.js';
import { FORMAT_VERSION } from './format-version.js';
import { EmbeddedEventStore } from './sqlite-store.js';
import { lockDatabase } from './testing/lock-database.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function storeDir(): { dir: string; open: () => EmbeddedEventStore } {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-format-'));
  dirs.push(dir);
  return { dir, open: () => new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 }) };
}

const liveKey = (definition: { incarnation?: string }, sequence: number, seekEpoch: number) =>
  letterKeyOf(definition, { sequence } as StoredEvent, { seekEpoch });

describe('embedded store format version', () => {
  it('keys the letters stored before keys as a live delivery keys them, once, on the first open', async () => {
    const { open } = storeDir();
    let store = open();
    const file = store.file;
    await store.putSubscription({ id: 'bare', document: JSON.stringify({ id: 'bare' }) });
    await store.putSubscription({
      id: 'sought',
      document: JSON.stringify({ id: 'sought', incarnation: 'inc-1', seek: { next: 1, epoch: 3 } }),
    });
    const bareOld = await store.addDeadLetter(sampleLetter('bare', 5, 'a'));
    const bareNew = await store.addDeadLetter(sampleLetter('bare', 5, 'b'));
    const sought = await store.addDeadLetter(sampleLetter('sought', 7, 'c'));
    const keyed = await store.addDeadLetter({
      ...sampleLetter('sought', 8, 'd'),
      key: liveKey({ incarnation: 'inc-1' }, 8, 3),
    });
    const unkeyedTwin = await store.addDeadLetter(sampleLetter('sought', 8, 'e'));
    const undefinedSubscription = await store.addDeadLetter(sampleLetter('k8s', 9, 'f'));
    await store.close();
    // The database as a build before versions left it: version 0, these letters without keys.
    let db = new Database(file);
    expect(db.pragma('user_version', { simple: true })).toBe(FORMAT_VERSION);
    db.pragma('user_version = 0');
    db.prepare('UPDATE dead_letters SET letter_key = NULL WHERE id <> ?').run(Number(keyed.id));
    db.close();

    store = open();
    await store.close();
    db = new Database(file);
    const keys = new Map(
      db
        .prepare<[], { id: number; letter_key: string | null }>('SELECT id, letter_key FROM dead_letters')
        .all()
        .map((row) => [String(row.id), row.letter_key]),
    );
    expect(db.pragma('user_version', { simple: true })).toBe(FORMAT_VERSION);
    // Of two letters of one event the newest takes the key; a key held already stays its letter's.
    expect(keys.get(bareOld.id)).toBeNull();
    expect(keys.get(bareNew.id)).toBe(liveKey({}, 5, 0));
    expect(keys.get(sought.id)).toBe(liveKey({ incarnation: 'inc-1' }, 7, 3));
    expect(keys.get(keyed.id)).toBe(liveKey({ incarnation: 'inc-1' }, 8, 3));
    expect(keys.get(unkeyedTwin.id)).toBeNull();
    expect(keys.get(undefinedSubscription.id)).toBeNull();
    // At the current version nothing is migrated again: a letter added without a key keeps none.
    db.close();
    store = open();
    const later = await store.addDeadLetter(sampleLetter('bare', 6, 'g'));
    await store.close();
    store = open();
    await store.close();
    db = new Database(file);
    expect(db.prepare('SELECT letter_key FROM dead_letters WHERE id = ?').get(Number(later.id))).toEqual({
      letter_key: null,
    });
    db.close();
  });

  it('leaves a migration that could not finish undone, and the next open makes it whole', async () => {
    const { open } = storeDir();
    let store = open();
    const file = store.file;
    await store.putSubscription({ id: 'bare', document: JSON.stringify({ id: 'bare' }) });
    for (let n = 1; n <= 50; n++) await store.addDeadLetter(sampleLetter('bare', n, 'l'));
    await store.close();
    let db = new Database(file);
    db.pragma('user_version = 0');
    db.exec('UPDATE dead_letters SET letter_key = NULL');
    db.close();
    // Another process holds the write lock: the migration's transaction cannot commit (a crash in it,
    // a full disk), and the open fails.
    const release = await lockDatabase(file);
    try {
      expect(open).toThrow();
    } finally {
      await release();
    }
    db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(0);
    expect(db.prepare('SELECT COUNT(*) AS n FROM dead_letters WHERE letter_key IS NOT NULL').get()).toEqual({
      n: 0,
    });
    db.close();

    store = open();
    expect(await store.countDeadLetters('bare')).toBe(50);
    await store.close();
    db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(FORMAT_VERSION);
    expect(db.prepare('SELECT COUNT(*) AS n FROM dead_letters WHERE letter_key IS NOT NULL').get()).toEqual({
      n: 50,
    });
    db.close();
  });

  it('refuses a database of a newer format, changing nothing in it', async () => {
    const { open } = storeDir();
    let store = open();
    const file = store.file;
    await store.addDeadLetter(sampleLetter('s', 1, 'x'));
    await store.close();
    const db = new Database(file);
    db.pragma(`user_version = ${FORMAT_VERSION + 1}`);
    db.exec('DROP TABLE cursors');
    db.close();

    let refused: unknown;
    try {
      store = open();
      await store.close();
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(HeraldError);
    expect(refused).toMatchObject({ code: 'HERALD_INVALID_CONFIG' });
    expect(String((refused as Error).message)).toContain(`format ${FORMAT_VERSION + 1}`);
    const after = new Database(file, { readonly: true });
    expect(after.pragma('user_version', { simple: true })).toBe(FORMAT_VERSION + 1);
    // Not even the tables every open makes were made.
    expect(after.prepare("SELECT name FROM sqlite_master WHERE name = 'cursors'").get()).toBeUndefined();
    after.close();
  });
});
