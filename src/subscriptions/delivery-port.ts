import type { DeadLetter } from '../store/index.js';
import type { CompiledSubscription, SubscriptionStatus } from './types.js';

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
  /** Replays from `next` on the local worker, after any change under way; nothing when none is local. */
  seek(id: string, next: number): Promise<void>;
  redrive(compiled: CompiledSubscription, letters: readonly DeadLetter[]): Promise<void>;
  /** True when this process delivers the subscription (with several replicas, one does). */
  isLocal(id: string): boolean;
}
