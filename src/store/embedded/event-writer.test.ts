import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import type { StoredEvent } from '../types.js';
import { BlockEncoder, decodeBlock } from './block-codec.js';
import { EVENT_BLOCKS_SCHEMA, EventBlocks, INDEX_BATCH_BLOCKS } from './event-blocks.js';
import { inlineWriter, threadWriter } from './event-writer.js';
import { SegmentLog } from './segment-log.js';

/** The compiled writer thread (`npm test` builds first; a worker cannot run the TypeScript source). */
const WRITER_SCRIPT = new URL('../../../dist/store/embedded/writer-thread.js', import.meta.url);

describe('the writer thread', () => {
  it('does not keep a process alive that never closed its store (a broker that failed to start)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-writer-'));
    const store = new URL('../../../dist/store/embedded/index.js', import.meta.url).href;
    const script = path.join(dir, 'open.mjs');
    writeFileSync(
      script,
      `const { EmbeddedEventStore } = await import(${JSON.stringify(store)});
      new EmbeddedEventStore({ dataDir: ${JSON.stringify(dir)}, writer: 'thread', maintenanceIntervalMs: 0 });
      console.log('opened');\n`,
    );
    const child = spawnSync(process.execPath, [script], { timeout: 20_000, encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
    expect([child.stdout, child.signal, child.status]).toEqual(['opened\n', null, 0]);
  });

  it('refuses groups at once, and closes at once, when the thread is gone', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-writer-'));
    const script = path.join(dir, 'gone.mjs');
    writeFileSync(script, "throw new Error('the thread failed to start');\n");
    const writer = threadWriter({
      file: path.join(dir, 'default.db'),
      sync: true,
      busyTimeoutMs: 2000,
      script: pathToFileURL(script),
    });
    const log = new SegmentLog({ dir: path.join(dir, 'default.segments'), sync: true });
    log.recover(undefined, 1, () => undefined);
    const group = log.place([[1, 1, 1_000, 10, new Uint8Array(4), new Uint8Array(10)]]);
    // The first write may be posted before the thread is known to be gone: it fails with the thread.
    await expect(writer.write(group, true)).rejects.toThrow(/writer thread/);
    const again = log.place([[1, 1, 1_000, 10, new Uint8Array(4), new Uint8Array(10)]]);
    await expect(writer.write(again, true)).rejects.toMatchObject({ code: 'HERALD_STORE_UNAVAILABLE' });
    await writer.close(); // returns: the test's timeout fails it otherwise
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("moves a group's buffers to the thread and back instead of copying them, and writes and indexes every block", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-writer-'));
    const file = path.join(dir, 'default.db');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec(EVENT_BLOCKS_SCHEMA);
    const log = new SegmentLog({ dir: path.join(dir, 'default.segments'), sync: true });
    log.recover(undefined, 1, () => undefined);
    const writer = threadWriter({ file, sync: true, busyTimeoutMs: 2000, script: WRITER_SCRIPT });
    const encoder = new BlockEncoder();
    const data = new Uint8Array(40_000).fill(0x61);
    for (let sequence = 1; sequence <= 5; sequence++) {
      encoder.add(sequence, 1_000, '{"id":"x"}', data, 3, null, sequence);
    }
    const blocks = encoder.finish();
    expect(blocks.length).toBeGreaterThan(1);
    const bytes = blocks.reduce((sum, block) => sum + block[5].byteLength, 0);
    const group = log.place(blocks);
    await writer.write(group, true);
    // Posted with a transfer list: the event loop's views are detached, nothing was cloned.
    for (const block of blocks) expect([block[4].byteLength, block[5].byteLength]).toEqual([0, 0]);
    expect(group.headers.byteLength).toBe(0);
    const stored = db
      .prepare('SELECT COUNT(*) AS blocks, SUM(payload_length) AS bytes FROM event_blocks')
      .get() as { blocks: number; bytes: number };
    expect(stored).toEqual({ blocks: blocks.length, bytes });
    // Each payload is in the segment where the index says.
    const rows = db
      .prepare('SELECT first_seq, segment, payload_at, payload_length FROM event_blocks ORDER BY first_seq')
      .all() as Array<{ first_seq: number; segment: number; payload_at: number; payload_length: number }>;
    const events: StoredEvent[] = [];
    for (const row of rows) {
      const payload = log.readPayload(row.segment, row.payload_at, row.payload_length);
      decodeBlock(payload, row.first_seq, 1_000, 1, 100, events);
    }
    expect(events.map((stored) => stored.sequence)).toEqual([1, 2, 3, 4, 5]);
    for (const stored of events) expect(Buffer.from(stored.event.data ?? []).equals(data)).toBe(true);
    await writer.close();
    await log.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('the inline writer', () => {
  /** A database and segment log with one group of `events` placed, ready for the writer. */
  function setUp(sync = true): {
    dir: string;
    db: Database.Database;
    log: SegmentLog;
    blocks: EventBlocks;
    place: (events?: number) => ReturnType<SegmentLog['place']>;
  } {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-writer-'));
    const db = new Database(path.join(dir, 'default.db'));
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID');
    const log = new SegmentLog({ dir: path.join(dir, 'default.segments'), sync });
    const blocks = new EventBlocks(db, log, sync);
    log.recover(undefined, 1, () => undefined);
    const encoder = new BlockEncoder();
    let next = 1;
    const place = (events = 100) => {
      for (let i = 0; i < events; i++, next++) {
        encoder.add(next, 1_000, '{"id":"x"}', new Uint8Array(256), 3, null, next);
      }
      return log.place(encoder.finish());
    };
    return { dir, db, log, blocks, place };
  }
  const indexed = (db: Database.Database): number =>
    (db.prepare('SELECT COUNT(*) AS n FROM event_blocks').get() as { n: number }).n;
  const tearDown = async ({ dir, db, log, blocks }: ReturnType<typeof setUp>) => {
    blocks.close();
    await log.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  };

  it('lets the event loop run while a group syncs, and queues its index rows only after the sync', async () => {
    const setup = setUp();
    const { db, blocks, log, place } = setup;
    const writer = inlineWriter(log, blocks, true);
    let turned = false;
    setImmediate(() => {
      turned = true;
    });
    const written = writer.write(place(), true);
    // The records went out, but the sync runs on libuv's pool: nothing is indexed, nothing waits.
    blocks.commitWaiting();
    expect(indexed(db)).toBe(0);
    await written;
    expect(turned).toBe(true);
    // Synced: the rows wait for later groups, and a read of the index commits them first.
    expect(indexed(db)).toBe(0);
    expect(blocks.read(1, 1_000).map((stored) => stored.sequence)).toEqual(
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    expect(indexed(db)).toBeGreaterThan(0);
    await tearDown(setup);
  });

  it('commits the waiting index rows of many groups at once when asked, and by themselves soon after', async () => {
    const setup = setUp();
    const { db, blocks, log, place } = setup;
    const writer = inlineWriter(log, blocks, true);
    // One block a group (a few events each): the rows wait until INDEX_BATCH_BLOCKS of them do.
    for (let group = 1; group < INDEX_BATCH_BLOCKS; group++) await writer.write(place(3), false);
    blocks.commitWhenFull();
    expect(indexed(db)).toBe(0);
    await writer.write(place(3), false);
    blocks.commitWhenFull();
    expect(indexed(db)).toBe(INDEX_BATCH_BLOCKS);
    // One more, then no read: a timer commits it.
    await writer.write(place(3), false);
    expect(indexed(db)).toBe(INDEX_BATCH_BLOCKS);
    await vi.waitFor(() => expect(indexed(db)).toBe(INDEX_BATCH_BLOCKS + 1), { timeout: 30_000 });
    await tearDown(setup);
  });

  it("tries a timed commit without waiting for another process's lock, and leaves the rows waiting", async () => {
    const setup = setUp();
    const { dir, db, blocks, log, place } = setup;
    // A minute: a timed commit that waited for the lock would hold the event loop past the test's timeout.
    db.pragma('busy_timeout = 60000');
    const other = new Database(path.join(dir, 'default.db'));
    other.exec('BEGIN IMMEDIATE');
    const tries = vi.spyOn(blocks, 'commitWaiting');
    await inlineWriter(log, blocks, true).write(place(3), false);
    await vi.waitFor(() => expect(tries).toHaveBeenCalledTimes(1), { timeout: 30_000 });
    expect(indexed(db)).toBe(0);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(60_000);
    other.exec('ROLLBACK');
    other.close();
    // Still waiting, and committed by the next read.
    expect(blocks.last()).toBe(3);
    expect(indexed(db)).toBe(1);
    await tearDown(setup);
  });

  it('without fsync, writes a group before returning', async () => {
    const setup = setUp(false);
    const { blocks, log, place } = setup;
    const writer = inlineWriter(log, blocks, false);
    const written = writer.write(place(), true);
    // Written and queued already: a read finds it before the promise settles.
    expect(blocks.last()).toBe(100);
    await written;
    await tearDown(setup);
  });
});
