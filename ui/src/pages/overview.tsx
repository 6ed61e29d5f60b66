import { api } from '../api';
import type { Stats, Subscription } from '../api';
import { RateChart } from '../chart';
import type { RateSeries } from '../chart';
import { ProblemMessage, usePolling } from '../components';
import { formatBytes, formatDuration, formatRate } from '../format';
import { linkTo } from '../router';

/** Events per second between consecutive cumulative samples. */
export function rates(stats: Stats): RateSeries {
  const times: number[] = [];
  const accepted: number[] = [];
  const delivered: number[] = [];
  for (let i = 1; i < stats.samples.length; i++) {
    const previous = stats.samples[i - 1];
    const sample = stats.samples[i];
    if (previous === undefined || sample === undefined) continue;
    const seconds = (sample.t - previous.t) / 1000;
    // The last sample is taken at the request: a sliver of an interval would make a noisy point.
    if (seconds * 1000 < stats.sampleIntervalMs / 2) continue;
    times.push(sample.t / 1000);
    accepted.push(Math.max(0, sample.accepted - previous.accepted) / seconds);
    delivered.push(Math.max(0, sample.delivered - previous.delivered) / seconds);
  }
  return {
    times,
    series: [
      { label: 'Published/s', values: accepted, color: '#1f5fbf' },
      { label: 'Delivered/s', values: delivered, color: '#157347' },
    ],
  };
}

/** Events per second over the last `windowMs` (steadier than the last interval alone). */
export function recentRate(
  stats: Stats,
  key: 'accepted' | 'delivered',
  windowMs = 10_000,
): number | undefined {
  const last = stats.samples.at(-1);
  if (last === undefined) return undefined;
  const first = stats.samples.find((sample) => sample.t >= last.t - windowMs) ?? last;
  const seconds = (last.t - first.t) / 1000;
  return seconds <= 0 ? undefined : Math.max(0, last[key] - first[key]) / seconds;
}

function retentionText(retention: Stats['retention']): string {
  const parts: string[] = [];
  if (retention.maxAgeMs > 0) parts.push(`${formatDuration(retention.maxAgeMs)} old`);
  if (retention.maxEvents > 0) parts.push(`${retention.maxEvents.toLocaleString()} events`);
  if (retention.maxBytes > 0) parts.push(formatBytes(retention.maxBytes));
  return parts.length === 0 ? 'keep everything' : `at most ${parts.join(', ')}`;
}

function Figure({ label, value, detail }: { label: string; value: string; detail?: string }) {
  return (
    <div class="figure">
      <dt>{label}</dt>
      <dd>
        <span class="value">{value}</span>
        {detail !== undefined && <span class="detail">{detail}</span>}
      </dd>
    </div>
  );
}

function SubscriptionSummary({ subscriptions }: { subscriptions: Subscription[] }) {
  const count = (state: string) => subscriptions.filter((s) => s.status.state === state).length;
  const lag = subscriptions.reduce((sum, s) => sum + s.status.lag, 0);
  const dead = subscriptions.reduce((sum, s) => sum + s.status.deadLettered, 0);
  return (
    <dl class="figures">
      <Figure label="Subscriptions" value={String(subscriptions.length)} />
      <Figure
        label="Failing"
        value={String(count('failing'))}
        detail={`${count('paused')} paused${count('invalid') > 0 ? `, ${count('invalid')} invalid` : ''}`}
      />
      <Figure label="Total lag" value={lag.toLocaleString()} detail="events behind" />
      <Figure label="Dead letters" value={dead.toLocaleString()} />
    </dl>
  );
}

export function OverviewPage() {
  const stats = usePolling(() => api.stats(), 2_000);
  const subscriptions = usePolling(() => api.subscriptions(), 2_000);
  const data = stats.data;
  const series = data === undefined ? undefined : rates(data);
  return (
    <>
      <h1 tabIndex={-1}>Overview</h1>
      <ProblemMessage problem={stats.problem} />
      {data !== undefined && series !== undefined && (
        <section aria-labelledby="throughput">
          <h2 id="throughput">Throughput and log</h2>
          <dl class="figures">
            <Figure
              label="Published"
              value={`${formatRate(recentRate(data, 'accepted'))}/s`}
              detail="events in, last 10 s"
            />
            <Figure
              label="Delivered"
              value={`${formatRate(recentRate(data, 'delivered'))}/s`}
              detail="to sinks, last 10 s"
            />
            <Figure
              label="Log size"
              value={`${data.log.events.toLocaleString()} events`}
              detail={formatBytes(data.log.bytes)}
            />
            <Figure
              label="Last sequence"
              value={data.log.last.toLocaleString()}
              detail={`first retained ${data.log.first.toLocaleString()}`}
            />
            <Figure label="Retention" value={retentionText(data.retention)} />
          </dl>
          <h3 id="chart-title">
            Events per second, last {formatDuration(data.samples.length * data.sampleIntervalMs)}
          </h3>
          <RateChart data={series} label="Published and delivered events per second over time" />
          <p class="muted">
            Totals since the broker started: {data.totals.accepted.toLocaleString()} published,{' '}
            {data.totals.delivered.toLocaleString()} delivered, {data.totals.deadLettered.toLocaleString()}{' '}
            dead-lettered.
          </p>
        </section>
      )}
      <section aria-labelledby="subscriptions-summary">
        <h2 id="subscriptions-summary">
          <a {...linkTo('subscriptions')}>Subscriptions</a>
        </h2>
        <ProblemMessage problem={subscriptions.problem} />
        {subscriptions.data !== undefined && <SubscriptionSummary subscriptions={subscriptions.data} />}
      </section>
    </>
  );
}
