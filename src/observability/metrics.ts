import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the per-subscription gauges read from a subscription's status. */
export interface SubscriptionGaugeSource {
  readonly state: string;
  readonly lag: number;
  readonly deadLettered: number;
}

/** Prometheus metrics of one broker process, on a registry of its own (never the global one). */
export class BrokerMetrics {
  readonly registry = new Registry();
  readonly accepted = new Counter({
    name: 'herald_events_accepted_total',
    help: 'Events acknowledged with 202 and stored',
    registers: [this.registry],
  });
  readonly duplicates = new Counter({
    name: 'herald_events_duplicate_total',
    help: 'Events acknowledged but not stored again because (source, id) was seen within the dedupe window',
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'herald_requests_rejected_total',
    help: 'Requests rejected, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly appendSeconds = new Histogram({
    name: 'herald_append_duration_seconds',
    help: 'Time from append request to durable commit',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly logEvents = new Gauge({
    name: 'herald_log_events',
    help: 'Events retained in the log',
    registers: [this.registry],
  });
  readonly logBytes = new Gauge({
    name: 'herald_log_bytes',
    help: 'Bytes of events retained in the log',
    registers: [this.registry],
  });
  readonly logLastSequence = new Gauge({
    name: 'herald_log_last_sequence',
    help: 'Highest sequence assigned',
    registers: [this.registry],
  });
  readonly deliveries = new Counter({
    name: 'herald_deliveries_total',
    help: 'Events by delivery outcome: delivered, retried (each event of a failed attempt that is retried), deadlettered',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly deadLettersDropped = new Counter({
    name: 'herald_dead_letters_dropped_total',
    help: 'Dead letters removed because their subscription held more than a --dead-letter-max-* limit allows, by reason (max-age, max-letters, max-bytes)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly deliverySeconds = new Histogram({
    name: 'herald_delivery_duration_seconds',
    help: 'Duration of one delivery attempt to a sink',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly logReads = new Counter({
    name: 'herald_log_reads_total',
    help: 'Reads of the log by the dispatcher: the shared tail (all caught-up subscriptions) or one subscription catching up',
    labelNames: ['reader'] as const,
    registers: [this.registry],
  });
  readonly filterEvaluations = new Counter({
    name: 'herald_filter_evaluations_total',
    help: 'Subscription filter evaluations (indexed exact filters skip subscriptions that cannot match)',
    registers: [this.registry],
  });
  readonly filterDataParses = new Counter({
    name: 'herald_filter_data_parses_total',
    help: 'Event data parsed for `data` filters (at most once per event, however many subscriptions filter on data)',
    registers: [this.registry],
  });
  readonly eventTypes = new Gauge({
    name: 'herald_event_types',
    help: 'Distinct (type, source) pairs in the event type registry',
    registers: [this.registry],
  });
  readonly eventTypesDropped = new Counter({
    name: 'herald_event_types_dropped_total',
    help: 'Events of new types not registered, by reason (limit: --event-types-max reached; too-long: type or source over --event-types-max-length)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly eventTypeWritesPending = new Gauge({
    name: 'herald_event_type_writes_pending',
    help: 'Event types waiting to be written (held back by --event-types-rate or a failing backing store)',
    registers: [this.registry],
  });
  readonly eventTypeWrites = new Counter({
    name: 'herald_event_type_writes_total',
    help: 'Writes of the event type registry to its backing store (EventType resources in Kubernetes mode), by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly eventTypeSchemaErrors = new Counter({
    name: 'herald_event_type_schema_errors_total',
    help: 'Declared JSON Schemas that cannot validate, by reason (invalid: does not compile or a pattern is not RE2 syntax, and recursive: refers to itself without descending into the data, both counted per declaration and not enforced; overflow: an event the schema recursed on for ever, refused)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly authFailures = new Counter({
    name: 'herald_auth_failures_total',
    help: 'Requests refused by authentication, by reason (missing, malformed, invalid, oversized, backend, busy)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly authzDenials = new Counter({
    name: 'herald_authz_denials_total',
    help: 'Requests refused by authorization, by action (publish, subscribe, read, admin, origin, host, owner; unlisted: a route without a rule)',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });
  readonly streamAuthEnds = new Counter({
    name: 'herald_stream_auth_ends_total',
    help: 'Open GET /events/stream responses ended because their credential expired or a re-check refused it, by reason (expired, revoked)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly subscriptionLimitHits = new Counter({
    name: 'herald_subscription_limit_total',
    help: 'Subscription creations refused by --max-subscriptions',
    registers: [this.registry],
  });
  readonly limitRejections = new Counter({
    name: 'herald_limit_rejections_total',
    help: 'Requests, connections or evaluations refused or cut short by a configured limit, by limit (the flag name)',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });
  readonly filterBudgetExceeded = new Counter({
    name: 'herald_filter_budget_exceeded_total',
    help: 'Filter evaluations stopped by --filter-eval-budget (the event counts as not matching), by where (subscription, log-read)',
    labelNames: ['where'] as const,
    registers: [this.registry],
  });

  readonly sinkGuardRefusals = new Counter({
    name: 'herald_sink_guard_refusals_total',
    help: 'Sinks refused by --sink-deny/--sink-allow, at create time (API, seed routes) or when connecting',
    labelNames: ['stage'] as const,
    registers: [this.registry],
  });
  readonly sinkHandshakeFailures = new Counter({
    name: 'herald_sink_handshake_failures_total',
    help: 'Web Hook validation handshakes (--sink-handshake required) that did not get consent',
    registers: [this.registry],
  });
  readonly sinkResponsesTruncated = new Counter({
    name: 'herald_sink_responses_truncated_total',
    help: 'Sink answers longer than --sink-response-limit: the rest was not read and the connection dropped',
    registers: [this.registry],
  });
  readonly sinkDeadlineAborts = new Counter({
    name: 'herald_sink_deadline_aborts_total',
    help: "Delivery attempts aborted at their overall deadline (the subscription's delivery.timeout)",
    registers: [this.registry],
  });
  readonly deadLetterStoreFailures = new Counter({
    name: 'herald_dead_letter_store_failures_total',
    help: 'Dead letters the store failed to keep; each is tried again (the event stays undelivered, before the cursor)',
    registers: [this.registry],
  });

  readonly logLinesSuppressed = new Counter({
    name: 'herald_log_lines_suppressed_total',
    help: 'Log lines left out by --log-refusals-interval (a refused request each; all are counted in herald_requests_rejected_total)',
    registers: [this.registry],
  });
  readonly storeReady = new Gauge({
    name: 'herald_store_ready',
    help: 'Whether the event store answers (1) or not (0); /readyz fails while it is 0',
    registers: [this.registry],
  });
  readonly storeNotReady = new Gauge({
    name: 'herald_store_not_ready',
    help: 'Why the event store is not ready: 1 for the cause it reports (e.g. nats-unreachable, nats-authorization, nats-tls, stream-replicas); no series while it is ready',
    labelNames: ['cause'] as const,
    registers: [this.registry],
  });
  readonly subscriptionLag = new Gauge({
    name: 'herald_subscription_lag',
    help: 'Events in the log not yet delivered or dead-lettered, per subscription this process delivers',
    labelNames: ['subscription'] as const,
    registers: [this.registry],
  });
  readonly subscriptionFailing = new Gauge({
    name: 'herald_subscription_failing',
    help: 'Whether the last delivery attempt of the subscription failed (1) or not (0)',
    labelNames: ['subscription'] as const,
    registers: [this.registry],
  });
  readonly subscriptionDeadLetters = new Gauge({
    name: 'herald_subscription_dead_letters',
    help: 'Dead letters kept for the subscription (until redriven)',
    labelNames: ['subscription'] as const,
    registers: [this.registry],
  });
  readonly subscriptionInvalid = new Gauge({
    name: 'herald_subscription_invalid',
    help: '1 for each stored subscription this process cannot start within its limits (status.state invalid; code: the error that says why); it delivers nothing until PUT valid or deleted',
    labelNames: ['subscription', 'code'] as const,
    registers: [this.registry],
  });

  /**
   * Sets the per-subscription gauges from the subscriptions this process delivers (with several
   * replicas on one store each subscription is reported by the replica delivering it, so sums do not
   * double count). Deleted subscriptions disappear.
   */
  observeSubscriptions(statuses: Iterable<readonly [string, SubscriptionGaugeSource]>): void {
    this.subscriptionLag.reset();
    this.subscriptionFailing.reset();
    this.subscriptionDeadLetters.reset();
    for (const [subscription, status] of statuses) {
      this.subscriptionLag.set({ subscription }, status.lag);
      this.subscriptionFailing.set({ subscription }, status.state === 'failing' ? 1 : 0);
      this.subscriptionDeadLetters.set({ subscription }, status.deadLettered);
    }
  }

  /**
   * Sets `herald_subscription_invalid` from the stored subscriptions this process holds as invalid.
   * Each replica reports its own: validity depends on a replica's limits, so one replica may start what
   * another cannot.
   */
  observeInvalidSubscriptions(invalid: Iterable<readonly [string, string]>): void {
    this.subscriptionInvalid.reset();
    for (const [subscription, code] of invalid) this.subscriptionInvalid.set({ subscription, code }, 1);
  }

  constructor(defaultMetrics = true) {
    // The standard names (`process_cpu_seconds_total`, `nodejs_eventloop_lag_p99_seconds`, …) that every
    // Node.js dashboard and alert queries; a prefix of ours would double `process_` and match none of them.
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
