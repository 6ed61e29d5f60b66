import type { RetentionPolicy, StoredEvent } from '../types.js';

/** Most events the window holds, and most bytes of their bodies. */
const MAX_EVENTS = 4096;
const MAX_BYTES = 16 * 1024 * 1024;

/**
 * The events this process appended most recently, by the sequence their PubAck gave them. The
 * dispatcher's shared tail reads every event right after it is stored; without this window that was a
 * direct get reading each event back from JetStream (one more message per event for the server to
 * send and for the broker to parse and decode, plus a request per page). Only acknowledged, newly
 * stored events enter (a duplicate's ack names another publisher's message), so what the window
 * serves is exactly what the stream holds at that sequence. Events of other processes are not here:
 * those reads go to JetStream as before.
 *
 * Retention may remove an event the window still holds; the window never serves one that could be
 * gone: with a byte limit it is off, with a count limit it serves only the newest `maxEvents`, with an
 * age limit only events younger than `maxAgeMs`, and an explicit purge empties it.
 */
export class RecentAppends {
  private readonly events = new Map<number, StoredEvent>();
  private bytes = 0;
  private readonly enabled: boolean;

  constructor(private readonly retention: RetentionPolicy) {
    this.enabled = retention.maxBytes <= 0;
  }

  /** Records an event this process stored (and JetStream acknowledged) at `stored.sequence`. */
  add(stored: StoredEvent): void {
    if (!this.enabled || this.events.has(stored.sequence)) return;
    this.events.set(stored.sequence, stored);
    this.bytes += eventSize(stored);
    // Insertion order is ack order, close to sequence order: the oldest entries go first.
    while (this.events.size > MAX_EVENTS || this.bytes > MAX_BYTES) {
      const first = this.events.entries().next();
      if (first.done === true) break;
      this.events.delete(first.value[0]);
      this.bytes -= eventSize(first.value[1]);
    }
  }

  /**
   * The run of events held from `from` on, in sequence order, at most `limit`; empty when the window
   * does not hold `from` (the caller then reads from JetStream). `last` is the log's last sequence.
   */
  page(from: number, limit: number, last: number): StoredEvent[] {
    const out: StoredEvent[] = [];
    if (this.events.size === 0) return out;
    const { maxEvents, maxAgeMs } = this.retention;
    if (maxEvents > 0 && from <= last - maxEvents) return out;
    const oldest = maxAgeMs > 0 ? Date.now() - maxAgeMs : 0;
    for (let sequence = from; out.length < limit; sequence++) {
      const stored = this.events.get(sequence);
      if (stored === undefined || stored.storedAt <= oldest) break;
      out.push(stored);
    }
    return out;
  }

  /** Retention removed events (or may have): serve nothing held so far. */
  clear(): void {
    this.events.clear();
    this.bytes = 0;
  }
}

/** Data bytes plus a rough allowance for the attributes. */
function eventSize(stored: StoredEvent): number {
  return (stored.event.data?.byteLength ?? 0) + 256;
}
