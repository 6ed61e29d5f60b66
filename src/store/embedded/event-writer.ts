import { Worker } from 'node:worker_threads';
import { HeraldError } from '../../errors/index.js';
import { blockBuffers } from './block-codec.js';
import { closeThread } from './close-thread.js';
import type { EventBlocks } from './event-blocks.js';
import type { PlacedGroup, SegmentLog } from './segment-log.js';

/**
 * Writes a placed group: its records to the segment (synced with `--durability fsync`), then its index
 * rows. Durable when the promise resolves: the records are, and recovery indexes records whose index
 * rows a crash lost.
 */
export interface EventWriter {
  /**
   * `overlap`: the event loop has other work (a batch's group, a small group while events arrive at their
   * own pace, any group while readers wait for appends), so it goes on with that while the group's records
   * sync, rather than wait for the disk.
   */
  write(group: PlacedGroup, overlap: boolean): Promise<void>;
  close(): Promise<void>;
}

/**
 * Writes on the calling thread: the records to the segment, then the index rows to `blocks`, which
 * commits them with the groups after it (`EventBlocks.indexLater`).
 *
 * @remarks A group the store marks `overlap` syncs on libuv's pool and is indexed when the sync is done,
 * so the event loop parses the next requests and delivers meanwhile: a batch's group (on one core, 7–10%
 * more batch delivery in (c) while events are published, bench/PROFILE.md, tenth round), and since the
 * fourteenth round a small group of single events (events arriving at their own pace, as in (c)'s
 * 5,000 events/s, where syncing in place blocked the event loop a quarter of its time), and since the
 * eighteenth round any group while readers wait for appends (deliveries that fell behind are held back by a
 * sync in place, and the backlog fed itself). Otherwise a large group of single events syncs in place: its
 * publishers are nearly all waiting for it, and the pool's round trip cost more CPU than it overlapped.
 */
export function inlineWriter(log: SegmentLog, blocks: EventBlocks, durable: boolean): EventWriter {
  return {
    write(group, overlap) {
      try {
        if (durable && overlap) return log.writeAsync(group).then(() => blocks.indexLater(group));
        log.write(group);
        blocks.indexLater(group);
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
    close: () => Promise.resolve(),
  };
}

export interface WriterThreadOptions {
  readonly file: string;
  /** `fdatasync` each group's records. */
  readonly sync: boolean;
  readonly busyTimeoutMs: number;
  /** The compiled `writer-thread.js` (tests running from TypeScript sources point at the build). */
  readonly script?: URL;
}

/**
 * Writes on a worker thread with a connection of its own, so that the event loop parses and validates
 * the next requests while SQLite commits (and fsyncs) the current group: the broker uses a second core.
 * A group's blocks share one compact buffer, which moves to the thread and back without a copy.
 */
export function threadWriter(options: WriterThreadOptions): EventWriter {
  const worker = new Worker(options.script ?? new URL('./writer-thread.js', import.meta.url), {
    workerData: {
      file: options.file,
      sync: options.sync,
      busyTimeoutMs: options.busyTimeoutMs,
    },
  });
  let nextId = 0;
  let exited = false;
  const waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  worker.on('message', (message: { id: number; error?: { message: string; code?: string } }) => {
    const entry = waiting.get(message.id);
    if (entry === undefined) return;
    waiting.delete(message.id);
    if (message.error === undefined) entry.resolve();
    else entry.reject(Object.assign(new Error(message.error.message), { code: message.error.code }));
  });
  // A group in flight when the thread fails may or may not be written and indexed: its error says so,
  // and the store stops writing (`outcomeUnknown`) instead of writing the next group in its place.
  const failAll = (cause: Error) => {
    for (const entry of waiting.values()) {
      entry.reject(
        Object.assign(new Error(`the store writer thread failed: ${cause.message}`), {
          cause,
          outcomeUnknown: true,
        }),
      );
    }
    waiting.clear();
  };
  // An uncaught error ends the thread ('exit' follows).
  worker.on('error', (error) => {
    exited = true;
    failAll(error);
  });
  worker.on('exit', () => {
    exited = true;
    failAll(new Error('the store writer thread exited'));
  });
  // After the listeners: adding a 'message' listener refs the worker's port again, and a ref'd port
  // kept a broker that failed to start from exiting (with `--store-writer thread`, or `auto`).
  worker.unref();
  return {
    write(group) {
      // Never posted, so never written: the store undoes the group and answers 503.
      if (exited) {
        return Promise.reject(
          new HeraldError('HERALD_STORE_UNAVAILABLE', 'the store writer thread exited', { retryAfter: 1 }),
        );
      }
      const id = nextId++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        // Moved, not copied: the group's buffers are fresh from `BlockEncoder.finish` and
        // `SegmentLog.place`, and read by no one else.
        worker.postMessage({ id, group }, [
          ...blockBuffers(group.blocks),
          group.headers.buffer as ArrayBuffer,
        ]);
      });
    },
    async close() {
      if (!exited) await closeThread(worker);
    },
  };
}
