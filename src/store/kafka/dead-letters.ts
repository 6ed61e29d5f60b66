import { randomUUID } from 'node:crypto';
import { deadLetterBytes, trimHeldLetters } from '../dead-letter-limits.js';
import type { HeldDeadLetter } from '../dead-letter-limits.js';
import type {
  AddedDeadLetter,
  DeadLetter,
  DeadLetterLimits,
  DroppedDeadLetters,
  NewDeadLetter,
} from '../types.js';
import { decodeDeadLetter, encodeDeadLetter } from './codec.js';
import type { CompactedView } from './compacted-view.js';

/** Failed adds remembered for their retry (a subscription retries one at a time; this bounds the rest). */
const MAX_UNANSWERED = 10_000;
/** Tombstones one write of `deleteAll` carries (a tombstone is its key only: tens of KiB a write). */
const MAX_TOMBSTONES = 500;

/**
 * Dead letters in a compacted topic: one record per letter under the key `<subscription> NUL <uuid>` (or
 * `<subscription> NUL = <letter key>`, see `addKeyed`);
 * deleting a letter writes a tombstone. A letter's id is the offset of its record, unique and
 * increasing, so the list is in the order letters were added.
 */
export class DeadLetters {
  /**
   * Keys of adds that failed, by subscription and sequence: the write may have landed all the same (Kafka
   * answered too late), and the dispatcher retries a failed add. The retry writes the same key, so the
   * compacted topic keeps one letter whichever copy landed. Oldest first, at most `MAX_UNANSWERED`.
   */
  private readonly unanswered = new Map<string, string>();

  constructor(private readonly view: CompactedView) {}

  private prefix(subscription: string): string {
    return `${subscription}\u0000`;
  }

  async add(letter: NewDeadLetter): Promise<AddedDeadLetter> {
    const { key: letterKey, ...fields } = letter;
    if (letterKey !== undefined)
      return this.addKeyed(fields, `${this.prefix(letter.subscription)}=${letterKey}`);
    const attempt = `${letter.subscription}\u0000${letter.sequence}`;
    const key = this.unanswered.get(attempt) ?? `${this.prefix(letter.subscription)}${randomUUID()}`;
    const record = encodeDeadLetter(fields, key);
    let offset: number | undefined;
    try {
      [offset] = await this.view.write([{ key, value: record.value, headers: record.headers }]);
    } catch (error) {
      this.unanswered.delete(attempt); // re-inserted last: the map stays oldest first
      this.unanswered.set(attempt, key);
      for (const oldest of this.unanswered.keys()) {
        if (this.unanswered.size <= MAX_UNANSWERED) break;
        this.unanswered.delete(oldest);
      }
      throw error;
    }
    this.unanswered.delete(attempt);
    return { ...fields, id: String(offset) };
  }

  /**
   * A letter with a key (`NewDeadLetter.key`) is the record under `<subscription> NUL = <key>` (`=` is in no
   * UUID, so no unkeyed letter's key): held already, it is answered as it is; else written. Two replicas
   * writing one key at once leave one letter all the same (the topic keeps a key's last record), and a
   * failed write tried again writes the same key.
   */
  private async addKeyed(letter: NewDeadLetter, key: string): Promise<AddedDeadLetter> {
    await this.view.sync();
    const held = this.view.get(key);
    const existing = held === undefined ? undefined : decodeDeadLetter(String(held.offset), held);
    if (existing !== undefined) return { ...existing, existing: true };
    const record = encodeDeadLetter(letter, key);
    const [offset] = await this.view.write([{ key, value: record.value, headers: record.headers }]);
    return { ...letter, id: String(offset) };
  }

  /**
   * In id (offset) order; with `after`, only the letters after that id. Decodes (copies) no letter past a
   * `maxBytes` cut: the view holds the records, the list its copies.
   */
  async list(
    subscription: string,
    limit: number,
    after?: string,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<DeadLetter[]> {
    await this.view.sync();
    const from = after === undefined ? -1 : Number(after);
    const letters: DeadLetter[] = [];
    let bytes = 0;
    for (const [, record] of this.view.withPrefix(this.prefix(subscription))) {
      if (letters.length >= limit || bytes > maxBytes) break;
      if (!(record.offset > from)) continue;
      const letter = decodeDeadLetter(String(record.offset), record);
      if (letter === undefined) continue;
      letters.push(letter);
      bytes += deadLetterBytes(letter);
    }
    return letters;
  }

  async count(subscription: string): Promise<number> {
    await this.view.sync();
    let count = 0;
    for (const entry of this.view.withPrefix(this.prefix(subscription))) {
      void entry;
      count++;
    }
    return count;
  }

  async delete(subscription: string, ids: readonly string[]): Promise<void> {
    await this.view.sync();
    const wanted = new Set(ids);
    const keys: string[] = [];
    for (const [key, record] of this.view.withPrefix(this.prefix(subscription))) {
      if (wanted.has(String(record.offset))) keys.push(key);
    }
    if (keys.length > 0) await this.view.write(keys.map((key) => ({ key, value: undefined })));
  }

  /**
   * Tombstones every letter of `subscription`, `MAX_TOMBSTONES` a write: by key alone, no letter decoded
   * (each would be a copy of its event's data), and no one write of a subscription's every key.
   */
  async deleteAll(subscription: string): Promise<void> {
    await this.view.sync();
    const keys = Array.from(this.view.withPrefix(this.prefix(subscription)), ([key]) => key);
    for (let from = 0; from < keys.length; from += MAX_TOMBSTONES) {
      await this.view.write(
        keys.slice(from, from + MAX_TOMBSTONES).map((key) => ({ key, value: undefined })),
      );
    }
  }

  /** Removes the oldest letters of every subscription beyond `limits`, with one write of tombstones. */
  async trim(limits: DeadLetterLimits, now: number): Promise<DroppedDeadLetters[]> {
    await this.view.sync();
    // The view holds every letter in memory, in offset order within a subscription.
    const bySubscription = new Map<string, Array<HeldDeadLetter & { key: string }>>();
    for (const [key, record] of this.view.withPrefix('')) {
      const subscription = key.slice(0, key.indexOf('\u0000'));
      const letter = decodeDeadLetter(String(record.offset), record);
      if (letter === undefined) continue;
      const held = bySubscription.get(subscription) ?? [];
      held.push({
        key,
        id: letter.id,
        deadLetteredAt: letter.deadLetteredAt,
        bytes: deadLetterBytes(letter),
      });
      bySubscription.set(subscription, held);
    }
    const dropped: DroppedDeadLetters[] = [];
    const tombstones: Array<{ key: string; value: undefined }> = [];
    for (const [subscription, held] of bySubscription) {
      held.sort((a, b) => Number(a.id) - Number(b.id));
      const trim = trimHeldLetters(subscription, held, limits, now);
      for (const letter of held.slice(0, trim.count)) tombstones.push({ key: letter.key, value: undefined });
      dropped.push(...trim.dropped);
    }
    if (tombstones.length > 0) await this.view.write(tombstones);
    return dropped;
  }

  stop(): Promise<void> {
    return this.view.stop();
  }
}
