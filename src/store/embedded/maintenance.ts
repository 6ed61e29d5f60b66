import type Database from 'better-sqlite3';
import type { RetentionPolicy } from '../types.js';
import type { DedupeIndex } from './dedupe-index.js';
import type { EventBlocks } from './event-blocks.js';
import type { LogCounts } from './log-counts.js';
import type { RecentEvents } from './recent-events.js';
import { retentionCutoff } from './retention.js';
import type { RetiredKeys } from './retired-keys.js';

/**
 * Dedupe keys forgotten per turn of the event loop. Maintenance runs every 5 s, and at 130,000 events/s
 * forgetting five seconds of keys at once took 90-130 ms (a cache miss or two per key); slices of this
 * many take ~2-3 ms each (bench/PROFILE.md, sixth round).
 */
const PRUNE_SLICE_KEYS = 16_384;

/** What maintenance works on: the store's collaborators, and how it reads the store's append state. */
export interface MaintainedStore {
  readonly db: Database.Database;
  readonly blocks: EventBlocks;
  readonly counts: LogCounts;
  readonly recent: RecentEvents;
  readonly dedupe: DedupeIndex;
  readonly dedupeWindowMs: number;
  /** The keys of events retention deleted inside the dedupe window. */
  readonly retired: RetiredKeys;
  readonly retention: RetentionPolicy;
  readonly now: () => number;
  /** Highest sequence durably written. */
  readonly committedSequence: () => number;
  /** No group is being written and every sequence assigned is committed. */
  readonly settled: () => boolean;
  readonly closed: () => boolean;
}

/**
 * The embedded store's maintenance: retention, forgetting dedupe keys older than the window, and saving
 * the log's counts (`LogCounts`).
 */
export class LogMaintenance {
  /** A slice of the dedupe prune is scheduled for the next turn. */
  private pruning = false;
  private readonly statements;

  constructor(private readonly store: MaintainedStore) {
    this.statements = {
      // The high-water mark `openDatabase` reads back.
      setLast: store.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('last_sequence', ?)"),
    };
  }

  /** Applies retention and forgets dedupe keys older than the window. Safe to call at any time. */
  run(): void {
    if (this.store.closed()) return;
    const { retention, blocks, counts } = this.store;
    const now = this.store.now();
    try {
      this.pruneDedupe();
      this.store.retired.pruneBefore(now - this.store.dedupeWindowMs);
      const cutoff = retentionCutoff(retention, blocks, counts, this.store.committedSequence(), now);
      if (cutoff > 0) this.deleteBefore(cutoff, now);
      this.saveCounts();
    } catch {
      // Maintenance is retried on the next tick; a busy database must not crash the broker.
    }
  }

  /** Saves the counts when they moved and nothing is in flight; bounds what the next open counts. */
  saveCounts(): void {
    if (!this.store.settled()) return;
    const { db, blocks, counts } = this.store;
    const committedSequence = this.store.committedSequence();
    if (!counts.changedSince(committedSequence)) return;
    const first = blocks.first() ?? 0;
    db.transaction(() => counts.save(committedSequence, first))();
  }

  /** Forgets dedupe keys older than the window, a slice per turn of the event loop. */
  private pruneDedupe(): void {
    if (this.pruning || this.store.closed()) return;
    if (this.store.dedupe.prune(this.store.now(), PRUNE_SLICE_KEYS)) return;
    this.pruning = true;
    setImmediate(() => {
      this.pruning = false;
      this.pruneDedupe();
    });
  }

  private deleteBefore(cutoff: number, now: number): void {
    const { db, blocks, counts, recent, retired, dedupeWindowMs } = this.store;
    const first = blocks.first();
    if (first === undefined || first >= cutoff) return;
    const eventsBefore = counts.events;
    const bytesBefore = counts.bytes;
    blocks.commitWaiting();
    try {
      db.transaction(() => {
        const committedSequence = this.store.committedSequence();
        this.statements.setLast.run(committedSequence);
        // Events still inside the dedupe window leave their keys behind, in this transaction, so that a
        // retry of one is confirmed as a duplicate, not stored again. Usually none is (retention far
        // above the window): one indexed look-up.
        const since = now - dedupeWindowMs;
        const inWindow = dedupeWindowMs > 0 ? blocks.sequenceAt(since) : undefined;
        if (inWindow !== undefined && inWindow < cutoff) {
          blocks.forEachKeyBetween(Math.max(first, inWindow), cutoff, since, (key) => retired.add(key));
        }
        const removed = blocks.deleteBefore(cutoff);
        counts.events -= removed.events;
        counts.bytes -= removed.bytes;
        // Saved with the delete, so a snapshot never counts events that are gone.
        if (this.store.settled()) {
          counts.save(committedSequence, blocks.first() ?? 0);
        } else {
          counts.invalidate();
        }
      })();
    } catch (error) {
      counts.events = eventsBefore;
      counts.bytes = bytesBefore;
      throw error;
    }
    blocks.removeUnusedSegments();
    recent.dropBefore(cutoff);
  }
}
