import { setTimeout as delay } from 'node:timers/promises';
import { nuid } from '@nats-io/transport-node';
import { deadLetterBytes, trimHeldLetters } from '../dead-letter-limits.js';
import type { HeldDeadLetter } from '../dead-letter-limits.js';
import type {
  AddedDeadLetter,
  DeadLetter,
  DeadLetterLimits,
  DroppedDeadLetters,
  NewDeadLetter,
} from '../types.js';
import { HEADER, decodeDeadLetter, decodeToken, encodeDeadLetter, encodeToken } from './codec.js';
import type { StoreContext } from './support.js';
import { apiCode, buildHeaders, directBatch, isNotFound, retryPublish } from './support.js';

/** The server's answers to a KV write whose expected revision was not the key's (another write came first). */
const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);

/**
 * The cursors bucket's keys that index keyed letters (`NewDeadLetter.key`): `deadletter.<subscription>.<key>`,
 * each encoded. A cursor's key is one encoded token, never with a `.`: the two never meet, and no new
 * bucket (nor NATS permission) is needed.
 */
const INDEX_PREFIX = 'deadletter';

/** How often an add that found another add's mark (and no letter yet) looks again. */
const MARK_POLL_MS = 25;

/** Index entries `forgetKeys` purges at once (one request each). */
const FORGET_AT_ONCE = 64;

/**
 * Dead letters in their own stream, one subject per subscription; a letter's id is its sequence. A letter
 * added with a key is indexed in the cursors bucket (see `addKeyed`).
 */
export class JetStreamDeadLetters {
  constructor(
    private readonly context: StoreContext,
    private readonly requestTimeoutMs: number,
    /** How long one `add` retries a publish that failed or was not acknowledged in time. */
    private readonly publishRetryMs: number,
  ) {}

  private subject(subscription: string): string {
    return `${this.context.names.deadLetterPrefix}.${encodeToken(subscription)}`;
  }

  /**
   * Stores a letter once. The publish is retried here, within `publishRetryMs`, with one `Nats-Msg-Id`
   * of its own: an attempt stored whose ack was lost is then recognised by the stream (its default
   * 2-minute duplicate window) instead of stored again. Were the caller to retry (as the dispatcher
   * does when `add` rejects), each try would be a new letter.
   */
  async add(letter: NewDeadLetter): Promise<AddedDeadLetter> {
    return letter.key === undefined ? this.publish(letter) : this.addKeyed(letter, letter.key);
  }

  private indexKey(subscription: string, key: string): string {
    return `${INDEX_PREFIX}.${encodeToken(subscription)}.${encodeToken(key)}`;
  }

  /**
   * A keyed letter: the index entry of its key names the letter's sequence. One still held is answered as
   * it is. Else the entry is first marked taken (empty, a compare-and-set on the revision read, so two adds
   * at once store one letter), then the letter is published and the entry set to its sequence. A crash
   * between the two leaves the mark: the next add looks for a letter with the key among the
   * subscription's (the publish may have landed) before it publishes one. A mark with no letter yet is
   * also what an add still under way in another process leaves, so an add takes a mark over only once it
   * has stayed unchanged, by this process's clock, for longer than an add's publish may take: taken over
   * at once, two adds at once each stored the letter (the second found the first's mark before its
   * publish landed).
   */
  private async addKeyed(letter: NewDeadLetter, key: string): Promise<AddedDeadLetter> {
    const indexKey = this.indexKey(letter.subscription, key);
    /** The mark without a letter this add found, and when it first saw it. */
    let waited: { revision: number; since: number } | undefined;
    for (;;) {
      const { cursors } = await this.context.use();
      const entry = await cursors.get(indexKey);
      let revision = 0;
      if (entry !== null) {
        revision = entry.revision;
        const mark = entry.operation === 'PUT' ? entry.string() : undefined;
        const held =
          mark === undefined
            ? undefined
            : mark === ''
              ? await this.findKeyed(letter.subscription, key)
              : await this.keyedAt(letter.subscription, key, Number(mark));
        if (held !== undefined) {
          if (mark === '') await cursors.put(indexKey, held.id);
          return { ...held, existing: true };
        }
        if (mark === '') {
          if (waited?.revision !== revision) waited = { revision, since: Date.now() };
          if (Date.now() - waited.since <= this.publishRetryMs + 2 * this.requestTimeoutMs) {
            await delay(MARK_POLL_MS);
            continue;
          }
        }
      }
      let marked: number;
      try {
        marked = await cursors.put(indexKey, '', { previousSeq: revision });
      } catch (error) {
        if (WRONG_LAST_SEQUENCE.has(apiCode(error) ?? 0)) continue; // another add of the key came first
        throw error;
      }
      const stored = await this.publish(letter);
      await cursors.update(indexKey, stored.id, marked).catch(async (error: unknown) => {
        if (!WRONG_LAST_SEQUENCE.has(apiCode(error) ?? 0)) throw error;
        // Marked again by an add that found no letter yet (it looks again, and finds this one).
      });
      return stored;
    }
  }

  /** The letter at stream sequence `seq` when it is still held, of `subscription` and with `key`. */
  private async keyedAt(subscription: string, key: string, seq: number): Promise<DeadLetter | undefined> {
    if (!Number.isSafeInteger(seq) || seq <= 0) return undefined;
    const { jsm } = await this.context.use();
    try {
      const msg = await jsm.streams.getMessage(this.context.names.deadLetterStream, { seq });
      if (msg?.subject !== this.subject(subscription) || msg.header.get(HEADER.letterKey) !== key)
        return undefined;
      return decodeDeadLetter(String(msg.seq), subscription, msg.header, msg.data);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** The letter of `subscription` with `key`, read letter by letter: only after a crash mid-`addKeyed`. */
  private async findKeyed(subscription: string, key: string): Promise<DeadLetter | undefined> {
    const handles = await this.context.use();
    for (let seq = 1; ;) {
      const page = await directBatch(handles, this.context.names.deadLetterStream, {
        seq,
        batch: 256,
        next_by_subj: this.subject(subscription),
      });
      for (const msg of page) {
        if (msg.header.get(HEADER.letterKey) === key)
          return decodeDeadLetter(String(msg.seq), subscription, msg.header, msg.data);
      }
      const last = page[page.length - 1];
      if (last === undefined || last.pending === 0) return undefined;
      seq = last.seq + 1;
    }
  }

  private async publish(letter: NewDeadLetter): Promise<DeadLetter> {
    const { js } = await this.context.use();
    const record = encodeDeadLetter(letter);
    const msgID = nuid.next();
    // The dead-letter stream keeps JetStream's default duplicate window (2 minutes), far beyond the budget.
    const ack = await retryPublish(
      this.context,
      { budgetMs: this.publishRetryMs },
      () =>
        js.publish(this.subject(letter.subscription), record.body, {
          headers: buildHeaders(record.headers, undefined),
          msgID,
          timeout: this.requestTimeoutMs,
        }),
      (error) => error,
    );
    const { key: _key, ...fields } = letter;
    return { ...fields, id: String(ack.seq) };
  }

  async list(
    subscription: string,
    limit: number,
    after?: string,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<DeadLetter[]> {
    return (await this.listKeyed(subscription, limit, after, maxBytes)).map(({ letter }) => letter);
  }

  /** As `list`, with each letter's key (`NewDeadLetter.key`) when it was added with one. */
  private async listKeyed(
    subscription: string,
    limit: number,
    after?: string,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<Array<{ letter: DeadLetter; key: string | undefined }>> {
    const handles = await this.context.use();
    const subject = this.subject(subscription);
    const letters: Array<{ letter: DeadLetter; key: string | undefined }> = [];
    let bytes = 0;
    // Dead-letter ids are stream sequences, so `after` is where the next page starts.
    const start = after === undefined ? 1 : Number(after) + 1;
    let seq = Number.isSafeInteger(start) && start > 0 ? start : 1;
    // Cut by bytes, batches start at one letter and double: a batch is read whole before its letters are
    // measured, so one of 256 large letters would read 256 MiB for a cut of a few. Doubling reads at most
    // as many letters past the cut as came before it, and few round trips when letters are small.
    let batch = maxBytes === Number.POSITIVE_INFINITY ? 256 : 1;
    read: while (letters.length < limit) {
      const page = await directBatch(handles, this.context.names.deadLetterStream, {
        seq,
        batch: Math.min(limit - letters.length, batch),
        next_by_subj: subject,
      });
      for (const msg of page) {
        const letter = decodeDeadLetter(String(msg.seq), subscription, msg.header, msg.data);
        if (letter === undefined) continue;
        letters.push({ letter, key: msg.header.get(HEADER.letterKey) || undefined });
        bytes += deadLetterBytes(letter);
        if (bytes > maxBytes || letters.length >= limit) break read;
      }
      const last = page[page.length - 1];
      if (last === undefined || last.pending === 0) break;
      seq = last.seq + 1;
      batch = Math.min(256, batch * 2);
    }
    return letters.slice(0, limit);
  }

  async count(subscription: string): Promise<number> {
    const { jsm } = await this.context.use();
    const subject = this.subject(subscription);
    const info = await jsm.streams.info(this.context.names.deadLetterStream, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  /** Every letter of `subscription`: its subject purged on the server, in one request, none of them read. */
  async deleteAll(subscription: string): Promise<void> {
    const { jsm } = await this.context.use();
    await jsm.streams.purge(this.context.names.deadLetterStream, { filter: this.subject(subscription) });
    // Then their index entries (an entry left without its letter is only space: `addKeyed` checks the letter).
    await jsm.streams.purge(this.indexStream(), {
      filter: this.indexSubject(`${INDEX_PREFIX}.${encodeToken(subscription)}.>`),
    });
  }

  private indexStream(): string {
    return `KV_${this.context.names.bucketPrefix}_cursors`;
  }

  private indexSubject(indexKey: string): string {
    return `$KV.${this.context.names.bucketPrefix}_cursors.${indexKey}`;
  }

  /** Removes the index entries of letters deleted or trimmed (purged: not even a delete marker stays). */
  private async forgetKeys(subscription: string, keys: ReadonlyArray<string | undefined>): Promise<void> {
    const { jsm } = await this.context.use();
    const stream = this.indexStream();
    const known = keys.filter((key): key is string => key !== undefined);
    for (let from = 0; from < known.length; from += FORGET_AT_ONCE) {
      await Promise.all(
        known
          .slice(from, from + FORGET_AT_ONCE)
          .map((key) =>
            jsm.streams.purge(stream, { filter: this.indexSubject(this.indexKey(subscription, key)) }),
          ),
      );
    }
  }

  async delete(subscription: string, ids: readonly string[]): Promise<void> {
    const { jsm } = await this.context.use();
    const stream = this.context.names.deadLetterStream;
    const subject = this.subject(subscription);
    await Promise.all(
      ids.map(async (id) => {
        const seq = Number(id);
        if (!Number.isSafeInteger(seq) || seq <= 0) return;
        let key: string | undefined;
        try {
          const msg = await jsm.streams.getMessage(stream, { seq });
          if (msg?.subject !== subject) return;
          key = msg.header.get(HEADER.letterKey) || undefined;
        } catch (error) {
          if (isNotFound(error)) return;
          throw error;
        }
        try {
          await jsm.streams.deleteMessage(stream, seq, false);
        } catch (error) {
          // Another replica deleted it since the read (two that redrove one letter settle it together):
          // the server answers "no message found" (API error 10057, not a 404), and a letter no longer
          // there deletes nothing. Read again rather than trust the wording: seqs are never reused.
          if (!(await this.gone(stream, seq))) throw error;
        }
        await this.forgetKeys(subscription, [key]);
      }),
    );
  }

  /** True when the stream no longer holds message `seq`. */
  private async gone(stream: string, seq: number): Promise<boolean> {
    const { jsm } = await this.context.use();
    try {
      return (await jsm.streams.getMessage(stream, { seq })) === null;
    } catch (error) {
      if (isNotFound(error)) return true;
      throw error;
    }
  }

  /**
   * Removes the oldest letters of every subscription beyond `limits`. Only subscriptions that may be over
   * are read in full: a subject holding more than `maxLetters`, a stream over `maxBytes`, or a first
   * letter older than `maxAgeMs` (one message read per subject).
   */
  async trim(limits: DeadLetterLimits, now: number): Promise<DroppedDeadLetters[]> {
    const { jsm } = await this.context.use();
    const stream = this.context.names.deadLetterStream;
    const prefix = `${this.context.names.deadLetterPrefix}.`;
    const info = await jsm.streams.info(stream, { subjects_filter: `${prefix}>` });
    const overBytes = limits.maxBytes > 0 && info.state.bytes > limits.maxBytes;
    const dropped: DroppedDeadLetters[] = [];
    for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
      const subscription = decodeToken(subject.slice(prefix.length));
      if (!overBytes && !(limits.maxLetters > 0 && count > limits.maxLetters)) {
        if (limits.maxAgeMs <= 0) continue;
        const [oldest] = await this.list(subscription, 1);
        if (oldest === undefined || oldest.deadLetteredAt >= now - limits.maxAgeMs) continue;
      }
      const held = await this.held(subscription);
      const trim = trimHeldLetters(subscription, held, limits, now);
      if (trim.lastId === undefined) continue;
      // This subject's messages below the sequence, in one request.
      await jsm.streams.purge(stream, { filter: subject, seq: Number(trim.lastId) + 1 });
      await this.forgetKeys(
        subscription,
        held.slice(0, trim.count).map((letter) => letter.key),
      );
      dropped.push(...trim.dropped);
    }
    return dropped;
  }

  /** A subscription's letters, oldest first, as trimming weighs them. */
  private async held(subscription: string): Promise<Array<HeldDeadLetter & { key: string | undefined }>> {
    const held: Array<HeldDeadLetter & { key: string | undefined }> = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.listKeyed(subscription, 256, after);
      for (const { letter, key } of page) {
        held.push({
          id: letter.id,
          deadLetteredAt: letter.deadLetteredAt,
          bytes: deadLetterBytes(letter),
          key,
        });
      }
      if (page.length < 256) return held;
      after = page[page.length - 1]?.letter.id;
    }
  }
}
