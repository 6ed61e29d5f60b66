import type Database from 'better-sqlite3';
import type { CloudEvent, DataKind } from '../../cloudevents/index.js';
import { HeraldError } from '../../errors/index.js';
import { deadLetterBytes, trimHeldLetters } from '../dead-letter-limits.js';
import type { HeldDeadLetter } from '../dead-letter-limits.js';
import type {
  AddedDeadLetter,
  DeadLetter,
  DeadLetterLimits,
  DroppedDeadLetters,
  NewDeadLetter,
  TraceHeaders,
} from '../types.js';

/**
 * Rows one step of `deleteAll` deletes: a letter holds up to `--max-event-size` (1 MiB by default), which
 * SQLite reads page by page to free, so a step frees at most ~128 MiB and most take a few milliseconds.
 */
const DELETE_ALL_BATCH = 128;

interface DeadLetterRow {
  seq: number;
  attrs: string;
  data: Buffer | null;
  data_kind: number;
  trace: string | null;
  id: number;
  subscription: string;
  error: string;
  attempts: number;
  at: number;
  letter_key: string | null;
}

const DEAD_LETTERS_SCHEMA = `
CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  subscription TEXT NOT NULL,
  seq INTEGER NOT NULL,
  attrs TEXT NOT NULL,
  data BLOB,
  data_kind INTEGER NOT NULL,
  trace TEXT,
  error TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_subscription ON dead_letters(subscription, id);
`;

/**
 * The letter's key (`NewDeadLetter.key`), added to a table made before keys: rows stored before it have
 * none, and no other row is ever their duplicate. Unique per subscription among the rows that have one.
 */
function addKeyColumn(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(dead_letters)').all();
  if (!columns.some((column) => column.name === 'letter_key'))
    db.exec('ALTER TABLE dead_letters ADD COLUMN letter_key TEXT');
  db.exec(
    'CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_key ON dead_letters(subscription, letter_key) WHERE letter_key IS NOT NULL',
  );
}

function rowToEvent(row: DeadLetterRow): CloudEvent {
  return {
    attributes: JSON.parse(row.attrs) as CloudEvent['attributes'],
    data: row.data ?? undefined,
    dataKind: row.data_kind as DataKind,
  };
}

function parseTrace(trace: string | null): TraceHeaders | undefined {
  return trace === null ? undefined : (JSON.parse(trace) as TraceHeaders);
}

function rowToLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: String(row.id),
    subscription: row.subscription,
    sequence: row.seq,
    event: rowToEvent(row),
    trace: parseTrace(row.trace),
    error: JSON.parse(row.error) as DeadLetter['error'],
    attempts: row.attempts,
    deadLetteredAt: row.at,
  };
}

/**
 * The embedded store's dead letters (`dead_letters` table). They are group-committed: those added in
 * one turn of the event loop are written in one transaction on the next. A sink that fails every event
 * (hundreds of dead letters a second) then costs one commit per turn instead of one synchronous fsync
 * per event on the event loop.
 */
export class EmbeddedDeadLetters {
  private pending: Array<{
    letter: NewDeadLetter;
    resolve: (letter: AddedDeadLetter) => void;
    reject: (error: unknown) => void;
  }> = [];
  private readonly statements;

  constructor(private readonly db: Database.Database) {
    db.exec(DEAD_LETTERS_SCHEMA);
    addKeyColumn(db);
    this.statements = {
      // A row with the key held already is left as it is: `flush` answers with that one.
      add: db.prepare(
        'INSERT INTO dead_letters (subscription, seq, attrs, data, data_kind, trace, error, attempts, at, letter_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subscription, letter_key) WHERE letter_key IS NOT NULL DO NOTHING',
      ),
      byKey: db.prepare<[string, string], DeadLetterRow>(
        'SELECT * FROM dead_letters WHERE subscription = ? AND letter_key = ?',
      ),
      list: db.prepare<[string, number, number], DeadLetterRow>(
        'SELECT * FROM dead_letters WHERE subscription = ? AND id > ? ORDER BY id LIMIT ?',
      ),
      count: db.prepare<[string], { n: number }>(
        'SELECT COUNT(*) AS n FROM dead_letters WHERE subscription = ?',
      ),
      delete: db.prepare('DELETE FROM dead_letters WHERE subscription = ? AND id = ?'),
      // Per subscription, what the bounds look at, without the payloads: a subscription within all three
      // is not read letter by letter (a sweep runs within a quarter second of any dead-lettering).
      subscriptions: db.prepare<[], { subscription: string; letters: number; bytes: number; oldest: number }>(
        'SELECT subscription, COUNT(*) AS letters, SUM(octet_length(attrs) + IFNULL(length(data), 0)) AS bytes, MIN(at) AS oldest FROM dead_letters GROUP BY subscription',
      ),
      // Only the small columns: the bytes are measured as `deadLetterBytes` does, without the payloads.
      held: db.prepare<[string], { id: number; at: number; bytes: number }>(
        'SELECT id, at, octet_length(attrs) + IFNULL(length(data), 0) AS bytes FROM dead_letters WHERE subscription = ? ORDER BY id',
      ),
      deleteThrough: db.prepare('DELETE FROM dead_letters WHERE subscription = ? AND id <= ?'),
      // The index (subscription, id) finds the oldest rows; the payloads are freed, never read into JS.
      deleteOldest: db.prepare(
        'DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters WHERE subscription = ? ORDER BY id LIMIT ?)',
      ),
    };
  }

  add(letter: NewDeadLetter): Promise<AddedDeadLetter> {
    return new Promise((resolve, reject) => {
      this.pending.push({ letter, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  /** Writes the dead letters added so far in one transaction. */
  flush(): void {
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    try {
      const added = this.db.transaction(() =>
        batch.map(({ letter }): AddedDeadLetter => {
          const { key, ...fields } = letter;
          const result = this.statements.add.run(
            letter.subscription,
            letter.sequence,
            JSON.stringify(letter.event.attributes),
            letter.event.data ?? null,
            letter.event.dataKind,
            letter.trace === undefined ? null : JSON.stringify(letter.trace),
            JSON.stringify(letter.error),
            letter.attempts,
            letter.deadLetteredAt,
            key ?? null,
          );
          if (result.changes > 0) return { ...fields, id: String(result.lastInsertRowid) };
          // Only a held key inserts nothing (an earlier add, or one earlier in this batch).
          const held = this.statements.byKey.get(letter.subscription, key as string);
          if (held === undefined)
            throw new HeraldError('HERALD_INTERNAL', 'a dead letter was neither stored nor held');
          return { ...rowToLetter(held), existing: true };
        }),
      )();
      batch.forEach(({ resolve }, i) => resolve(added[i] as AddedDeadLetter));
    } catch (error) {
      for (const { reject } of batch) reject(error);
    }
  }

  /** Row by row, so that a list cut by `maxBytes` never read the rows after its cut (the store contract). */
  list(
    subscription: string,
    limit: number,
    after?: string,
    maxBytes = Number.POSITIVE_INFINITY,
  ): DeadLetter[] {
    const from = after === undefined ? 0 : Number(after);
    const letters: DeadLetter[] = [];
    let bytes = 0;
    for (const row of this.statements.list.iterate(subscription, Number.isFinite(from) ? from : 0, limit)) {
      const letter = rowToLetter(row);
      letters.push(letter);
      bytes += deadLetterBytes(letter);
      if (bytes > maxBytes) break;
    }
    return letters;
  }

  count(subscription: string): number {
    return this.statements.count.get(subscription)?.n ?? 0;
  }

  delete(subscription: string, ids: readonly string[]): void {
    this.db.transaction(() => {
      for (const id of ids) this.statements.delete.run(subscription, Number(id));
    })();
  }

  /**
   * Deletes every letter of `subscription` in transactions of at most `DELETE_ALL_BATCH` rows, letting
   * the event loop run between them: one statement over half a million letters held it (every request
   * and delivery) for as long as SQLite took to free them. `open` says whether the database still is.
   */
  async deleteAll(subscription: string, open: () => boolean): Promise<void> {
    this.flush(); // letters added this turn are written first, and go too
    while (open()) {
      if (this.statements.deleteOldest.run(subscription, DELETE_ALL_BATCH).changes < DELETE_ALL_BATCH) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    throw new HeraldError('HERALD_SHUTTING_DOWN', 'the store is closed');
  }

  /** Removes the oldest letters of every subscription beyond `limits` (the store contract's `trimDeadLetters`). */
  trim(limits: DeadLetterLimits, now: number): DroppedDeadLetters[] {
    this.flush();
    const dropped: DroppedDeadLetters[] = [];
    for (const { subscription, letters, bytes, oldest } of this.statements.subscriptions.all()) {
      const within =
        (limits.maxLetters === 0 || letters <= limits.maxLetters) &&
        (limits.maxBytes === 0 || bytes <= limits.maxBytes) &&
        (limits.maxAgeMs === 0 || oldest >= now - limits.maxAgeMs);
      if (within) continue;
      const held: HeldDeadLetter[] = this.statements.held
        .all(subscription)
        .map((row) => ({ id: String(row.id), deadLetteredAt: row.at, bytes: row.bytes }));
      const trim = trimHeldLetters(subscription, held, limits, now);
      if (trim.lastId === undefined) continue;
      this.statements.deleteThrough.run(subscription, Number(trim.lastId));
      dropped.push(...trim.dropped);
    }
    return dropped;
  }
}
