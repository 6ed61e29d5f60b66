import type { RetentionPolicy, StoredEvent } from '../types.js';

/**
 * Slots of the window (a power of two): the window holds at most this many events. The shared tail
 * reads each event right after its ack, so a few turns' worth of acks is enough. More costs the event
 * loop: with 1,024 an event stayed here ~100 ms at 10,000 events/s, long enough to be promoted to V8's
 * old generation, and a broker on one core ran seven full collections (15–30 ms each) in a 10-second
 * publish run where with 128 it ran none (bench/PROFILE.md, "Issue #15, fourth round").
 */
const SLOTS = 128;
/** Larger events are not held (at most 16 MiB in all); the tail reads them from JetStream. */
const MAX_EVENT_BYTES = 16 * 1024;

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
  /** The event stored at sequence `s` sits in slot `s % SLOTS`, until a later one takes the slot. */
  private readonly slots: Array<StoredEvent | undefined> = new Array<StoredEvent | undefined>(SLOTS);
  private held = 0;
  private readonly enabled: boolean;

  constructor(private readonly retention: RetentionPolicy) {
    this.enabled = retention.maxBytes <= 0;
  }

  /** Records an event this process stored (and JetStream acknowledged); `size` is its bytes in JetStream. */
  add(stored: StoredEvent, size: number): void {
    if (!this.enabled || size > MAX_EVENT_BYTES) return;
    this.slots[stored.sequence & (SLOTS - 1)] = stored;
    this.held++;
  }

  /**
   * The run of events held from `from` on, in sequence order, at most `limit`; empty when the window
   * does not hold `from` (the caller then reads from JetStream). `last` is the log's last sequence.
   */
  page(from: number, limit: number, last: number): StoredEvent[] {
    const out: StoredEvent[] = [];
    if (this.held === 0) return out;
    const { maxEvents, maxAgeMs } = this.retention;
    if (maxEvents > 0 && from <= last - maxEvents) return out;
    const oldest = maxAgeMs > 0 ? Date.now() - maxAgeMs : 0;
    for (let sequence = from; out.length < limit; sequence++) {
      const stored = this.slots[sequence & (SLOTS - 1)];
      if (stored === undefined || stored.sequence !== sequence || stored.storedAt <= oldest) break;
      out.push(stored);
    }
    return out;
  }

  /** Retention removed events (or may have): serve nothing held so far. */
  clear(): void {
    this.slots.fill(undefined);
    this.held = 0;
  }
}
