import { z } from 'zod';

/**
 * A declared event type: what an `EventType` resource's spec (Kubernetes mode) or an entry of
 * `--event-types-file` says. Without `source` it covers the type from every source.
 */
export const declaredEventTypeSchema = z.strictObject({
  type: z.string().min(1),
  source: z.string().min(1).optional(),
  description: z.string().optional(),
  /** A JSON Schema (draft-07, or 2020-12 when its `$schema` says so) for the event's `data`. */
  schema: z.record(z.string(), z.unknown()).optional(),
  /** `enforce`: ingress rejects events of this type whose data does not match `schema`. */
  validation: z.enum(['off', 'enforce']).optional(),
});
export type DeclaredEventType = z.infer<typeof declaredEventTypeSchema>;

/** A (type, source) pair seen on publish. Times are epoch milliseconds. */
export interface SeenEventType {
  readonly type: string;
  readonly source: string;
  firstSeen: number;
  lastSeen: number;
  count: number;
}

/** One entry of `GET /eventtypes` (architecture §11). */
export interface EventTypeView {
  readonly type: string;
  readonly source?: string;
  readonly description?: string;
  readonly schema?: Record<string, unknown>;
  readonly validation?: 'off' | 'enforce';
  readonly firstSeen: string | null;
  readonly lastSeen: string | null;
  readonly count: number;
}

/** Where the registry keeps what it learned, and where declarations come from. */
export interface EventTypeBackend {
  /**
   * Loads what was persisted and starts following declarations. May fail (the backing store is
   * away): the registry keeps working in memory and calls it again later.
   */
  start(receiver: BackendReceiver): Promise<void>;
  /** Persists new or changed seen types. Rejects when the backing store fails; retried later. */
  write(types: readonly SeenEventType[]): Promise<void>;
  /** True when each written type costs a request (so `--event-types-rate` paces them). */
  readonly paced: boolean;
  /**
   * False while the declarations are not known yet because they are read from a store that may refuse
   * (Kubernetes: the EventType resources before their first list); absent when they are known from the
   * start (the file). Until then the registry cannot tell an enforced type from an undeclared one, so
   * publishes answer 503 rather than pass unchecked.
   */
  readonly declarationsRead?: boolean;
  stop(): void;
}

export interface BackendReceiver {
  /**
   * Seen types persisted by an earlier run (counts add to what this run saw meanwhile). Returns those
   * kept: one over `--event-types-max-length` or past `--event-types-max` is not, and a backend that
   * rewrites what it holds (the file) should forget it.
   */
  restore(types: readonly SeenEventType[]): readonly SeenEventType[];
  /** Told when what the backend persisted cannot be read and was set aside (the broker logs it). */
  unreadable(detail: string): void;
  /** Sets or replaces one declaration, under a key the backend chooses; `undefined` removes it. */
  declare(key: string, declared: DeclaredEventType | undefined): void;
}

export const typeKey = (type: string, source: string): string => `${type}\u0000${source}`;
