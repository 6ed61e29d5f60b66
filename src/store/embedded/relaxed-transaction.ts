import type Database from 'better-sqlite3';

/**
 * A transaction that commits without SQLite's own `fsync` (`synchronous = NORMAL`) on a connection that
 * otherwise keeps `FULL` (`durable`), for writes whose durability comes from a sync of their own: the
 * index rows of records already synced in the segment, and cursors whose WAL is synced on libuv's pool.
 * Without `durable` the connection runs at `NORMAL` already, and this is a plain transaction.
 */
export function relaxedTransaction<Args extends unknown[]>(
  db: Database.Database,
  durable: boolean,
  body: (...args: Args) => void,
): (...args: Args) => void {
  const transaction = db.transaction(body);
  if (!durable) return transaction;
  const relaxed = db.prepare('PRAGMA synchronous = NORMAL');
  const strict = db.prepare('PRAGMA synchronous = FULL');
  return (...args) => {
    relaxed.run();
    try {
      transaction(...args);
    } finally {
      strict.run();
    }
  };
}
