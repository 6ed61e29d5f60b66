import { INDEXED_ATTRIBUTES } from '../filters/index.js';
import type { IndexedAttribute } from '../filters/index.js';
import type { SubscriptionWorker } from './worker.js';

/**
 * The shared tail's candidates for an event: workers by the exact `type`/`source`/`subject` value their
 * filter requires, so an event costs work only for subscriptions that can match it, plus the workers
 * whose filter requires none (`unindexed`).
 */
export class SubscriptionIndex {
  private readonly byAttribute = new Map<IndexedAttribute, Map<string, Set<SubscriptionWorker>>>(
    INDEXED_ATTRIBUTES.map((attribute) => [attribute, new Map()]),
  );
  readonly unindexed = new Set<SubscriptionWorker>();

  /** The workers requiring `value` of `attribute`, or undefined when none does. */
  bucket(attribute: IndexedAttribute, value: string): Set<SubscriptionWorker> | undefined {
    return this.byAttribute.get(attribute)?.get(value);
  }

  /** True when some worker requires an attribute value (else the tail looks none up). */
  hasIndexed(): boolean {
    for (const byValue of this.byAttribute.values()) if (byValue.size > 0) return true;
    return false;
  }

  /** Adds (`add`) or removes a worker under each value its filter requires. */
  update(worker: SubscriptionWorker, add: boolean): void {
    const required = worker.compiled.filter.required;
    if (required === undefined) {
      if (add) this.unindexed.add(worker);
      else this.unindexed.delete(worker);
      return;
    }
    const byValue = this.byAttribute.get(required.attribute) as Map<string, Set<SubscriptionWorker>>;
    for (const value of required.values) {
      let bucket = byValue.get(value);
      if (add) {
        if (bucket === undefined) byValue.set(value, (bucket = new Set()));
        bucket.add(worker);
      } else if (bucket !== undefined) {
        bucket.delete(worker);
        if (bucket.size === 0) byValue.delete(value);
      }
    }
  }

  /** Every worker that can match an event with these attributes: its buckets' and the unindexed ones. */
  candidates(attributes: Readonly<Record<string, unknown>>): Set<SubscriptionWorker> {
    const candidates = new Set<SubscriptionWorker>();
    for (const attribute of INDEXED_ATTRIBUTES) {
      const value = attributes[attribute];
      if (typeof value !== 'string') continue;
      const bucket = this.bucket(attribute, value);
      if (bucket !== undefined) for (const worker of bucket) candidates.add(worker);
    }
    for (const worker of this.unindexed) candidates.add(worker);
    return candidates;
  }
}
