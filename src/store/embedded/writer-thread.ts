import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { INSERT_EVENT } from './event-writer.js';
import type { EventRow } from './event-writer.js';

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
const insert = db.prepare(INSERT_EVENT);
const writeAll = db.transaction((rows: readonly EventRow[]) => {
  for (const row of rows) insert.run(...row);
});

parentPort?.on('message', (message: { id: number; rows: EventRow[] }) => {
  try {
    writeAll(message.rows);
    parentPort?.postMessage({ id: message.id });
  } catch (error) {
    const { message: text, code } = error as { message: string; code?: string };
    parentPort?.postMessage({ id: message.id, error: { message: text, code } });
  }
});
