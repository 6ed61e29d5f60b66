import type Database from 'better-sqlite3';
import type { SubscriptionRecord } from '../types.js';

const SUBSCRIPTIONS_SCHEMA =
  'CREATE TABLE IF NOT EXISTS subscriptions (id TEXT PRIMARY KEY, document TEXT NOT NULL) WITHOUT ROWID';

/** The embedded store's durable subscriptions (`subscriptions` table), each a JSON document by id. */
export class EmbeddedSubscriptions {
  private readonly statements;

  constructor(db: Database.Database) {
    db.exec(SUBSCRIPTIONS_SCHEMA);
    this.statements = {
      put: db.prepare('INSERT OR REPLACE INTO subscriptions (id, document) VALUES (?, ?)'),
      replace: db.prepare('UPDATE subscriptions SET document = ? WHERE id = ?'),
      get: db.prepare<[string], { document: string }>('SELECT document FROM subscriptions WHERE id = ?'),
      delete: db.prepare('DELETE FROM subscriptions WHERE id = ?'),
      list: db.prepare<[], SubscriptionRecord>('SELECT id, document FROM subscriptions ORDER BY id'),
    };
  }

  /** Writes one (inside the caller's transaction, if any). */
  put(record: SubscriptionRecord): void {
    this.statements.put.run(record.id, record.document);
  }

  /**
   * Rewrites an existing one that `stillThis` accepts; false when there is none or it refuses, and
   * nothing is written. The read and the write are one synchronous step: no other write comes between.
   */
  replace(record: SubscriptionRecord, stillThis?: (stored: string) => boolean): boolean {
    if (stillThis !== undefined) {
      const stored = this.statements.get.get(record.id);
      if (stored === undefined || !stillThis(stored.document)) return false;
    }
    return this.statements.replace.run(record.document, record.id).changes > 0;
  }

  /** Whether there was one to delete. */
  delete(id: string): boolean {
    return this.statements.delete.run(id).changes > 0;
  }

  list(): SubscriptionRecord[] {
    return this.statements.list.all();
  }
}
