import { setTimeout as sleep } from 'node:timers/promises';
import type { CloudEvent } from '../cloudevents/index.js';
import { traceIdOf, tracing } from '../observability/index.js';
import type { BrokerMetrics, Logger } from '../observability/index.js';
import { liveLetterKey, redrivenLetterKey } from '../store/index.js';
import type { DeadLetter, EventStore, StoredEvent } from '../store/index.js';
import type { RedriveSelection } from '../subscriptions/delivery-port.js';
import type { CompiledSubscription } from '../subscriptions/types.js';
import type { AttemptError } from './attempt-error.js';
import { classifyStatus } from './retry.js';
import type { AttemptGroup, SinkClient } from './sink-client.js';
import { buildDelivery } from './sink-client.js';

/** What dead-lettering needs from the dispatcher: the store that keeps dead letters and the transport. */
export interface DeadLetterHost {
  readonly store: EventStore;
  readonly client: SinkClient;
  readonly metrics: BrokerMetrics;
  readonly logger: Logger;
  /** Told after events were dead-lettered. */
  readonly onDeadLettered?: (() => void) | undefined;
  /** How often a redrive waiting for another replica's to end asks for the redrive claim again. */
  readonly claimRetryMs?: number;
}

const utf8 = new TextEncoder();

/** How long a redrive waiting for the redrive claim sleeps between two looks at whether it was stopped. */
const CLAIM_WAIT_SLICE_MS = 100;

/**
 * The store claim a redrive of `subscription` holds while it delivers: one replica at a time redrives a
 * subscription's letters. Not a subscription's own claim (the replica delivering it holds that one), and
 * no subscription id has a control character, so it never names one (Kafka's leases are keyed
 * `lease\0<key>\0<owner>`: a key with a NUL would read as another key's lease).
 */
export function redriveClaimKey(subscription: string): string {
  return `redrive\u0001${subscription}`;
}

/** A redrive claim this process holds, shared by the redrives of the subscription it runs (see `takeClaim`). */
interface HeldRedriveClaim {
  holders: number;
  /** The store's lease ran out or was taken: another replica may redrive the same letters from now on. */
  lost: boolean;
}

/**
 * The redrive claims held, by store and key. Two of a process's workers can redrive one subscription for a
 * moment (a retired worker's last letter, its replacement's first): the store's claim is one lease per
 * process, so they share it, and the last to end releases it.
 */
const heldRedriveClaims = new WeakMap<EventStore, Map<string, HeldRedriveClaim>>();

/**
 * The key a letter of `stored` is added with (the store contract's `NewDeadLetter.key`): while that letter
 * is held, the same refusal again is that letter, not a second one. A live delivery's letter is keyed by
 * the subscription's incarnation, the seek it was delivered after and the event's sequence: an event
 * refused, the broker killed before the cursor passed it (the dead-letter sink still answering, or an
 * earlier event unanswered), and refused again after the restart, was stored twice. A seek is an
 * operator's explicit replay: the event refused after it is a new letter (the bounds keep the newest).
 * A redriven letter refused again is keyed by the letter it replaces: that one is held until the new one
 * is stored, and a redrive of it again (after a crash in between) finds the new one. A letter deleted
 * (the API, a redrive, the bounds) frees its key.
 */
export function letterKeyOf(
  definition: { readonly incarnation?: string | undefined },
  stored: StoredEvent,
  origin: LetterOrigin,
): string {
  return 'redriven' in origin
    ? redrivenLetterKey(origin.redriven.id)
    : liveLetterKey(definition.incarnation, origin.seekEpoch, stored.sequence);
}

/** Where the events a letter is stored for came from: the log after the seek `seekEpoch`, or a redrive. */
export type LetterOrigin = { readonly seekEpoch: number } | { readonly redriven: DeadLetter };

/** How one redriven letter's delivery ended. */
export type RedriveOutcome = 'delivered' | 'deadlettered' | 'aborted';

/** Merged redrives waiting for the next pass over the store (see `DeadLetters.redrive`). */
interface PendingRedrive {
  through: number | undefined;
  readonly ids: Set<string>;
}

/**
 * One subscription's dead letters: stores the events its worker gave up on (and forwards them to the
 * dead-letter sink when one is set), hands them back out for a redrive, and counts those the store holds.
 */
export class DeadLetters {
  /** Dead letters the store holds for this subscription (the status' `deadLettered`). */
  count = 0;
  /**
   * The redrives asked for since the running pass began, merged: the next pass delivers them. Made by
   * the first redrive: most subscriptions never redrive, and a broker may hold thousands (bench (h)).
   */
  private pending: PendingRedrive | undefined;
  private draining: Promise<void> | undefined;

  constructor(
    private readonly compiled: CompiledSubscription,
    private readonly host: DeadLetterHost,
  ) {}

  private get id(): string {
    return this.compiled.definition.id;
  }

  /**
   * Stores `events` as dead letters after `attempts` attempts that ended in `error`. A store that fails
   * (disk full, a busy database, a distributed store's timeout) is tried again after `retryDelay`'s
   * wait for as long as it takes: the events stay in flight meanwhile, so the cursor never passes an
   * event that is neither delivered nor dead-lettered. False when `signal` aborted first (stop, seek).
   */
  async add(
    events: readonly StoredEvent[],
    error: AttemptError,
    attempts: number,
    signal: AbortSignal,
    retryDelay: (failures: number, cause: unknown) => number,
    /** The dead-letter sink's attempts end with the delivery's (a seek or stop does not wait for them). */
    group: AttemptGroup | undefined,
    /** What the letters are keyed with (see `letterKeyOf`). */
    origin: LetterOrigin,
  ): Promise<boolean> {
    const { store, metrics, logger } = this.host;
    const deadLetterSink = this.compiled.plan.deadLetterSink;
    for (const stored of events) {
      let existing = false;
      for (let failures = 1; ; failures++) {
        try {
          ({ existing = false } = await store.addDeadLetter({
            subscription: this.id,
            sequence: stored.sequence,
            event: stored.event,
            trace: stored.trace,
            error,
            attempts,
            deadLetteredAt: Date.now(),
            key: letterKeyOf(this.compiled.definition, stored, origin),
          }));
          break;
        } catch (cause) {
          metrics.deadLetterStoreFailures.inc();
          logger.error(
            { err: cause, subscription: this.id, sequence: stored.sequence, failures },
            'storing a dead letter failed; the event stays undelivered and is tried again',
          );
          try {
            await sleep(retryDelay(failures, cause), undefined, { signal });
          } catch {
            return false;
          }
        }
      }
      // Held already (refused again after a crash): counted when it was stored, or read at the start.
      if (!existing) this.count++;
      metrics.deliveries.inc({ outcome: 'deadlettered' });
      if (deadLetterSink !== undefined)
        await this.sendToDeadLetterSink(deadLetterSink, stored, error.code, error.message, group);
    }
    this.host.onDeadLettered?.();
    const traceId = traceIdOf(events[0]?.trace);
    logger.warn(
      { subscription: this.id, sequences: events.map((e) => e.sequence), error, trace_id: traceId },
      'dead-lettered',
    );
    return true;
  }

  /** Best effort: the dead-letter store already holds the event, so a failing dead-letter sink loses nothing. */
  private async sendToDeadLetterSink(
    url: string,
    stored: StoredEvent,
    code: string,
    detail: string,
    group: AttemptGroup | undefined,
  ): Promise<void> {
    const event: CloudEvent = {
      ...stored.event,
      attributes: {
        ...stored.event.attributes,
        heralderrorcode: code,
        heralderrordata: Buffer.from(utf8.encode(detail)).toString('base64'),
        heralderrordest: this.compiled.definition.sink,
      },
    };
    const { headers, body } = buildDelivery([{ ...stored, event }], 'binary', {});
    headers['herald-subscription'] = this.id;
    headers['herald-sequence'] = String(stored.sequence);
    for (let attempt = 1; attempt <= 3; attempt++) {
      headers['herald-attempt'] = String(attempt);
      // A delivery like the sink's: a span of the event's trace per attempt, whose context the
      // dead-letter sink receives (the stored one named the publisher's span, skipping Herald's hop).
      const span = tracing().delivery([stored], {
        subscription: this.id,
        sink: url,
        method: 'POST',
        attempt,
        contentMode: 'binary',
        deadLetterSink: true,
      });
      span.inject(headers);
      const response = await this.host.client.send({
        url,
        method: 'POST',
        headers,
        body,
        timeoutMs: this.compiled.plan.timeoutMs,
        ...(group === undefined ? {} : { group }),
      });
      span.end(response.status, response.failure, response.detail);
      if (classifyStatus(response.status) === 'delivered') return;
      if (group?.aborted === true) return;
      if (attempt < 3) await sleep(200 * attempt);
    }
    this.host.logger.error(
      { subscription: this.id, sequence: stored.sequence, deadLetterSink: url },
      'dead-letter sink failed',
    );
  }

  /** The event a dead letter holds, to deliver again; the letter stays in the store until it is settled. */
  eventOf(letter: DeadLetter): StoredEvent {
    return {
      sequence: letter.sequence,
      storedAt: letter.deadLetteredAt,
      event: letter.event,
      trace: letter.trace,
    };
  }

  /**
   * Redrives the letters `selection` names one at a time with `deliver`, in id order, under the store's
   * redrive claim (`redriveClaimKey`): one replica at a time redrives a subscription's letters. Each
   * letter is read from the store just before it is delivered, so memory holds one letter, not the
   * redrive's every letter, and one another replica's redrive settled (or the bounds removed) meanwhile
   * is passed over: two replicas asked for a redrive at once each listed the same letters, and each
   * delivered every one of them (and stored each refusal of it as a dead letter). A redrive asked for
   * while one runs is merged with any others into the next pass over the store, which finds the letters
   * the running pass settled gone: a letter named by several is delivered once, and a refusal stored
   * again during a pass has a newer id than any letter a redrive before it named. Resolves once no
   * redrive is left (or `stopped()`).
   */
  redrive(
    selection: RedriveSelection,
    deliver: (stored: StoredEvent, letter: DeadLetter) => Promise<RedriveOutcome>,
    stopped: () => boolean,
  ): Promise<void> {
    const pending = (this.pending ??= { through: undefined, ids: new Set() });
    if (selection.through !== undefined) {
      const through = Number(selection.through);
      if (pending.through === undefined || through > pending.through) pending.through = through;
    }
    for (const id of selection.ids ?? []) pending.ids.add(id);
    this.draining ??= this.drain(deliver, stopped).finally(() => (this.draining = undefined));
    return this.draining;
  }

  /** True while a redrive runs. */
  get redriving(): boolean {
    return this.draining !== undefined;
  }

  /**
   * Resolves once the running redrive ended (at once when none runs). Once its worker is stopped that is
   * as soon as the letter in flight ended, with its outcome settled or stored: the queue is dropped then.
   */
  whenIdle(): Promise<void> {
    return (this.draining ?? Promise.resolve()).catch(() => undefined);
  }

  private async drain(
    deliver: (stored: StoredEvent, letter: DeadLetter) => Promise<RedriveOutcome>,
    stopped: () => boolean,
  ): Promise<void> {
    // Again after the claim is released when a redrive was asked for meanwhile: it joined no pass.
    while (this.pending !== undefined) {
      const claim = await this.takeClaim(stopped);
      // Lost or stopped: the letters left stay in the store, for a later redrive (or a restart) to find.
      const going = (): boolean => claim !== undefined && !claim.lost && !stopped();
      try {
        for (let next: PendingRedrive | undefined = this.pending; next !== undefined && going();) {
          this.pending = undefined;
          await this.pass(next, deliver, going);
          next = this.pending;
        }
      } finally {
        if (!going()) this.pending = undefined;
        if (claim !== undefined) await this.releaseClaim(claim);
      }
    }
  }

  /** One pass over the store: the letters up to `through`, then those named after it, in id order. */
  private async pass(
    wanted: PendingRedrive,
    deliver: (stored: StoredEvent, letter: DeadLetter) => Promise<RedriveOutcome>,
    going: () => boolean,
  ): Promise<void> {
    const { through } = wanted;
    if (through !== undefined) {
      // One letter a read: the next one still stored, whoever settled or removed those before it.
      for (let after: string | undefined; going();) {
        const [letter] = await this.host.store.listDeadLetters(this.id, 1, after);
        if (letter === undefined || Number(letter.id) > through) break;
        after = letter.id;
        await this.redeliver(letter, deliver);
      }
    }
    const named = [...wanted.ids]
      .filter((id) => through === undefined || !(Number(id) <= through))
      .sort((a, b) => Number(a) - Number(b));
    for (const id of named) {
      if (!going()) return;
      const letter = await this.load(id);
      if (letter !== undefined) await this.redeliver(letter, deliver);
    }
  }

  /** Delivers a letter again; it stays in the store meanwhile: a broker killed mid-redrive still has it. */
  private async redeliver(
    letter: DeadLetter,
    deliver: (stored: StoredEvent, letter: DeadLetter) => Promise<RedriveOutcome>,
  ): Promise<void> {
    const outcome = await deliver(this.eventOf(letter), letter);
    if (outcome !== 'aborted') await this.settle(letter);
  }

  /**
   * Takes the subscription's redrive claim (shared with a redrive of this process holding it already),
   * waiting while another replica holds it; undefined once `stopped()` says so first.
   */
  private async takeClaim(stopped: () => boolean): Promise<HeldRedriveClaim | undefined> {
    const { store } = this.host;
    const key = redriveClaimKey(this.id);
    let mine = heldRedriveClaims.get(store);
    if (mine === undefined) heldRedriveClaims.set(store, (mine = new Map()));
    const held = mine;
    // Marks whichever claim is held when the lease ends: the store keeps one callback per key.
    const onLost = (): void => {
      const claim = held.get(key);
      if (claim === undefined) return;
      claim.lost = true;
      held.delete(key);
      this.host.logger.warn(
        { subscription: this.id },
        'lost the redrive claim; the letters left stay dead letters',
      );
    };
    const waitMs = this.host.claimRetryMs ?? 2_000;
    let waiting = false;
    for (;;) {
      const shared = held.get(key);
      if (shared !== undefined) {
        shared.holders++;
        return shared;
      }
      if (stopped()) return undefined;
      if (await store.claim(key, onLost)) {
        const claim = held.get(key) ?? { holders: 0, lost: false };
        held.set(key, claim);
        claim.holders++;
        return claim;
      }
      // Another replica redrives this subscription: its letters are settled by the time this one goes on.
      if (!waiting) {
        waiting = true;
        this.host.logger.info(
          { subscription: this.id },
          'another replica is redriving this subscription; this redrive waits for it to end',
        );
      }
      for (let waited = 0; waited < waitMs && !stopped(); waited += CLAIM_WAIT_SLICE_MS)
        await sleep(Math.min(CLAIM_WAIT_SLICE_MS, waitMs - waited));
    }
  }

  private async releaseClaim(claim: HeldRedriveClaim): Promise<void> {
    const key = redriveClaimKey(this.id);
    const held = heldRedriveClaims.get(this.host.store);
    claim.holders--;
    // Lost (and perhaps taken again since), or still used by another redrive here: not this one's to give up.
    if (claim.holders > 0 || held?.get(key) !== claim) return;
    held.delete(key);
    await this.host.store.release(key).catch(() => undefined);
  }

  /** The letter `id` while the store still holds it (dead-letter ids order as their numeric value). */
  private async load(id: string): Promise<DeadLetter | undefined> {
    const n = Number(id);
    if (!Number.isSafeInteger(n) || n < 0) return undefined;
    const [first] = await this.host.store.listDeadLetters(this.id, 1, n > 0 ? String(n - 1) : undefined);
    return first?.id === id ? first : undefined;
  }

  /**
   * Removes a redriven dead letter once its redrive ended: delivered, or dead-lettered again (`add` has
   * then stored the new attempt first, so a crash between the two leaves the event twice, never zero times).
   */
  private async settle(letter: DeadLetter): Promise<void> {
    await this.host.store.deleteDeadLetters(this.id, [letter.id]);
    // Read back, not decremented: the bounds' sweep may have removed this letter already (and
    // subtracted it), and a letter dead-lettered again was counted when it was stored.
    this.count = await this.host.store.countDeadLetters(this.id);
  }
}
