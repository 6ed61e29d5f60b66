import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/**
 * The store's checkpoint thread: copies the WAL's committed pages into the database file
 * (`wal_checkpoint(PASSIVE)`, which never waits for a lock and never blocks a writer) every
 * `intervalMs`, and when asked, with a connection of its own. See `checkpointer.ts`.
 */
const { file, intervalMs } = workerData as { file: string; intervalMs: number };
const db = new Database(file);
const checkpoint = db.prepare<[], { busy: number; log: number; checkpointed: number }>(
  'PRAGMA wal_checkpoint(PASSIVE)',
);

/** Frames in the WAL and how many of them are in the database file now. */
function run(): { log: number; checkpointed: number } {
  try {
    const row = checkpoint.get();
    return { log: row?.log ?? 0, checkpointed: row?.checkpointed ?? 0 };
  } catch {
    // An I/O error: the next interval tries again, and the WAL keeps every frame meanwhile.
    return { log: -1, checkpointed: -1 };
  }
}

const timer = setInterval(run, intervalMs);

parentPort?.on('message', (message: { id: number } | { close: true }) => {
  if ('close' in message) {
    clearInterval(timer);
    db.close();
    parentPort?.close();
    return;
  }
  parentPort?.postMessage({ id: message.id, ...run() });
});
