import type { CompiledSubscription, SubscriptionStatus } from './types.js';

/**
 * The dead letters a redrive asks for, by id, never the letters themselves: every letter up to `through`
 * (a redrive of all: the last letter there was when it was asked for) and those named in `ids`. Handed
 * over with their events, a redrive of all held every letter in memory until the last was delivered
 * (10,000 letters of 64 KiB: over half a GiB; any number with `--dead-letter-max-letters 0`).
 */
export interface RedriveSelection {
  readonly through?: string | undefined;
  readonly ids?: readonly string[] | undefined;
}

/**
 * What the subscription service needs from whatever delivers subscriptions. The subscriptions module
 * owns this contract so that it depends on nothing above it; the dispatcher implements it.
 */
export interface DeliveryControl {
  /** Starts (or restarts with a new definition) delivery of a subscription from `initialCursor`. */
  add(compiled: CompiledSubscription, initialCursor: number): Promise<void>;
  /** Stops delivery; `forget` also drops its local state. */
  remove(id: string, forget: boolean): Promise<void>;
  /**
   * Pauses or resumes the local worker of a subscription, after any change of it still under way (a
   * worker being replaced would otherwise miss it).
   */
  setPaused(id: string, paused: boolean): Promise<void>;
  status(id: string): SubscriptionStatus | undefined;
  /**
   * Replays from `next` on the local worker, after any change under way; nothing when none is local.
   * `epoch` is the seek's (`SubscriptionDefinition.seek`): what the worker's letters are keyed with from then on.
   */
  seek(id: string, next: number, epoch: number): Promise<void>;
  /** Redrives the letters `selection` names, a letter at a time (resolves once they are settled). */
  redrive(compiled: CompiledSubscription, selection: RedriveSelection): Promise<void>;
  /** True when this process delivers the subscription (with several replicas, one does). */
  isLocal(id: string): boolean;
}
