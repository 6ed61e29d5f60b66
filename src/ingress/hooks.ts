import type { CloudEvent } from '../cloudevents/index.js';

/**
 * What ingress lets other capabilities see of a publish, without their code living in ingress
 * (the event type registry implements it). Ingress owns the interface; implementations must be
 * cheap and synchronous.
 */
export interface IngressHook {
  /**
   * Called with a request's parsed, valid events before anything is stored. Throwing a HeraldError
   * rejects the whole request (nothing stored); throw only for a rule the publisher broke.
   */
  check?(events: readonly CloudEvent[]): void;
  /**
   * Called after the events were durably appended (duplicates left out), before the 202 is sent.
   * Must not throw or wait: anything slow happens later, off the request's path. Ingress ignores
   * whatever it throws, so a broken hook never fails a publish.
   */
  accepted?(events: readonly CloudEvent[]): void;
}
