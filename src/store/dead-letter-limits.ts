import type { DeadLetter, DeadLetterDropReason, DeadLetterLimits, DroppedDeadLetters } from './types.js';

const utf8 = new TextEncoder();

/**
 * What a dead letter weighs against `--dead-letter-max-bytes`: its event's data plus its attributes as
 * JSON, in bytes. Every store counts it the same way (the embedded store in SQL, from the same columns).
 */
export function deadLetterBytes(letter: Pick<DeadLetter, 'event'>): number {
  return (
    (letter.event.data?.byteLength ?? 0) + utf8.encode(JSON.stringify(letter.event.attributes)).byteLength
  );
}

/** What trimming needs to know of one held letter. */
export interface HeldDeadLetter {
  readonly id: string;
  readonly deadLetteredAt: number;
  readonly bytes: number;
}

/** The letters of one subscription that `limits` remove: always its oldest ones. */
export interface DeadLetterTrim {
  /** How many of the letters, from the oldest, go. */
  readonly count: number;
  /** The id of the newest letter that goes (undefined when none does). */
  readonly lastId: string | undefined;
  readonly dropped: DroppedDeadLetters[];
}

/**
 * Applies `limits` to one subscription's letters, `held` in id order (oldest first): the oldest go while
 * older than `maxAgeMs`, beyond the newest `maxLetters`, or while the rest weigh more than `maxBytes`.
 * Each letter removed is attributed to the first of those reasons that removes it.
 */
export function trimHeldLetters(
  subscription: string,
  held: readonly HeldDeadLetter[],
  limits: DeadLetterLimits,
  now: number,
): DeadLetterTrim {
  let byAge = 0;
  if (limits.maxAgeMs > 0) {
    const cutoff = now - limits.maxAgeMs;
    while (byAge < held.length && (held[byAge] as HeldDeadLetter).deadLetteredAt < cutoff) byAge++;
  }
  const byCount = limits.maxLetters > 0 ? Math.max(0, held.length - limits.maxLetters) : 0;
  let byBytes = 0;
  if (limits.maxBytes > 0) {
    let rest = held.reduce((sum, letter) => sum + letter.bytes, 0);
    while (byBytes < held.length && rest > limits.maxBytes) {
      rest -= (held[byBytes] as HeldDeadLetter).bytes;
      byBytes++;
    }
  }
  const count = Math.max(byAge, byCount, byBytes);
  const totals = new Map<DeadLetterDropReason, { letters: number; bytes: number }>();
  for (let i = 0; i < count; i++) {
    const reason: DeadLetterDropReason = i < byAge ? 'max-age' : i < byCount ? 'max-letters' : 'max-bytes';
    const total = totals.get(reason) ?? { letters: 0, bytes: 0 };
    total.letters++;
    total.bytes += (held[i] as HeldDeadLetter).bytes;
    totals.set(reason, total);
  }
  return {
    count,
    lastId: count === 0 ? undefined : held[count - 1]?.id,
    dropped: [...totals].map(([reason, total]) => ({ subscription, reason, ...total })),
  };
}
