// Dead letters stored by a version before letter keys (`NewDeadLetter.key`): its `dead_letters` table has
// no `letter_key` column. Opened by this version the table gains it, the old letters keep their ids (the
// API hands them out) and read as before, and keyed letters are held once beside them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { sampleLetter } from '../testing/conformance.js';
import { EmbeddedEventStore } from './sqlite-store.js';

describe('embedded dead letters: a table from before letter keys', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('adds the key column, keeps the old letters and their ids, and holds a keyed letter once', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-dl-keys-'));
    dirs.push(dir);
    const open = () => new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
    let store = open();
    const old = await store.addDeadLetter(sampleLetter('s', 1, 'old'));
    const file = store.file;
    await store.close();
    // The table as the previous version made it.
    const db = new Database(file);
    db.exec('DROP INDEX dead_letters_key; ALTER TABLE dead_letters DROP COLUMN letter_key');
    expect(db.prepare('PRAGMA table_info(dead_letters)').all()).not.toContainEqual(
      expect.objectContaining({ name: 'letter_key' }),
    );
    db.close();

    store = open();
    try {
      expect((await store.listDeadLetters('s', 10)).map((l) => [l.id, l.event.attributes.id])).toEqual([
        [old.id, 'old1'],
      ]);
      // The old letter has no key: the same sequence refused again with one is a letter of its own, once.
      const keyed = await store.addDeadLetter({ ...sampleLetter('s', 1, 'new'), key: 'live:1' });
      expect(await store.addDeadLetter({ ...sampleLetter('s', 1, 'new'), key: 'live:1' })).toMatchObject({
        id: keyed.id,
        existing: true,
      });
      expect((await store.listDeadLetters('s', 10)).map((l) => l.id)).toEqual([old.id, keyed.id]);
      await store.deleteDeadLetters('s', [old.id]);
      expect(await store.countDeadLetters('s')).toBe(1);
    } finally {
      await store.close();
    }
  });
});
