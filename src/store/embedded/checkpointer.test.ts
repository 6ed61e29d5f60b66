import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { startCheckpointer } from './checkpointer.js';

/** The compiled checkpoint thread (`npm test` builds first; a worker cannot run the TypeScript source). */
const CHECKPOINT_SCRIPT = new URL('../../../dist/store/embedded/checkpoint-thread.js', import.meta.url);

/** A database in WAL mode with a table, and its file's size once created. */
function setUp(): { dir: string; file: string; db: Database.Database } {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-checkpoint-'));
  const file = path.join(dir, 'default.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
  db.pragma('wal_checkpoint(TRUNCATE)');
  return { dir, file, db };
}

/** Commits enough pages (~2,000, twice SQLite's automatic threshold) in small transactions. */
function commitPages(db: Database.Database): void {
  const insert = db.prepare('INSERT INTO rows (body) VALUES (?)');
  for (let i = 0; i < 2_000; i++) insert.run(Buffer.alloc(3_000, i % 251));
}

describe('the checkpoint thread', () => {
  it("leaves every checkpoint to the thread: the event loop's commits never copy pages into the database file", async () => {
    const { dir, file, db } = setUp();
    const sizeBefore = statSync(file).size;
    // An interval no test waits for: only the checkpoint asked for below runs.
    const checkpointer = startCheckpointer(db, { file, intervalMs: 3_600_000, script: CHECKPOINT_SCRIPT });
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    commitPages(db);
    // Past SQLite's threshold twice over, and nothing was copied: the rows are in the WAL only.
    expect(statSync(file).size).toBe(sizeBefore);
    const { log, checkpointed } = await checkpointer.checkpoint();
    expect(log).toBeGreaterThan(2_000);
    expect(checkpointed).toBe(log);
    expect(statSync(file).size).toBeGreaterThan(sizeBefore + 2_000 * 3_000);
    await checkpointer.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('checkpoints by itself every interval', async () => {
    const { dir, file, db } = setUp();
    const sizeBefore = statSync(file).size;
    const checkpointer = startCheckpointer(db, { file, intervalMs: 20, script: CHECKPOINT_SCRIPT });
    commitPages(db);
    await vi.waitFor(() => expect(statSync(file).size).toBeGreaterThan(sizeBefore + 2_000 * 3_000), {
      timeout: 30_000,
    });
    await checkpointer.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives checkpoints back to the connection when the thread fails', async () => {
    const { dir, file, db } = setUp();
    const script = path.join(dir, 'gone.mjs');
    writeFileSync(script, "throw new Error('the thread failed to start');\n");
    const checkpointer = startCheckpointer(db, { file, script: pathToFileURL(script) });
    await vi.waitFor(() => expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000), {
      timeout: 30_000,
    });
    await expect(checkpointer.checkpoint()).rejects.toThrow(/gone/);
    const sizeBefore = statSync(file).size;
    commitPages(db);
    expect(statSync(file).size).toBeGreaterThan(sizeBefore);
    await checkpointer.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
