import type Database from 'better-sqlite3';
import type { StoredEvent } from '../types.js';
import { DedupeWindow } from '../dedupe-window.js';
import {
  BlockEncoder,
  decodeBlock,
  dropFromBlock,
  eventSizes,
  keyInBlock,
  keysOfBlock,
} from './block-codec.js';
import type { EventBlockRow } from './block-codec.js';
import { DedupeIndex } from './dedupe-index.js';
import { relaxedTransaction } from './relaxed-transaction.js';
import type { RetiredKey } from './retired-keys.js';
import type { BlockLocation, LogPosition, PlacedGroup, SegmentLog } from './segment-log.js';

/**
 * The index of the event log. `keys` comes before `payload` so that reading the dedupe hashes (on open)
 * does not walk the payload's overflow pages. A block's payload is in a segment file (`segment`,
 * `payload_at`, `payload_length`, and `crc`, the log's checksum chain after its record: see
 * `segment-log.ts`) or, for blocks rewritten by retention and blocks written before segments, in
 * `payload` itself. Every event of a block is retained: retention cutting through a block rewrites it
 * without the expired events.
 */
export const EVENT_BLOCKS_SCHEMA = `
CREATE TABLE IF NOT EXISTS event_blocks (
  first_seq INTEGER PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  stored_at INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  keys BLOB NOT NULL,
  payload BLOB NOT NULL,
  segment INTEGER,
  payload_at INTEGER,
  payload_length INTEGER,
  crc INTEGER
);
CREATE INDEX IF NOT EXISTS event_blocks_stored_at ON event_blocks(stored_at);
`;

/** Columns added when payloads moved to segment files (databases written before have none). */
const SEGMENT_COLUMNS = ['segment', 'payload_at', 'payload_length', 'crc'];

/** A block whose payload is in the row (see `EVENT_BLOCKS_SCHEMA`). */
export const INSERT_BLOCK =
  'INSERT INTO event_blocks (first_seq, last_seq, stored_at, bytes, keys, payload) VALUES (?, ?, ?, ?, ?, ?)';

/** A block whose payload is in a segment file. */
export const INSERT_LOGGED_BLOCK = `INSERT INTO event_blocks
  (first_seq, last_seq, stored_at, bytes, keys, payload, segment, payload_at, payload_length, crc)
  VALUES (?, ?, ?, ?, ?, X'', ?, ?, ?, ?)`;

/** The parameters of `INSERT_LOGGED_BLOCK` for a block and where its record went. */
export function loggedBlockParams(block: EventBlockRow, location: BlockLocation): unknown[] {
  return [
    block[0],
    block[1],
    block[2],
    block[3],
    block[4],
    location.segment,
    location.payloadAt,
    block[5].byteLength,
    location.crc,
  ];
}

/**
 * Index rows waiting (see `EventBlocks.indexLater`) that are committed before the next group is written,
 * without waiting for `INDEX_DELAY_MS`: they bound the event loop's time in one commit (~5 µs a row),
 * the rows that recovery re-reads from the segment after a crash, and the groups accepted while SQLite
 * cannot write.
 */
export const INDEX_BATCH_BLOCKS = 128;
/** How long the first waiting index row waits for others before they are committed. */
const INDEX_DELAY_MS = 50;
/** How long waiting rows wait again after a timed commit found the database locked. */
const INDEX_RETRY_MS = 1_000;

/** Indexes a written group with `insert` (a statement of `INSERT_LOGGED_BLOCK`). */
export function indexGroup(insert: Database.Statement, group: PlacedGroup): void {
  group.blocks.forEach((block, i) => {
    insert.run(...loggedBlockParams(block, group.locations[i] as BlockLocation));
  });
}

interface BlockRow {
  first_seq: number;
  last_seq: number;
  stored_at: number;
  bytes: number;
  keys: Buffer;
  payload: Buffer;
  segment: number | null;
  payload_at: number | null;
  payload_length: number | null;
  crc: number | null;
}

type LoggedRow = Pick<BlockRow, 'first_seq' | 'last_seq' | 'keys'> & {
  segment: number;
  payload_at: number;
  payload_length: number;
  crc: number;
};

/** The end of a logged block's record. */
function endOf(row: LoggedRow): LogPosition {
  return { segment: row.segment, end: row.payload_at + row.payload_length, crc: row.crc };
}

/**
 * The SQL side of the block log, on the store's connection: the index of groups written on the event
 * loop, reads, retention, open-time scans.
 *
 * @remarks A group written on the event loop is indexed later, with the groups after it
 * (`indexLater`): its records are in the segment (synced with `--durability fsync`) before it is
 * acknowledged, and recovery indexes records that their index rows did not reach, as it did for a
 * group whose process died between its sync and its index commit. One commit per group cost ~90 µs
 * (half of it SQLite's automatic checkpoints), ~6 µs a group in commits of 32 (bench/PROFILE.md,
 * fifteenth round). Everything that reads the index commits the waiting rows first (`index`), so no
 * reader sees the index without them.
 */
export class EventBlocks {
  private readonly statements;
  /** `INSERT_LOGGED_BLOCK`'s parameters of the rows waiting to be committed, in sequence order. */
  private waiting: unknown[][] = [];
  private waitTimer: NodeJS.Timeout | undefined;
  private readonly commitRows: (rows: readonly unknown[][]) => void;

  constructor(
    private readonly db: Database.Database,
    readonly log: SegmentLog,
    /** `--durability fsync`: the connection keeps `synchronous = FULL`, which index commits skip. */
    durable = true,
  ) {
    db.exec(EVENT_BLOCKS_SCHEMA);
    const columns = new Set(
      db
        .prepare<[], { name: string }>('PRAGMA table_info(event_blocks)')
        .all()
        .map((c) => c.name),
    );
    for (const column of SEGMENT_COLUMNS) {
      if (!columns.has(column)) db.exec(`ALTER TABLE event_blocks ADD COLUMN ${column} INTEGER`);
    }
    // The newest and the oldest block in a segment, without walking blocks kept in rows (a log moved
    // from rows, or rewritten by retention).
    db.exec(
      'CREATE INDEX IF NOT EXISTS event_blocks_logged ON event_blocks(first_seq) WHERE segment IS NOT NULL',
    );
    this.statements = {
      // The block holding `from` (the last starting at or before it) and every block after it.
      read: db.prepare<[number, number], BlockRow>(
        `SELECT first_seq, last_seq, stored_at, payload, segment, payload_at, payload_length, crc FROM event_blocks WHERE first_seq >= COALESCE(
           (SELECT first_seq FROM event_blocks WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1), ?)
         ORDER BY first_seq`,
      ),
      // The block before `first_seq`'s: its checksum is where the chain stood before that record.
      before: db.prepare<[number], { crc: number | null }>(
        'SELECT crc FROM event_blocks WHERE first_seq < ? ORDER BY first_seq DESC LIMIT 1',
      ),
      holding: db.prepare<[number], BlockRow>(
        'SELECT * FROM event_blocks WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1',
      ),
      sequenceAt: db.prepare<[number], { first_seq: number }>(
        'SELECT first_seq FROM event_blocks WHERE stored_at >= ? ORDER BY stored_at, first_seq LIMIT 1',
      ),
      first: db.prepare<[], { seq: number | null }>('SELECT MIN(first_seq) AS seq FROM event_blocks'),
      // Blocks never overlap, so the last block by primary key holds the highest sequence (MAX(last_seq)
      // would read every row: last_seq has no index).
      last: db.prepare<[], { seq: number | null }>(
        'SELECT last_seq AS seq FROM event_blocks ORDER BY first_seq DESC LIMIT 1',
      ),
      countAfter: db.prepare<[number], { n: number | null; bytes: number | null }>(
        'SELECT SUM(last_seq - first_seq + 1) AS n, SUM(bytes) AS bytes FROM event_blocks WHERE first_seq > ?',
      ),
      countBefore: db.prepare<[number], { n: number | null; bytes: number | null }>(
        'SELECT SUM(last_seq - first_seq + 1) AS n, SUM(bytes) AS bytes FROM event_blocks WHERE first_seq < ?',
      ),
      deleteBefore: db.prepare<[number]>('DELETE FROM event_blocks WHERE first_seq < ?'),
      deleteBlock: db.prepare<[number]>('DELETE FROM event_blocks WHERE first_seq = ?'),
      insert: db.prepare(INSERT_BLOCK),
      insertLogged: db.prepare(INSERT_LOGGED_BLOCK),
      lastLogged: db.prepare<[], LoggedRow>(
        `SELECT first_seq, last_seq, keys, segment, payload_at, payload_length, crc FROM event_blocks
         WHERE segment IS NOT NULL ORDER BY first_seq DESC LIMIT 1`,
      ),
      firstLoggedSegment: db.prepare<[], { segment: number }>(
        'SELECT segment FROM event_blocks WHERE segment IS NOT NULL ORDER BY first_seq LIMIT 1',
      ),
      getMeta: db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare<[string, number]>('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      sizes: db.prepare<[], { first_seq: number; last_seq: number; bytes: number }>(
        'SELECT first_seq, last_seq, bytes FROM event_blocks ORDER BY first_seq',
      ),
      // The blocks holding sequences from `from` (the first parameter, twice) to below the third.
      between: db.prepare<[number, number, number], BlockRow>(
        `SELECT * FROM event_blocks WHERE first_seq >= COALESCE(
           (SELECT first_seq FROM event_blocks WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1), ?)
         AND first_seq < ? ORDER BY first_seq`,
      ),
      keysFrom: db.prepare<[number], { first_seq: number; stored_at: number; keys: Buffer }>(
        'SELECT first_seq, stored_at, keys FROM event_blocks WHERE first_seq >= ? ORDER BY first_seq',
      ),
    };
    const insert = this.statements.insertLogged;
    // The records are synced already: the index commit needs no fsync of its own (`relaxedTransaction`).
    this.commitRows = relaxedTransaction(db, durable, (rows: readonly unknown[][]) => {
      for (const row of rows) insert.run(...row);
    });
  }

  /**
   * Indexes a group whose records are written, within `INDEX_DELAY_MS`, at the next read of the index,
   * or when the store writes a group with `INDEX_BATCH_BLOCKS` rows waiting (`commitWhenFull`).
   */
  indexLater(group: PlacedGroup): void {
    // A row holds the block's keys (a view of the group's small keys buffer), not its payload.
    group.blocks.forEach((block, i) => {
      this.waiting.push(loggedBlockParams(block, group.locations[i] as BlockLocation));
    });
    this.commitSoon();
  }

  /**
   * Commits the waiting rows when `INDEX_BATCH_BLOCKS` of them wait. The store calls it before it
   * writes a group, so that a failing commit (another process holding the database's write lock, a full
   * disk) refuses the group before anything of it is written, and waiting rows stay bounded.
   */
  commitWhenFull(): void {
    if (this.waiting.length >= INDEX_BATCH_BLOCKS) this.commitWaiting();
  }

  /**
   * Commits the waiting rows after `delay`, without waiting for a lock: only another process can hold
   * the database's write lock while rows wait (the writer thread commits only after they are
   * committed), and the connection's busy timeout would hold the event loop for seconds at every try.
   */
  private commitSoon(delay = INDEX_DELAY_MS): void {
    if (this.waitTimer !== undefined || this.waiting.length === 0) return;
    this.waitTimer = setTimeout(() => {
      this.waitTimer = undefined;
      // `db.pragma` prepares anew: SQLite applies `busy_timeout` when the statement is prepared.
      const busyTimeout = this.db.pragma('busy_timeout', { simple: true }) as number;
      this.db.pragma('busy_timeout = 0');
      try {
        this.commitWaiting();
      } catch {
        // The rows wait for the next try (their records are in the segment, and recovery indexes them
        // after a crash); a read of the index meanwhile waits for the lock as any statement does.
        this.commitSoon(INDEX_RETRY_MS);
      } finally {
        this.db.pragma(`busy_timeout = ${busyTimeout}`);
      }
    }, delay);
    this.waitTimer.unref();
  }

  /** Commits the waiting index rows in one transaction (a no-op when none wait). */
  commitWaiting(): void {
    if (this.waiting.length === 0) return;
    this.commitRows(this.waiting);
    this.waiting = [];
    if (this.waitTimer !== undefined) clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
  }

  /** Stops committing: rows still waiting (their commit failed) are indexed from the segment on the next open. */
  close(): void {
    if (this.waitTimer !== undefined) clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    this.waiting = [];
  }

  /** The statements, once the waiting rows are committed: what every read of the index goes through. */
  private get index(): typeof this.statements {
    this.commitWaiting();
    return this.statements;
  }

  /**
   * Makes the index whole after a crash (call once on open, before anything reads it). The last
   * indexed block must have its record (with `buffered` durability a machine crash can keep an index
   * row and lose its record: such rows go); then the records written after the last indexed one (their
   * group synced, the process killed before its index row was written) are indexed. `highWater` is
   * the highest sequence ever assigned that the index or `meta` knows.
   */
  recover(highWater: () => number): void {
    const { lastLogged, deleteBlock, insertLogged, getMeta } = this.statements;
    this.db.transaction(() => {
      for (let last = lastLogged.get(); last !== undefined; last = lastLogged.get()) {
        const location = { segment: last.segment, payloadAt: last.payload_at, crc: last.crc };
        if (this.log.holds(last.first_seq, last.keys.byteLength, last.payload_length, location)) break;
        deleteBlock.run(last.first_seq);
      }
      const last = lastLogged.get();
      const saved = getMeta.get('log_segment')?.value;
      const fromMeta: LogPosition | undefined =
        saved === undefined
          ? undefined
          : {
              segment: saved,
              end: getMeta.get('log_end')?.value ?? 0,
              crc: getMeta.get('log_crc')?.value ?? 0,
            };
      const fromIndex = last === undefined ? undefined : endOf(last);
      const from =
        fromIndex === undefined ||
        (fromMeta !== undefined &&
          (fromMeta.segment > fromIndex.segment ||
            (fromMeta.segment === fromIndex.segment && fromMeta.end > fromIndex.end)))
          ? fromMeta
          : fromIndex;
      this.log.recover(from, highWater() + 1, ({ row, location }) => {
        insertLogged.run(...loggedBlockParams(row, location));
      });
    })();
  }

  /** A block's payload, from its row or from its segment. */
  private payloadOf(block: Pick<BlockRow, 'payload' | 'segment' | 'payload_at' | 'payload_length'>): Buffer {
    if (block.segment === null) return block.payload;
    return this.log.readPayload(block.segment, block.payload_at ?? 0, block.payload_length ?? 0);
  }

  /**
   * Events with `sequence >= from`, at most `limit`, decoding only the blocks that hold them. A record
   * read from a segment is checked against the chain's checksum (`SegmentLog.readCheckedPayload`):
   * a damaged one was served as the event published (a flipped bit of its data), or failed to decode.
   */
  read(from: number, limit: number): StoredEvent[] {
    const out: StoredEvent[] = [];
    if (limit <= 0) return out;
    let seed: number | null | undefined;
    for (const block of this.index.read.iterate(from, from)) {
      // The chain before the first block read: the block before it, or the log's start (0). Unknown
      // (null) after a block that retention rewrote into its row, or after the blocks it deleted.
      seed ??= block.first_seq === 1 ? 0 : (this.statements.before.get(block.first_seq)?.crc ?? null);
      decodeBlock(this.checkedPayloadOf(block, seed), block.first_seq, block.stored_at, from, limit, out);
      seed = block.crc;
      if (out.length >= limit) break;
    }
    return out;
  }

  /** A block's payload, from its row, or from its segment checked against the chain when `seed` is known. */
  private checkedPayloadOf(block: BlockRow, seed: number | null): Buffer {
    if (block.segment === null || block.crc === null || seed === null) return this.payloadOf(block);
    return this.log.readCheckedPayload(
      block.segment,
      block.payload_at ?? 0,
      (block.last_seq - block.first_seq + 1) * 4,
      block.payload_length ?? 0,
      seed,
      block.crc,
    );
  }

  /** The first sequence stored at or after `time` (every event of a block shares its time). */
  sequenceAt(time: number): number | undefined {
    return this.index.sequenceAt.get(time)?.first_seq;
  }

  first(): number | undefined {
    return this.index.first.get()?.seq ?? undefined;
  }

  last(): number | undefined {
    return this.index.last.get()?.seq ?? undefined;
  }

  /** Events and bytes in blocks after `through` (a block boundary: the last sequence of a commit). */
  countAfter(through: number): { events: number; bytes: number } {
    const row = this.index.countAfter.get(through);
    return { events: row?.n ?? 0, bytes: row?.bytes ?? 0 };
  }

  /** The dedupe key of a stored sequence (a dedupe hash hit being confirmed). */
  keyAt(sequence: number): string | undefined {
    const block = this.index.holding.get(sequence);
    if (block === undefined || block.last_seq < sequence) return undefined;
    return keyInBlock(this.payloadOf(block), sequence - block.first_seq);
  }

  /** Feeds the dedupe hashes of every event from the block starting at `from` on. */
  forEachKey(from: number, add: (hash: number, sequence: number, storedAt: number) => void): void {
    for (const block of this.index.keysFrom.iterate(from)) {
      const keys = block.keys;
      for (let i = 0; i * 4 < keys.length; i++)
        add(keys.readInt32LE(i * 4), block.first_seq + i, block.stored_at);
    }
  }

  /**
   * Feeds the dedupe key of each event in [`from`, `to`) stored at or after `since`: the events
   * retention is about to delete inside the dedupe window (`RetiredKeys`). A record that cannot be
   * read throws, and retention waits for the next run rather than forget a key the window still needs;
   * it waits at most until the record's events leave the window, when they are no longer read.
   */
  forEachKeyBetween(from: number, to: number, since: number, feed: (retired: RetiredKey) => void): void {
    for (const block of this.index.between.all(from, from, to)) {
      if (block.stored_at < since) continue;
      const keys = keysOfBlock(this.payloadOf(block));
      const last = Math.min(block.last_seq, to - 1);
      for (let sequence = Math.max(from, block.first_seq); sequence <= last; sequence++) {
        const i = sequence - block.first_seq;
        feed({
          sequence,
          storedAt: block.stored_at,
          hash: block.keys.readInt32LE(i * 4),
          key: keys[i] as string,
        });
      }
    }
  }

  /** The sequence before which `excess` bytes (or more) of the oldest events lie, if the log has that many. */
  bytesCutoff(excess: number): number | undefined {
    let left = excess;
    for (const block of this.index.sizes.iterate()) {
      if (left > block.bytes) {
        left -= block.bytes;
        continue;
      }
      const whole = this.index.holding.get(block.first_seq) as BlockRow;
      const sizes = eventSizes(this.payloadOf(whole));
      for (let i = 0; i < sizes.length; i++) {
        left -= sizes[i] as number;
        if (left <= 0) return block.first_seq + i + 1;
      }
      return block.last_seq + 1;
    }
    return undefined;
  }

  /**
   * Deletes every event below `cutoff` (call inside a transaction, after `commitWaiting`: their commit
   * sets `synchronous`, which SQLite refuses inside a transaction); a block holding `cutoff` is
   * rewritten without the events before it. Returns what was deleted.
   */
  deleteBefore(cutoff: number): { events: number; bytes: number } {
    if (this.waiting.length > 0) throw new Error('the waiting index rows are committed before a delete');
    let events = 0;
    let bytes = 0;
    // Where the log ends, kept for recovery in case this deletes every block that says so.
    const lastLogged = this.statements.lastLogged.get();
    if (lastLogged !== undefined) {
      const end = endOf(lastLogged);
      this.statements.setMeta.run('log_segment', end.segment);
      this.statements.setMeta.run('log_end', end.end);
      this.statements.setMeta.run('log_crc', end.crc);
    }
    const straddling = this.statements.holding.get(cutoff - 1);
    if (straddling !== undefined && straddling.last_seq >= cutoff) {
      const drop = cutoff - straddling.first_seq;
      const kept = dropFromBlock(this.payloadOf(straddling), straddling.keys, drop);
      this.statements.deleteBlock.run(straddling.first_seq);
      this.statements.insert.run(
        cutoff,
        straddling.last_seq,
        straddling.stored_at,
        straddling.bytes - kept.droppedBytes,
        kept.keys,
        kept.payload,
      );
      events += drop;
      bytes += kept.droppedBytes;
    }
    const whole = this.statements.countBefore.get(cutoff);
    events += whole?.n ?? 0;
    bytes += whole?.bytes ?? 0;
    this.statements.deleteBefore.run(cutoff);
    return { events, bytes };
  }

  /** Deletes the segment files no indexed block needs any more (after `deleteBefore` committed). */
  removeUnusedSegments(): void {
    const first = this.index.firstLoggedSegment.get()?.segment;
    this.log.removeBelow(first ?? Number.MAX_SAFE_INTEGER);
  }
}

interface LegacyRow {
  seq: number;
  stored_at: number;
  attrs: string;
  data: Buffer | null;
  data_kind: number;
  trace: string | null;
  size: number;
  dedupe_key: string | null;
}

/** Rows of the legacy table copied per transaction while migrating. */
const MIGRATION_CHUNK = 50_000;

/**
 * Moves the events of a database written before blocks (one `events` row per event) into blocks, in
 * chunks, each in its own transaction that also records how far the copy got: a crash in the middle
 * resumes where it stopped. The legacy table is dropped at the end, with the high-water mark saved.
 * Sequences, times and sizes are kept, so saved counts stay valid. Returns the events moved.
 */
export function migrateLegacyEvents(
  db: Database.Database,
  insert: (row: EventBlockRow) => void,
  chunkSize = MIGRATION_CHUNK,
): number {
  const legacy = db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'events'")
    .get();
  if (legacy === undefined) return 0;
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(events)').all();
  const hasKey = columns.some((c) => c.name === 'dedupe_key');
  const getMeta = db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE key = ?');
  const setMeta = db.prepare<[string, number]>('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
  const rows = db.prepare<[number, number], LegacyRow>(
    `SELECT seq, stored_at, attrs, data, data_kind, trace, size, ${hasKey ? 'dedupe_key' : 'NULL AS dedupe_key'}
     FROM events WHERE seq > ? ORDER BY seq LIMIT ?`,
  );
  const encoder = new BlockEncoder();
  // The copy's commits need not reach the disk one by one: WAL commits persist in order, so the legacy
  // rows are dropped (by the last commit, made with the caller's setting) only after every copy before it.
  const synchronous = db.pragma('synchronous', { simple: true }) as number;
  db.pragma('synchronous = NORMAL');
  let through = getMeta.get('legacy_migrated_through')?.value ?? 0;
  let moved = 0;
  const copyChunk = db.transaction((chunk: LegacyRow[]) => {
    for (const row of chunk) {
      const key = row.dedupe_key ?? keyOfAttributes(row.attrs);
      // The legacy size column is kept: it is what the saved counts summed.
      const hash = DedupeIndex.hash(key);
      encoder.add(row.seq, row.stored_at, row.attrs, row.data, row.data_kind, row.trace, hash, row.size);
    }
    for (const block of encoder.finish()) insert(block);
    setMeta.run('legacy_migrated_through', (chunk.at(-1) as LegacyRow).seq);
  });
  try {
    for (;;) {
      const chunk = rows.all(through, chunkSize);
      if (chunk.length === 0) break;
      copyChunk(chunk);
      through = (chunk.at(-1) as LegacyRow).seq;
      moved += chunk.length;
    }
  } finally {
    db.pragma(`synchronous = ${synchronous}`);
  }
  db.transaction(() => {
    const last = getMeta.get('last_sequence')?.value ?? 0;
    const max = db.prepare<[], { seq: number | null }>('SELECT MAX(seq) AS seq FROM events').get()?.seq ?? 0;
    setMeta.run('last_sequence', Math.max(last, max));
    db.exec('DROP TABLE events');
    db.prepare("DELETE FROM meta WHERE key = 'legacy_migrated_through'").run();
  })();
  return moved;
}

function keyOfAttributes(attrs: string): string {
  const attributes = JSON.parse(attrs) as Record<string, unknown>;
  return DedupeWindow.key(attributes['source'] as string, attributes['id'] as string);
}
