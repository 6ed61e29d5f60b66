import type { RetentionPolicy } from '../types.js';

export type Durability = 'fsync' | 'buffered';

export interface EmbeddedStoreOptions {
  /** Directory of the database file; created when missing. */
  readonly dataDir: string;
  readonly brokerName?: string;
  /** `fsync`: every commit reaches the disk before `append` resolves. `buffered`: survives a crash of the process, not of the machine. */
  readonly durability?: Durability;
  readonly dedupeWindowMs?: number;
  readonly retention?: Partial<RetentionPolicy>;
  /** How often retention and dedupe pruning run. */
  readonly maintenanceIntervalMs?: number;
  /** How long a write waits for a lock held by another connection before the store reports unavailable. */
  readonly busyTimeoutMs?: number;
  readonly now?: () => number;
  /**
   * `inline` (default): commits run on the event loop. `thread`: a worker thread commits while the event
   * loop goes on parsing requests, so one broker process uses two cores. `auto`: with more than one core,
   * groups holding a batch (a request of at least `THREAD_GROUP_EVENTS` events) commit on the thread and
   * the others inline; with one core, inline.
   */
  readonly writer?: 'inline' | 'thread' | 'auto';
  /** Cores the process may use, for `auto` (default: `os.availableParallelism()`). */
  readonly cores?: number;
  /** Where the compiled writer thread is (tests that run TypeScript sources point at the build). */
  readonly writerScript?: URL;
  /** Where the compiled checkpoint thread is (the same). */
  readonly checkpointScript?: URL;
}
