import { nuid } from '@nats-io/transport-node';
import { deadLetterBytes, trimHeldLetters } from '../dead-letter-limits.js';
import type { HeldDeadLetter } from '../dead-letter-limits.js';
import type { DeadLetter, DeadLetterLimits, DroppedDeadLetters, NewDeadLetter } from '../types.js';
import { decodeDeadLetter, decodeToken, encodeDeadLetter, encodeToken } from './codec.js';
import type { StoreContext } from './support.js';
import { buildHeaders, directBatch, isNotFound, retryPublish } from './support.js';

/** Dead letters in their own stream, one subject per subscription; a letter's id is its sequence. */
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
  async add(letter: NewDeadLetter): Promise<DeadLetter> {
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
    return { ...letter, id: String(ack.seq) };
  }

  async list(
    subscription: string,
    limit: number,
    after?: string,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<DeadLetter[]> {
    const handles = await this.context.use();
    const subject = this.subject(subscription);
    const letters: DeadLetter[] = [];
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
        letters.push(letter);
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
  }

  async delete(subscription: string, ids: readonly string[]): Promise<void> {
    const { jsm } = await this.context.use();
    const stream = this.context.names.deadLetterStream;
    const subject = this.subject(subscription);
    await Promise.all(
      ids.map(async (id) => {
        const seq = Number(id);
        if (!Number.isSafeInteger(seq) || seq <= 0) return;
        try {
          const msg = await jsm.streams.getMessage(stream, { seq });
          if (msg?.subject !== subject) return;
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
      const trim = trimHeldLetters(subscription, await this.held(subscription), limits, now);
      if (trim.lastId === undefined) continue;
      // This subject's messages below the sequence, in one request.
      await jsm.streams.purge(stream, { filter: subject, seq: Number(trim.lastId) + 1 });
      dropped.push(...trim.dropped);
    }
    return dropped;
  }

  /** A subscription's letters, oldest first, as trimming weighs them. */
  private async held(subscription: string): Promise<HeldDeadLetter[]> {
    const held: HeldDeadLetter[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.list(subscription, 256, after);
      for (const letter of page) {
        held.push({ id: letter.id, deadLetteredAt: letter.deadLetteredAt, bytes: deadLetterBytes(letter) });
      }
      if (page.length < 256) return held;
      after = page[page.length - 1]?.id;
    }
  }
}
