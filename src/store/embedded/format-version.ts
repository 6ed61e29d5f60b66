import type Database from 'better-sqlite3';
import { HeraldError } from '../../errors/index.js';
import { liveLetterKey } from '../letter-keys.js';

/**
 * The format of the database this build writes, kept in SQLite's `user_version` (0 in every database
 * written before versions were kept). Each version says what was migrated on reaching it:
 *
 * 1. Dead letters stored before letters had keys are given the key the dispatcher adds a live delivery's
 *    letter with (`keyLegacyDeadLetters`).
 *
 * A database of a higher version was written by a newer build, whose changes this one would misread: it is
 * refused at open (`checkFormatVersion`). Builds before versions ignore the number; they cannot be stopped.
 */
export const FORMAT_VERSION = 1;

/** Refuses, before anything is written, a database whose format is newer than this build's. */
export function checkFormatVersion(db: Database.Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > FORMAT_VERSION) {
    throw new HeraldError(
      'HERALD_INVALID_CONFIG',
      `${file} is in the embedded store's format ${version}, written by a newer Herald; this build reads formats up to ${FORMAT_VERSION} and would misread it: run the newer build on it (or restore the copy taken before the upgrade)`,
    );
  }
}

/**
 * Brings a database of an older format to `FORMAT_VERSION` (call once the tables exist, after the legacy
 * events were moved into blocks). One transaction: a crash leaves the old version and nothing changed,
 * and the next open migrates again; at the current version it reads nothing.
 */
export function migrateFormat(db: Database.Database): void {
  if ((db.pragma('user_version', { simple: true }) as number) >= FORMAT_VERSION) return;
  db.transaction(() => {
    keyLegacyDeadLetters(db);
    db.pragma(`user_version = ${FORMAT_VERSION}`);
  })();
}

/**
 * Gives each dead letter stored without a key the key the dispatcher adds a live delivery's letter with
 * (`liveLetterKey`: the same function, called from SQL), from the subscription as stored. Without one, an event whose letter an older build stored before its cursor passed it (stopped
 * while an earlier event was at the sink, or killed) was delivered again after the upgrade and, refused
 * again, stored as a second letter beside the first.
 *
 * @remarks Of several unkeyed letters of one event (an older build's letters from before and after a
 * seek) the newest takes the key, as the newest is what a new letter would have been; a key some letter
 * holds already stays its own (`OR IGNORE`). The seek epoch is the subscription's current one: a letter
 * from before its last seek then counts as that seek's, and the event refused again is that letter, not a
 * second one. Letters of subscriptions this database does not define (a Kubernetes registry) keep none.
 */
function keyLegacyDeadLetters(db: Database.Database): void {
  db.function(
    'herald_live_letter_key',
    { deterministic: true },
    (incarnation: unknown, seekEpoch: unknown, sequence: unknown) =>
      liveLetterKey(
        typeof incarnation === 'string' ? incarnation : undefined,
        Number(seekEpoch ?? 0),
        Number(sequence),
      ),
  );
  db.exec(`
    UPDATE OR IGNORE dead_letters
    SET letter_key = (
      SELECT herald_live_letter_key(
        json_extract(s.document, '$.incarnation'), json_extract(s.document, '$.seek.epoch'), dead_letters.seq)
      FROM subscriptions AS s WHERE s.id = dead_letters.subscription
    )
    WHERE id IN (SELECT MAX(id) FROM dead_letters WHERE letter_key IS NULL GROUP BY subscription, seq)
      AND subscription IN (SELECT id FROM subscriptions)
  `);
}
