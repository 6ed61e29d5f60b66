import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { EmbeddedCursors } from './cursors.js';

function open(dir: string, durable: boolean): { db: Database.Database; cursors: EmbeddedCursors } {
  const file = path.join(dir, 'default.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${durable ? 'FULL' : 'NORMAL'}`);
  db.exec(
    'CREATE TABLE IF NOT EXISTS cursors (subscription TEXT PRIMARY KEY, next INTEGER NOT NULL) WITHOUT ROWID',
  );
  return { db, cursors: new EmbeddedCursors(db, file, durable) };
}

/** Whether the event loop has turned since this was called. */
function loopTurn(): { readonly turned: boolean } {
  const state = { turned: false };
  setImmediate(() => {
    state.turned = true;
  });
  return state;
}

describe('the embedded cursors', () => {
  it('let the event loop run while a durable commit syncs the WAL, and resolve after the sync', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-cursors-'));
    const { db, cursors } = open(dir, true);
    const loop = loopTurn();
    const committed = cursors.commit([
      ['a', 10],
      ['b', 20],
    ]);
    // Written at once (a read sees it), durable once the promise resolves.
    expect(cursors.get('a')).toBe(10);
    await committed;
    expect(loop.turned).toBe(true);
    // The connection's other writes keep FULL.
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    await cursors.close();
    db.close();
    const again = open(dir, true);
    expect([again.cursors.get('a'), again.cursors.get('b'), again.cursors.get('c')]).toEqual([
      10,
      20,
      undefined,
    ]);
    again.cursors.delete('a');
    expect(again.cursors.get('a')).toBeUndefined();
    await again.cursors.close();
    again.db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('without fsync, commit without waiting for the disk', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-cursors-'));
    const { db, cursors } = open(dir, false);
    const loop = loopTurn();
    await cursors.commit([['a', 1]]);
    expect(loop.turned).toBe(false);
    expect(cursors.get('a')).toBe(1);
    await cursors.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
