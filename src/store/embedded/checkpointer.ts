import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { closeThread } from './close-thread.js';

/** SQLite's own threshold, in WAL pages, restored if the thread fails. */
const SQLITE_AUTOCHECKPOINT_PAGES = 1000;
/** How often the thread checkpoints: a checkpoint with nothing new to copy costs no sync. */
const CHECKPOINT_INTERVAL_MS = 500;

export interface Checkpointer {
  /** Checkpoints now; resolves with the WAL's frames and how many are in the database file. */
  checkpoint(): Promise<{ log: number; checkpointed: number }>;
  /** Stops the thread (before the store's connection closes; its close checkpoints what is left). */
  close(): Promise<void>;
}

export interface CheckpointerOptions {
  readonly file: string;
  readonly intervalMs?: number;
  /** The compiled `checkpoint-thread.js` (tests running from TypeScript sources point at the build). */
  readonly script?: URL;
}

/**
 * Takes SQLite's WAL checkpoints off the event loop: the store's connection stops checkpointing
 * (`wal_autocheckpoint = 0`) and a thread with a connection of its own checkpoints every
 * `CHECKPOINT_INTERVAL_MS` instead.
 *
 * @remarks A connection checkpoints automatically in the commit that takes the WAL past 1,000 pages:
 * that commit copies the pages into the database file and syncs both files, on the event loop. Under
 * (c)'s load that was a commit of 5–10 ms every ~0.6 s, and up to 46 ms in a loop of index commits
 * (bench/PROFILE.md, fifteenth round). A passive checkpoint never waits for a lock and never blocks a
 * writer, and it syncs the WAL before it copies, so commits made without a sync of their own
 * (`relaxedTransaction`) are as durable as before. If the thread fails, the connection checkpoints
 * itself again. Without a compiled thread (TypeScript sources, in unit tests) it does so throughout.
 */
export function startCheckpointer(db: Database.Database, options: CheckpointerOptions): Checkpointer {
  const script = options.script ?? new URL('./checkpoint-thread.js', import.meta.url);
  if (!existsSync(fileURLToPath(script))) {
    return {
      checkpoint: () => Promise.reject(new Error('no checkpoint thread: the connection checkpoints itself')),
      close: () => Promise.resolve(),
    };
  }
  db.pragma('wal_autocheckpoint = 0');
  const worker = new Worker(script, {
    workerData: { file: options.file, intervalMs: options.intervalMs ?? CHECKPOINT_INTERVAL_MS },
  });
  let running = true;
  let nextId = 0;
  const waiting = new Map<number, (result: { log: number; checkpointed: number }) => void>();
  const stop = (failed: boolean) => {
    if (!running) return;
    running = false;
    for (const answer of waiting.values()) answer({ log: -1, checkpointed: -1 });
    waiting.clear();
    if (failed && db.open) db.pragma(`wal_autocheckpoint = ${SQLITE_AUTOCHECKPOINT_PAGES}`);
  };
  const stopped = () => stop(true);
  worker.on('message', (message: { id: number; log: number; checkpointed: number }) => {
    waiting.get(message.id)?.({ log: message.log, checkpointed: message.checkpointed });
    waiting.delete(message.id);
  });
  worker.on('error', stopped);
  worker.on('exit', stopped);
  // After the listeners, which ref the worker's port again: the thread must not keep a process alive.
  worker.unref();
  return {
    checkpoint() {
      if (!running) return Promise.reject(new Error('the checkpoint thread is gone'));
      const id = nextId++;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        worker.postMessage({ id });
      });
    },
    async close() {
      if (!running) return;
      stop(false);
      await closeThread(worker);
    },
  };
}
