import type { CloudEvent } from '../cloudevents/index.js';

/**
 * Trace context captured at ingress (`traceparent`, `tracestate`, B3, `x-request-id`) and forwarded on
 * delivery. Kept beside the event, never inside it: it is hop metadata, not a CloudEvents attribute.
 */
export type TraceHeaders = Readonly<Record<string, string>>;

export interface AppendInput {
  readonly event: CloudEvent;
  readonly trace?: TraceHeaders | undefined;
  /**
   * The authenticated principal that published the event; undefined or empty when anonymous
   * (`--auth none`, or no credentials). Part of the dedupe key, so that one principal publishing a
   * (`source`, `id`) never makes another principal's event with the same pair a duplicate.
   */
  readonly principal?: string | undefined;
}

export interface AppendOutcome {
  /** The event's sequence; for a duplicate, the sequence of the copy already stored. */
  readonly sequence: number;
  /**
   * True when (`source`, `id`) was already accepted from the same publishing principal within the
   * dedupe window, and nothing was stored.
   */
  readonly duplicate: boolean;
}

export interface StoredEvent {
  readonly sequence: number;
  /** When the store accepted the event (ms since epoch); non-decreasing with the sequence. */
  readonly storedAt: number;
  readonly event: CloudEvent;
  readonly trace: TraceHeaders | undefined;
}

export interface LogStats {
  /** Lowest retained sequence, or `last + 1` when the log is empty. */
  readonly first: number;
  /** Highest sequence ever assigned (0 before the first append); survives retention. */
  readonly last: number;
  readonly events: number;
  readonly bytes: number;
}

export interface DeadLetter {
  /** Store-assigned id of the dead-letter record (unique per subscription). */
  readonly id: string;
  readonly subscription: string;
  readonly sequence: number;
  readonly event: CloudEvent;
  readonly trace: TraceHeaders | undefined;
  readonly error: { readonly code: string; readonly message: string; readonly status?: number | undefined };
  readonly attempts: number;
  readonly deadLetteredAt: number;
}

export type NewDeadLetter = Omit<DeadLetter, 'id'> & {
  /**
   * What makes two adds the same letter (see `letterKeyOf` in src/dispatch/dead-lettering.ts): while a
   * letter of the subscription added with this key is held, an add with it stores nothing and returns
   * that letter. An event refused, the broker killed before its cursor passed it, and refused again
   * after the restart is then one letter, not two. Once the letter is gone (deleted, redriven, trimmed)
   * the key is free again. Without a key every add is a new letter (as letters stored before keys were).
   */
  readonly key?: string | undefined;
};

/** What `addDeadLetter` answers: the letter held, and whether it was held already (an add with its key). */
export type AddedDeadLetter = DeadLetter & { readonly existing?: boolean };

/** How many dead letters a store keeps per subscription (`--dead-letter-max-*`); 0 = no limit of that kind. */
export interface DeadLetterLimits {
  /** Most letters kept per subscription. */
  readonly maxLetters: number;
  /** Most bytes kept per subscription, counted as `deadLetterBytes` counts them. */
  readonly maxBytes: number;
  /** Letters dead-lettered longer ago than this (ms) are removed. */
  readonly maxAgeMs: number;
}

/** Which limit removed a letter: the first that applies, in this order. */
export type DeadLetterDropReason = 'max-age' | 'max-letters' | 'max-bytes';

/** Letters one trim removed from one subscription for one reason. */
export interface DroppedDeadLetters {
  readonly subscription: string;
  readonly reason: DeadLetterDropReason;
  readonly letters: number;
  readonly bytes: number;
}

/** A subscription definition as the store keeps it: an opaque JSON document under its id. */
export interface SubscriptionRecord {
  readonly id: string;
  readonly document: string;
}

/**
 * The one contract every event store adapter implements (embedded SQLite, NATS JetStream, …). The
 * shared conformance suite in `./testing/conformance.ts` defines its behaviour; every adapter runs it.
 *
 * @remarks Not in the contract: connections, transactions, threads, or how sequences are produced.
 * Adapters own their connections. Filtering and delivery live above the store.
 */
export interface EventStore {
  /** Adapter name, e.g. `embedded`. */
  readonly kind: string;

  /**
   * Appends atomically and durably: when the promise resolves, every event is stored (or recognised
   * as a duplicate) and survives a crash of this process; when it rejects, none is stored.
   * Sequences are strictly increasing in log order.
   */
  append(inputs: readonly AppendInput[]): Promise<AppendOutcome[]>;

  /**
   * Events with `sequence >= from`, in sequence order, at most `limit`. Empty only when the log holds
   * no event at or after `from`: a subscription catching up takes an empty page for the log's end and
   * moves on to the shared tail. A distributed store whose replica or new leader answers from behind an
   * end this process has seen waits for it or fails `HERALD_STORE_UNAVAILABLE`; it never answers short
   * with nothing.
   */
  read(from: number, limit: number): Promise<StoredEvent[]>;

  /** Resolves once an event with a sequence above `after` exists, or when `signal` aborts. */
  waitForAppend(after: number, signal?: AbortSignal): Promise<void>;

  stats(): Promise<LogStats>;

  /** The first retained sequence whose `storedAt` is at or after `time`; `last + 1` when none is. */
  sequenceAt(time: number): Promise<number>;

  /** Cursor = the next sequence a subscription has to look at; committed after acknowledgement. */
  getCursor(subscription: string): Promise<number | undefined>;
  /**
   * Sets the cursor as given, whoever holds the claim: a seek (which may move it back, and is made on any
   * replica), the first cursor of a subscription.
   */
  commitCursor(subscription: string, next: number): Promise<void>;
  /**
   * The claim holder's commits, several at once (one write for many subscriptions). A cursor already
   * stored is written only while this process holds the claim on its subscription (`subscription` is a
   * cursor key: the claim is that of its id, see `claimIdsOfCursor`), judged by the store, not by what
   * this process last heard: a replica that lost its claim without noticing yet (it stalled past its
   * lease) must not write its old position over the new holder's, moving the cursor back. Such a commit
   * is dropped, not an error. A cursor not stored yet is written (a subscription being created).
   */
  commitCursors(cursors: ReadonlyArray<readonly [subscription: string, next: number]>): Promise<void>;
  deleteCursor(subscription: string): Promise<void>;

  addDeadLetter(letter: NewDeadLetter): Promise<AddedDeadLetter>;
  /**
   * Dead letters in id order, at most `limit`; with `after`, only those after that id (to page
   * through them). Ids of one subscription order as their numeric value. With `maxBytes`, the list ends
   * with the first letter at which their bytes (as `deadLetterBytes` counts them) exceed it, so a list
   * holds at least one letter and about `maxBytes` of them however large `limit` is: letters of up to
   * `--max-event-size` each, `limit` of them at once, are what a page of 10,000 held in memory.
   */
  listDeadLetters(
    subscription: string,
    limit: number,
    after?: string,
    maxBytes?: number,
  ): Promise<DeadLetter[]>;
  countDeadLetters(subscription: string): Promise<number>;
  /** Deleting an id that is not (or no longer) there is not an error: it deletes nothing. */
  deleteDeadLetters(subscription: string, ids: readonly string[]): Promise<void>;
  /**
   * Deletes every dead letter of `subscription` (one deleted), without reading their events: a store may
   * hold hundreds of thousands (`--dead-letter-max-letters 0`), each with up to `--max-event-size` of
   * data, which listed at once to learn their ids would all be in memory together. Bounded work per step,
   * the event loop free between steps. None there is not an error.
   */
  deleteAllDeadLetters(subscription: string): Promise<void>;
  /**
   * Removes, for every subscription, the oldest dead letters (in id order) until what is left is within
   * `limits`: each letter dead-lettered before `now - maxAgeMs`, then those beyond the newest
   * `maxLetters`, then the oldest until the rest hold at most `maxBytes`. Only a prefix of a
   * subscription's letters is ever removed. Returns what it removed, by subscription and reason.
   */
  trimDeadLetters(limits: DeadLetterLimits, now: number): Promise<DroppedDeadLetters[]>;

  putSubscription(record: SubscriptionRecord): Promise<void>;
  /**
   * Stores several definitions, and the initial cursors of new ones, in one write: one transaction
   * where the engine has them (embedded), so that a request creating many subscriptions costs one
   * commit, not two per subscription. Cursors are never written after the definitions they belong to.
   */
  putSubscriptions(
    records: readonly SubscriptionRecord[],
    cursors?: ReadonlyArray<readonly [subscription: string, next: number]>,
  ): Promise<void>;
  /**
   * Replaces the definition stored under `record.id` only while one is, and one that `stillThis`
   * accepts (given the stored document; by default any): answers false, and writes nothing, when there
   * is none (never stored, or deleted, possibly by another process this one has not heard from yet) or
   * `stillThis` refuses it (deleted and created again meanwhile: another subscription under the same
   * id). A change of an existing subscription uses this, never `putSubscription`: an unconditional write
   * would bring a subscription another replica deleted meanwhile back to every replica, without its
   * cursor, or overwrite the one created again in its place.
   */
  replaceSubscription(record: SubscriptionRecord, stillThis?: (stored: string) => boolean): Promise<boolean>;
  deleteSubscription(id: string): Promise<boolean>;
  listSubscriptions(): Promise<SubscriptionRecord[]>;

  /**
   * Claims the exclusive right to deliver `subscription` from this broker process. A single-process
   * store always grants it. A distributed store grants it to one live replica at a time and keeps
   * renewing it; if a renewal fails it calls `onLost` (another replica may then take over from the
   * committed cursor), so the caller must stop delivering without committing further.
   */
  claim(subscription: string, onLost: () => void): Promise<boolean>;
  /**
   * True while this process still holds its claim on `subscription` by its own clock (a single-process
   * store: always). Asked before acting on a sink's answer, which a process woken from a stall reads
   * before the timer that would have found its claim ran out; false calls `onLost` first.
   */
  holdsClaim(subscription: string): boolean;
  release(subscription: string): Promise<void>;

  /**
   * Calls `listener` when another process changes a subscription definition (distributed stores;
   * a single-process store never calls it). Returns a function that stops listening.
   */
  watchSubscriptions(listener: (id: string, record: SubscriptionRecord | undefined) => void): () => void;
  /**
   * Resolves once every change of a definition acknowledged to any process before the call has been
   * reported to this process's `watchSubscriptions` listeners (its own writes aside, which it knows): what
   * the listeners heard is then at least as current as the store was at the call. Subscription limits
   * count the definitions of every replica by it. A single-process store resolves at once.
   */
  syncSubscriptions(): Promise<void>;

  /** True while the store can accept appends. */
  isReady(): boolean;

  /**
   * Why the store is not ready, while it is not (a distributed store; others may leave it out): shown
   * by `/readyz`, logged when it changes and counted in `herald_store_not_ready{cause}`.
   */
  notReadyReason?(): StoreNotReady | undefined;

  /** Flushes pending work and releases resources; later calls reject. */
  close(): Promise<void>;
}

export interface RetentionPolicy {
  /** Milliseconds; 0 = unlimited. */
  readonly maxAgeMs: number;
  /** 0 = unlimited. */
  readonly maxEvents: number;
  /** 0 = unlimited. */
  readonly maxBytes: number;
}

/** Why a store does not accept appends. `detail` never holds a credential. */
export interface StoreNotReady {
  /** A short stable token, e.g. `nats-unreachable`, `nats-authorization`, `stream-replicas`. */
  readonly cause: string;
  /** One sentence for people: what failed and what to check. */
  readonly detail: string;
}
