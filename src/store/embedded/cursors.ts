import { closeSync, fdatasync, openSync } from 'node:fs';
import { promisify } from 'node:util';
import type Database from 'better-sqlite3';
import { relaxedTransaction } from './relaxed-transaction.js';

/** `fdatasync` on libuv's pool, while the event loop goes on. */
const fdatasyncOnPool = promisify(fdatasync);

const CURSORS_SCHEMA =
  'CREATE TABLE IF NOT EXISTS cursors (subscription TEXT PRIMARY KEY, next INTEGER NOT NULL) WITHOUT ROWID';

/**
 * The embedded store's subscription cursors (`cursors` table).
 *
 * @remarks The dispatcher commits the cursors that moved every 200 ms. With `synchronous = FULL` each of
 * those commits synced SQLite's WAL on the event loop, 4–6 ms every 200 ms with events arriving at 5,000/s
 * (bench/PROFILE.md, fourteenth round): requests and deliveries waited meanwhile. A commit is now written
 * at `synchronous = NORMAL` (the WAL frames reach the kernel at once) and the WAL file is then synced on
 * libuv's pool; the promise settles after that sync, so a committed cursor is as durable as before, and
 * the event loop goes on while the disk works.
 */
export class EmbeddedCursors {
  private readonly statements;
  private readonly commitMany: (cursors: ReadonlyArray<readonly [string, number]>) => void;
  /** The WAL file, opened on the first durable commit (it exists once the database is in WAL mode). */
  private walFd: number | undefined;
  private readonly syncing = new Set<Promise<void>>();

  constructor(
    db: Database.Database,
    /** The database file; its WAL is `<file>-wal`. */
    private readonly file: string,
    /** `--durability fsync`: a commit resolves once the WAL is synced. */
    private readonly durable: boolean,
  ) {
    db.exec(CURSORS_SCHEMA);
    this.statements = {
      get: db.prepare<[string], { next: number }>('SELECT next FROM cursors WHERE subscription = ?'),
      put: db.prepare('INSERT OR REPLACE INTO cursors (subscription, next) VALUES (?, ?)'),
      delete: db.prepare('DELETE FROM cursors WHERE subscription = ?'),
    };
    const put = this.statements.put;
    this.commitMany = relaxedTransaction(db, durable, (cursors: ReadonlyArray<readonly [string, number]>) => {
      for (const [subscription, next] of cursors) put.run(subscription, next);
    });
  }

  get(subscription: string): number | undefined {
    return this.statements.get.get(subscription)?.next;
  }

  /** Writes the cursors in one transaction; durable when the promise resolves. */
  commit(cursors: ReadonlyArray<readonly [string, number]>): Promise<void> {
    if (cursors.length === 0) return Promise.resolve();
    this.commitMany(cursors);
    return this.durable ? this.syncWal() : Promise.resolve();
  }

  /** Writes one cursor inside the caller's transaction (which syncs as that transaction does). */
  write(subscription: string, next: number): void {
    this.statements.put.run(subscription, next);
  }

  delete(subscription: string): void {
    this.statements.delete.run(subscription);
  }

  /** Waits for the WAL syncs in flight, then closes the WAL's descriptor (before the database closes). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.syncing]);
    if (this.walFd !== undefined) closeSync(this.walFd);
    this.walFd = undefined;
  }

  private syncWal(): Promise<void> {
    let fd: number;
    try {
      // fsync is per file, not per descriptor: syncing this one syncs what SQLite's own wrote.
      fd = this.walFd ??= openSync(`${this.file}-wal`, 'r');
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    const synced = fdatasyncOnPool(fd).finally(() => this.syncing.delete(synced));
    this.syncing.add(synced);
    return synced;
  }
}
