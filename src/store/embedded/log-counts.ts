import type Database from 'better-sqlite3';
import type { EventBlocks } from './event-blocks.js';

/**
 * Events and bytes in the log, kept as appends and retention change them, and saved in `meta`.
 *
 * @remarks Counting 10 million rows takes seconds, so the counts are saved (by maintenance, retention
 * and close) with the sequence they are valid up to, and only the events appended after that are
 * counted on open. A snapshot whose first sequence no longer matches the log (written by a build that
 * did not keep it up to date) is ignored and the log counted whole.
 */
export class LogCounts {
  events: number;
  bytes: number;
  /** `events` and the sequence when the counts were last saved. */
  private savedEvents: number;
  private savedThrough = -1;
  private readonly statements;

  /** Counts the log on open; `lastSequence` is the highest sequence ever assigned. */
  constructor(db: Database.Database, blocks: EventBlocks, lastSequence: number) {
    this.statements = {
      setMeta: db.prepare<[string, number]>('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      getMeta: db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE key = ?'),
    };
    const get = (key: string): number | undefined => this.statements.getMeta.get(key)?.value;
    const through = get('count_through');
    const first = blocks.first() ?? 0;
    if (through !== undefined && get('count_first') === first && through <= lastSequence) {
      const tail = blocks.countAfter(through);
      this.events = (get('count_events') ?? 0) + tail.events;
      this.bytes = (get('count_bytes') ?? 0) + tail.bytes;
    } else {
      ({ events: this.events, bytes: this.bytes } = blocks.countAfter(0));
    }
    this.savedEvents = this.events;
  }

  /**
   * Saves the counts as those of the log through `through`, whose first sequence is `first` (call
   * inside a transaction, or alone: one small write), only while no group is being written.
   */
  save(through: number, first: number): void {
    this.statements.setMeta.run('count_through', through);
    this.statements.setMeta.run('count_first', first);
    this.statements.setMeta.run('count_events', this.events);
    this.statements.setMeta.run('count_bytes', this.bytes);
    this.savedEvents = this.events;
    this.savedThrough = through;
  }

  /** The counts moved since they were saved for `through`. */
  changedSince(through: number): boolean {
    return this.savedThrough !== through || this.savedEvents !== this.events;
  }

  /** Marks the saved counts stale (a delete while a group is in flight): the next open counts the log. */
  invalidate(): void {
    this.statements.setMeta.run('count_first', -1);
  }
}
