import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { EventBlockRow } from './block-codec.js';
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
    parentPort?.postMessage({ id: message.id });
  } catch (error) {
    const { message: text, code } = error as { message: string; code?: string };
    parentPort?.postMessage({ id: message.id, error: { message: text, code } });
  }
});
