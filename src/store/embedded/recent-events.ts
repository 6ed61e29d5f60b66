import type { CloudEvent } from '../../cloudevents/index.js';
import type { StoredEvent } from '../types.js';

/**
 * How many of the most recently appended events `read` serves from memory, at least (the whole last
 * commit group is always kept). The dispatcher's shared tail reads every event right after its group
 * is committed; from here it costs neither a query nor a `JSON.parse` of the attributes.
 *
 * @remarks Small on purpose: an event kept here long enough to outlive two young-generation collections
 * is promoted to the old generation, where it stays as garbage until a full collection, and full
 * collections of that garbage stall the event loop for 15–40 ms. With 512 (up to 1,024 kept, 100–200 ms
 * of events at 5,000 events/s) nearly every event was promoted and a broker on one core ran three full
 * collections in ten seconds; with 64 none (bench/PROFILE.md, "Issue #15, fourth round"). The shared
 * tail reads right after each commit, so it still finds its events here; a subscription further behind
 * decodes its events from the blocks.
 */
const RECENT_EVENTS = 64;

/**
 * A buffer up to this size is kept whole by an event in the recent-events window whose data views part
 * of it: a request body, or the slab Node.js allocates small buffers from.
 */
const RETAINED_BUFFER_BYTES = 64 * 1024;

/**
 * The event as kept in the recent-events window: itself (a view of a request body or socket read of
 * at most `RETAINED_BUFFER_BYTES`, its attributes' text with it), or, when it views a larger buffer, its
 * data copied out and without the attributes' text. Either way an event read from memory is what the
 * blocks give back: the same attributes and data, and attributes' text when the blocks hold it.
 *
 * @remarks The window holds the last `RECENT_EVENTS` to `2 * RECENT_EVENTS` events (or the last group's),
 * so the buffers they pin stay few. A new object per appended event cost ~3% of batch ingress
 * (bench/PROFILE.md, thirteenth round); kept whole, a recent event is also rendered for delivery from its
 * text instead of serialised again.
 */
export function retainable(event: CloudEvent): CloudEvent {
  const data = event.data;
  const pinsData =
    data !== undefined &&
    data.buffer.byteLength > RETAINED_BUFFER_BYTES &&
    data.byteLength !== data.buffer.byteLength;
  const json = event.attributesJson;
  const pinsText = json !== undefined && json.text.buffer.byteLength > RETAINED_BUFFER_BYTES;
  if (!pinsData && !pinsText) return event;
  return {
    attributes: event.attributes,
    data: pinsData ? new Uint8Array(data) : data,
    dataKind: event.dataKind,
  };
}

/** The recently committed events, contiguous by sequence, that the store reads from memory. */
export class RecentEvents {
  private events: StoredEvent[] = [];

  /** `first`: the sequence the window starts at (the next one to be committed, while it is empty). */
  constructor(private first: number) {}

  /** The event of `sequence`, if the window holds it. */
  at(sequence: number): StoredEvent | undefined {
    return sequence >= this.first ? this.events[sequence - this.first] : undefined;
  }

  /** Events from `from` on, at most `limit`, if the window starts at or before `from`. */
  read(from: number, limit: number): StoredEvent[] | undefined {
    if (limit <= 0 || from < this.first || this.events.length === 0) return undefined;
    const start = from - this.first;
    return this.events.slice(start, start + limit);
  }

  /** Adds a committed group's events, dropping the oldest beyond the window's size. */
  remember(appended: readonly StoredEvent[]): void {
    if (appended.length === 0) return;
    if (this.events.length === 0) this.first = (appended[0] as StoredEvent).sequence;
    for (const stored of appended) this.events.push(stored);
    if (this.events.length > 2 * RECENT_EVENTS) {
      const drop = this.events.length - Math.max(RECENT_EVENTS, appended.length);
      this.events = this.events.slice(drop);
      this.first += drop;
    }
  }

  /** Forgets the events before `cutoff` (deleted by retention). */
  dropBefore(cutoff: number): void {
    if (cutoff <= this.first) return;
    const drop = Math.min(this.events.length, cutoff - this.first);
    this.events = this.events.slice(drop);
    this.first = cutoff;
  }
}
