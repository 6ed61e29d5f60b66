import type { CompiledFilter } from '../filters/index.js';

export type StartPosition = 'latest' | 'earliest' | { readonly sequence: number } | { readonly time: string };

export const ORDERINGS = ['none', 'strict', 'partitionkey'] as const;
export type Ordering = (typeof ORDERINGS)[number];
export const CONTENT_MODES = ['binary', 'structured', 'batch'] as const;
export type ContentMode = (typeof CONTENT_MODES)[number];

/** Delivery settings in Knative's vocabulary (durations are ISO 8601, e.g. `PT0.5S`). */
export interface DeliverySpec {
  /** Attempts after the first. */
  readonly retry: number;
  readonly backoffPolicy: 'exponential' | 'linear';
  readonly backoffDelay: string;
  readonly backoffMax: string;
  /** Fraction (0–1) by which each backoff delay is randomly spread. */
  readonly jitter: number;
  /** Per attempt. */
  readonly timeout: string;
  readonly deadLetterSink?: string;
  readonly maxInFlight: number;
  /** Events per second; absent = unlimited. */
  readonly rateLimit?: number;
  readonly ordering: Ordering;
  readonly contentMode: ContentMode;
  readonly batch: { readonly maxEvents: number; readonly maxWait: string };
}

export interface ProtocolSettings {
  readonly headers?: Readonly<Record<string, string>>;
  readonly method?: string;
}

/** How a subscription came to exist; seed subscriptions keep the original request for their view. */
export type SubscriptionOrigin = 'api' | 'seed' | 'kubernetes';

export interface SeedView {
  readonly group: string;
  readonly subject?: string;
  readonly type?: string;
  readonly source?: string;
  readonly channel?: string;
  readonly subscribers: readonly string[];
}

/** A subscription definition as stored (the registry's unit). */
export interface SubscriptionDefinition {
  readonly id: string;
  readonly source?: string;
  readonly types?: readonly string[];
  readonly config?: Readonly<Record<string, string>>;
  readonly filters?: readonly unknown[];
  readonly sink: string;
  readonly sinkcredential?: Readonly<Record<string, unknown>>;
  readonly protocol: 'HTTP';
  readonly protocolsettings?: ProtocolSettings;
  readonly delivery: DeliverySpec;
  readonly startAt: StartPosition;
  readonly paused: boolean;
  readonly origin: SubscriptionOrigin;
  readonly seed?: SeedView;
  readonly createdAt: string;
  /**
   * Which life of the id this is: made when the subscription is created and kept when it is replaced, so
   * a subscription deleted and created again under the same id (a re-created Subscription resource, a PUT
   * after a DELETE) is a new incarnation. Its cursor is stored under `cursorKeyOf` it, so a cursor its
   * predecessor left behind (a replica that had not heard of the delete committing on its way out) is
   * never where the new one starts. Absent in definitions stored before it existed: their cursor key is
   * the id, as then.
   */
  readonly incarnation?: string;
  /**
   * The last seek, kept in the definition so that whichever replica delivers the subscription applies
   * it: a new `epoch` means "restart from `next`".
   */
  readonly seek?: { readonly next: number; readonly epoch: number };
  /** The principal that created it (absent: created without authentication, or declared as a resource). */
  readonly owner?: string;
}

/** Delivery settings with durations in milliseconds, ready for the dispatcher. */
export interface DeliveryPlan {
  readonly retry: number;
  readonly backoffPolicy: 'exponential' | 'linear';
  readonly backoffDelayMs: number;
  readonly backoffMaxMs: number;
  readonly jitter: number;
  readonly timeoutMs: number;
  readonly deadLetterSink: string | undefined;
  readonly maxInFlight: number;
  readonly rateLimit: number | undefined;
  readonly ordering: Ordering;
  readonly contentMode: ContentMode;
  readonly batchMaxEvents: number;
  readonly batchMaxWaitMs: number;
}

/** A definition compiled for dispatch: its matcher, index hint and delivery plan. */
export interface CompiledSubscription {
  readonly definition: SubscriptionDefinition;
  readonly filter: CompiledFilter;
  readonly plan: DeliveryPlan;
}

export interface SubscriptionStatus {
  /** `invalid`: stored, but not valid within this broker's limits; not delivered (`lastError` says why). */
  readonly state: 'active' | 'paused' | 'failing' | 'validating' | 'invalid';
  readonly cursor: number;
  readonly lag: number;
  readonly lastDeliveredAt: string | null;
  readonly lastError: {
    readonly code: string;
    readonly message: string;
    readonly status?: number;
    readonly at: string;
  } | null;
  readonly deadLettered: number;
}
