import type { Dispatcher } from '../dispatch/index.js';
import type { BrokerMetrics } from '../observability/index.js';
import type { EventStore, LogStats, RetentionPolicy } from '../store/index.js';

/** How often the counters are sampled, and how much history `/stats` keeps for the dashboard's chart. */
export const STATS_SAMPLE_INTERVAL_MS = 2_000;
export const STATS_WINDOW_MS = 10 * 60_000;

/** Cumulative counters at one moment; rates are differences between two samples. */
export interface StatsSample {
  /** Milliseconds since the epoch. */
  readonly t: number;
  readonly accepted: number;
  readonly delivered: number;
  readonly deadLettered: number;
}

/** The body of `GET /stats`. */
export interface StatsSnapshot {
  readonly time: string;
  readonly log: LogStats;
  readonly retention: RetentionPolicy;
  readonly totals: Omit<StatsSample, 't'>;
  /** Events delivered per subscription that this process delivers, since it started delivering it. */
  readonly subscriptions: ReadonlyArray<{ readonly id: string; readonly delivered: number }>;
  readonly sampleIntervalMs: number;
  /** Oldest first, the last one taken now. */
  readonly samples: readonly StatsSample[];
}

export interface BrokerStatsOptions {
  readonly metrics: BrokerMetrics;
  readonly store: EventStore;
  readonly dispatcher: Dispatcher;
  readonly retention: RetentionPolicy;
  readonly sampleIntervalMs?: number;
  readonly windowMs?: number;
}

/**
 * A small JSON view of the broker's throughput for the dashboard, computed from the Prometheus counters
 * and the store's statistics: a ring of samples over the last minutes, so a chart has history at once.
 */
export class BrokerStats {
  private readonly samples: StatsSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;
  private readonly capacity: number;

  constructor(private readonly options: BrokerStatsOptions) {
    this.intervalMs = options.sampleIntervalMs ?? STATS_SAMPLE_INTERVAL_MS;
    this.capacity = Math.max(2, Math.ceil((options.windowMs ?? STATS_WINDOW_MS) / this.intervalMs));
  }

  start(): void {
    if (this.timer !== undefined) return;
    void this.take();
    this.timer = setInterval(() => void this.take(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async snapshot(): Promise<StatsSnapshot> {
    const [log, now] = await Promise.all([this.options.store.stats(), this.sample()]);
    const { t: _t, ...totals } = now;
    return {
      time: new Date(now.t).toISOString(),
      log,
      retention: this.options.retention,
      totals,
      subscriptions: this.options.dispatcher.deliveredCounts(),
      sampleIntervalMs: this.intervalMs,
      samples: [...this.samples, now],
    };
  }

  private async take(): Promise<void> {
    this.samples.push(await this.sample());
    if (this.samples.length > this.capacity) this.samples.splice(0, this.samples.length - this.capacity);
  }

  private async sample(): Promise<StatsSample> {
    const { metrics } = this.options;
    const [accepted, deliveries] = await Promise.all([metrics.accepted.get(), metrics.deliveries.get()]);
    const outcome = (name: string) =>
      deliveries.values.find((value) => value.labels['outcome'] === name)?.value ?? 0;
    return {
      t: Date.now(),
      accepted: accepted.values[0]?.value ?? 0,
      delivered: outcome('delivered'),
      deadLettered: outcome('deadlettered'),
    };
  }
}
