import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { DedupeIndex } from './dedupe-index.js';
import { EventBlocks, INSERT_BLOCK, migrateLegacyEvents } from './event-blocks.js';
import { SegmentLog } from './segment-log.js';
import { EmbeddedCursors } from './cursors.js';
import { EmbeddedDeadLetters } from './dead-letters.js';
import { EmbeddedSubscriptions } from './subscriptions.js';
import { RetiredKeys } from './retired-keys.js';
import { checkFormatVersion, migrateFormat } from './format-version.js';
import type { EmbeddedStoreOptions } from './store-options.js';

/** The store's own table; each other table belongs to its module (`event-blocks.ts`, `cursors.ts`, …). */
const META_SCHEMA =
  'CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID';

/** The embedded store's database, opened, migrated and recovered, with the tables' modules over it. */
export interface OpenedDatabase {
  readonly file: string;
  readonly db: Database.Database;
  /** `--durability fsync`: every commit syncs (`synchronous = FULL`, segments synced). */
  readonly durable: boolean;
  /** The segment files holding the blocks' payloads (`<broker>.segments/`). */
  readonly log: SegmentLog;
  readonly blocks: EventBlocks;
  readonly deadLetters: EmbeddedDeadLetters;
  readonly cursors: EmbeddedCursors;
  readonly subscriptions: EmbeddedSubscriptions;
  /** The keys of events retention deleted inside the dedupe window. */
  readonly retired: RetiredKeys;
  /** Highest sequence ever assigned: the last block's, or the high-water mark retention saved in `meta`. */
  readonly lastSequence: number;
}

/**
 * Opens (creating when missing) the database of `options.dataDir` in WAL mode, refuses one of a newer
 * format, moves a database written before blocks into blocks, migrates one of an older format
 * (`format-version.ts`), and makes the block index whole after a crash (`EventBlocks.recover`).
 */
export function openDatabase(options: EmbeddedStoreOptions): OpenedDatabase {
  mkdirSync(options.dataDir, { recursive: true });
  const file = path.join(options.dataDir, `${options.brokerName ?? 'default'}.db`);
  const db = new Database(file);
  try {
    // A database a newer build wrote is refused before anything here changes it.
    checkFormatVersion(db, file);
  } catch (error) {
    db.close();
    throw error;
  }
  db.pragma('journal_mode = WAL');
  const durable = (options.durability ?? 'fsync') === 'fsync';
  db.pragma(`synchronous = ${durable ? 'FULL' : 'NORMAL'}`);
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 2000}`);
  db.exec(META_SCHEMA);
  db.exec('DROP TABLE IF EXISTS dedupe');
  const log = new SegmentLog({
    dir: path.join(options.dataDir, `${options.brokerName ?? 'default'}.segments`),
    sync: durable,
  });
  const blocks = new EventBlocks(db, log, durable);
  const deadLetters = new EmbeddedDeadLetters(db);
  const cursors = new EmbeddedCursors(db, file, durable);
  const subscriptions = new EmbeddedSubscriptions(db);
  const retired = new RetiredKeys(db);
  // A database written before blocks (one `events` row per event) is moved into blocks once.
  const insertBlock = db.prepare(INSERT_BLOCK);
  migrateLegacyEvents(db, (block) => insertBlock.run(...block));
  migrateFormat(db);
  const meta = db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'last_sequence'").get();
  blocks.recover(() => Math.max(meta?.value ?? 0, blocks.last() ?? 0));
  const lastSequence = Math.max(meta?.value ?? 0, blocks.last() ?? 0);
  return { file, db, durable, log, blocks, deadLetters, cursors, subscriptions, retired, lastSequence };
}

/**
 * Adds to `dedupe` the keys of the events stored at or after `since` (the start of the window), on open:
 * first those retention deleted (all below the first block), then the blocks'.
 */
export function rebuildDedupeWindow(
  blocks: EventBlocks,
  retired: RetiredKeys,
  dedupe: DedupeIndex,
  since: number,
): void {
  retired.forEachSince(since, (hash, sequence, storedAt) => dedupe.add(hash, sequence, storedAt));
  // Only the blocks inside the window are read, and of them only the dedupe hashes: their first
  // sequence comes from the stored_at index, then the primary key bounds the scan.
  const firstInWindow = blocks.sequenceAt(since);
  if (firstInWindow !== undefined) {
    blocks.forEachKey(firstInWindow, (hash, sequence, storedAt) => dedupe.add(hash, sequence, storedAt));
  }
}
