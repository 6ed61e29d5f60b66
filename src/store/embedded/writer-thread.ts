import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { blockBuffers } from './block-codec.js';
import { INSERT_LOGGED_BLOCK, indexGroup } from './event-blocks.js';
import type { PlacedGroup } from './segment-log.js';
import { closeSegments, writeGroup } from './segment-log.js';

/**
 * The store's writer thread: a group's records to its segment (synced when `sync`), then its index rows
 * in one transaction of its own connection, then an answer. The index commit needs no `fsync` of its
 * own (see `EventBlocks`).
 */
const { file, sync, busyTimeoutMs } = workerData as {
  file: string;
  sync: boolean;
  busyTimeoutMs: number;
};
const db = new Database(file);
// First, so that the pragmas after it wait for a lock the event loop's connection holds.
db.pragma(`busy_timeout = ${busyTimeoutMs}`);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
const insert = db.prepare(INSERT_LOGGED_BLOCK);
const index = db.transaction((group: PlacedGroup) => indexGroup(insert, group));
const segments = new Map<string, number>();

parentPort?.on('message', (message: { id: number; group: PlacedGroup } | { close: true }) => {
  if ('close' in message) {
    closeSegments(segments);
    db.close();
    parentPort?.close();
    return;
  }
  const { group } = message;
  try {
    writeGroup(segments, group, sync);
    index(group);
  } catch (error) {
    const { message: text, code } = error as { message: string; code?: string };
    parentPort?.postMessage({ id: message.id, error: { message: text, code } });
    return;
  }
  // The buffers go back to the event loop, whose frequent collections free them: this thread allocates
  // so little that garbage buffers waited here for V8's external-memory limit (~50 MB more RSS).
  parentPort?.postMessage({ id: message.id }, [
    ...blockBuffers(group.blocks),
    group.headers.buffer as ArrayBuffer,
  ]);
});
