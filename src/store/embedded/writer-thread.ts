import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { EventBlockRow } from './block-codec.js';
import { blockBuffers } from './block-codec.js';
import { INSERT_BLOCK } from './event-blocks.js';

/** The store's writer thread: one connection, one transaction per message, an answer after commit. */
const { file, synchronous, busyTimeoutMs } = workerData as {
  file: string;
  synchronous: string;
  busyTimeoutMs: number;
};
const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${synchronous}`);
db.pragma(`busy_timeout = ${busyTimeoutMs}`);
const insert = db.prepare(INSERT_BLOCK);
const writeAll = db.transaction((blocks: readonly EventBlockRow[]) => {
  for (const block of blocks) insert.run(...block);
});

parentPort?.on('message', (message: { id: number; blocks: EventBlockRow[] }) => {
  try {
    writeAll(message.blocks);
    // The buffers go back to the event loop, whose frequent collections free them: this thread allocates
    // so little that garbage buffers waited here for V8's external-memory limit (~50 MB more RSS).
    parentPort?.postMessage({ id: message.id }, blockBuffers(message.blocks));
  } catch (error) {
    const { message: text, code } = error as { message: string; code?: string };
    parentPort?.postMessage({ id: message.id, error: { message: text, code } });
  }
});
