import type { RetentionPolicy } from '../types.js';
import type { EventBlocks } from './event-blocks.js';
import type { LogCounts } from './log-counts.js';

/**
 * The sequence below which `policy` deletes every event (0: none): the strictest of the age, count and
 * bytes limits that are set (0 means unset), over the log committed through `committedSequence`.
 */
export function retentionCutoff(
  policy: RetentionPolicy,
  blocks: EventBlocks,
  counts: LogCounts,
  committedSequence: number,
  now: number,
): number {
  const { maxAgeMs, maxEvents, maxBytes } = policy;
  let cutoff = 0;
  if (maxAgeMs > 0) {
    cutoff = Math.max(cutoff, blocks.sequenceAt(now - maxAgeMs) ?? committedSequence + 1);
  }
  if (maxEvents > 0 && counts.events > maxEvents) {
    cutoff = Math.max(cutoff, committedSequence - maxEvents + 1);
  }
  if (maxBytes > 0 && counts.bytes > maxBytes) {
    cutoff = Math.max(cutoff, blocks.bytesCutoff(counts.bytes - maxBytes) ?? 0);
  }
  return cutoff;
}
