import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';

/**
 * The dedupe keys of events that retention deleted while they were still inside the dedupe window: per
 * sequence, its time, its dedupe hash (which covers the principal) and a digest of its (`source`, `id`).
 * A publisher retrying such an event within the window is owed a duplicate's answer, yet the hash hit
 * had no stored event left to be confirmed against, so the event was stored a second time.
 */
export const RETIRED_KEYS_SCHEMA = `
CREATE TABLE IF NOT EXISTS dedupe_retired (
  seq INTEGER PRIMARY KEY,
  stored_at INTEGER NOT NULL,
  hash INTEGER NOT NULL,
  digest BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS dedupe_retired_stored_at ON dedupe_retired(stored_at);
`;

/**
 * SHA-256 of a (`source`, `id`) key, truncated to 16 bytes: the whole key can be as long as the
 * attributes' limits allow, and unlike the 32-bit dedupe hash a digest this long confirms a key alone.
 */
function digestOf(key: string): Buffer {
  return createHash('sha256').update(key).digest().subarray(0, 16);
}

/** A deleted event's dedupe key, as retention hands it over. */
export interface RetiredKey {
  readonly sequence: number;
  readonly storedAt: number;
  readonly hash: number;
  /** `DedupeWindow.key(source, id)`, without the principal. */
  readonly key: string;
}

/**
 * The `dedupe_retired` table. It holds only what retention deleted within one dedupe window: rows are
 * added in retention's transaction (a crash keeps the deletion and its keys or neither), and go once
 * their time leaves the window. With retention far above the window it stays empty, and nothing on the
 * publish path reads or writes it: it is read only for a hash hit whose event is gone.
 */
export class RetiredKeys {
  private readonly statements;
  /** Rows held: none (the usual case) skips every statement. */
  private rows: number;

  constructor(db: Database.Database) {
    db.exec(RETIRED_KEYS_SCHEMA);
    this.statements = {
      insert: db.prepare<[number, number, number, Buffer]>(
        'INSERT OR IGNORE INTO dedupe_retired (seq, stored_at, hash, digest) VALUES (?, ?, ?, ?)',
      ),
      digest: db.prepare<[number], { digest: Buffer }>('SELECT digest FROM dedupe_retired WHERE seq = ?'),
      since: db.prepare<[number], { seq: number; stored_at: number; hash: number }>(
        'SELECT seq, stored_at, hash FROM dedupe_retired WHERE stored_at >= ? ORDER BY seq',
      ),
      pruneBefore: db.prepare<[number]>('DELETE FROM dedupe_retired WHERE stored_at < ?'),
    };
    this.rows = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM dedupe_retired').get()?.n ?? 0;
  }

  /** Keeps the keys of events being deleted (call inside the transaction that deletes them). */
  add(retired: RetiredKey): void {
    const { sequence, storedAt, hash, key } = retired;
    this.rows += this.statements.insert.run(sequence, storedAt, hash, digestOf(key)).changes;
  }

  /** Whether `sequence` was deleted by retention inside the window and had the (`source`, `id`) `key`. */
  matches(sequence: number, key: string): boolean {
    if (this.rows === 0) return false;
    const row = this.statements.digest.get(sequence);
    return row !== undefined && row.digest.equals(digestOf(key));
  }

  /** Feeds the hashes of the keys stored at or after `since`, in sequence order (rebuilding the window on open). */
  forEachSince(since: number, add: (hash: number, sequence: number, storedAt: number) => void): void {
    if (this.rows === 0) return;
    for (const row of this.statements.since.iterate(since)) add(row.hash, row.seq, row.stored_at);
  }

  /** Forgets the keys stored before `horizon` (the window's start): they can no longer make a duplicate. */
  pruneBefore(horizon: number): void {
    if (this.rows === 0) return;
    this.rows -= this.statements.pruneBefore.run(horizon).changes;
  }

  /** Rows held. */
  get size(): number {
    return this.rows;
  }
}
