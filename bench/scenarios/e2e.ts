// SPDX-License-Identifier: Apache-2.0
// (c) End to end, publish → broker → one sink: latency percentiles at fixed offered rates (open loop,
// measured from each event's intended send time, so coordinated omission is corrected), then sustained
// delivery throughput in binary and in batch content mode.
import type { BenchContext, Scenario, ScenarioOutput } from '../lib/context.js';
import { output, sleep } from '../lib/context.js';
import { createSubscription, observationsAbove, resetSink, waitForSink } from '../lib/api.js';
import { BATCH, batchEvents, binaryEvents, jsonPayload } from '../lib/events.js';
import { openLoop, publishAll } from '../lib/load.js';
import { formatCpuShare, watchCpuShare } from '../lib/cpu-share.js';
import { formatPressure, watchPressure } from '../lib/pressure.js';
import type { ServerHandle } from '../lib/processes.js';
import { startBroker, startSinkProcess } from '../lib/processes.js';
import { monotonicMicros, summariseProfile } from '../lib/profile.js';
import { formatNumber } from '../lib/report.js';

const E2E_TYPE = 'com.example.bench.e2e';

/**
 * Bounds (in seconds, as the broker's `herald_append_duration_seconds` buckets write them) of the slow appends a
 * latency row counts: a stall in the sink's percentiles beside appends that slow was the commit's (the disk).
 */
const SLOW_APPEND_BOUNDS = ['0.05', '0.1'] as const;

function slowAppends(adminUrl: string): Promise<number[]> {
  return observationsAbove(adminUrl, 'herald_append_duration_seconds', SLOW_APPEND_BOUNDS);
}

async function latencyAtRates(context: BenchContext, sink: ServerHandle, out: ScenarioOutput): Promise<void> {
  const rates = context.mode === 'quick' ? [1_000, 5_000] : [1_000, 5_000, 10_000];
  const durationMs = context.mode === 'quick' ? 2_000 : 10_000;
  const broker = await startBroker({ placement: context.placement, name: 'e2e-latency' });
  try {
    await createSubscription(broker.adminUrl, {
      sink: `${sink.url}/deliver`,
      filters: [{ exact: { type: E2E_TYPE } }],
      delivery: { contentMode: 'binary' },
    });
    const headers = binaryEvents(E2E_TYPE);
    const body = jsonPayload(256);
    const url = new URL(broker.url);
    // Warm-up (JIT, connection pools), not recorded.
    await resetSink(sink.url);
    const warm = await openLoop({
      origin: url.origin,
      path: '/',
      rate: 1_000,
      durationMs: 1_000,
      connections: 64,
      headers,
      body,
    });
    await waitForSink(sink.url, warm.sent, 10_000);
    for (const rate of rates) {
      await resetSink(sink.url);
      context.log(`  latency at ${formatNumber(rate)} events/s for ${durationMs / 1000} s`);
      const slowBefore = await slowAppends(broker.adminUrl);
      const pressureWatch = watchPressure();
      const shareWatch = watchCpuShare({
        broker: broker.process,
        others: [{ name: 'sink', cpuMs: () => sink.process.cpuMs() }],
      });
      const run = await openLoop({
        origin: url.origin,
        path: '/',
        rate,
        durationMs,
        connections: 64,
        headers,
        body,
      });
      const stats = await waitForSink(sink.url, run.ok, 30_000);
      const pressure = pressureWatch.stop();
      const share = shareWatch.stop();
      const slowAfter = await slowAppends(broker.adminUrl);
      const slow = slowAfter.map((n, i) => n - (slowBefore[i] as number));
      const commits = `appends committed in over ${SLOW_APPEND_BOUNDS.map((b) => `${Number(b) * 1000} ms`).join(' / ')}: ${slow.join(' / ')}`;
      const latency = stats.latencyMs;
      const complete = stats.events >= run.ok && run.failed === 0;
      const machine = [formatPressure(pressure), formatCpuShare(share)].filter(Boolean).join('; ');
      context.log(
        `  ${formatNumber(rate)}/s: delivered ${stats.events}/${run.sent}, p50 ${latency.p50} ms, p99 ${latency.p99} ms, p99.9 ${latency.p999} ms, max ${latency.max} ms; 202 p99 ${run.ackLatency.p99} ms; send lag max ${run.maxSendLagMs.toFixed(1)} ms; ${commits}${machine === '' ? '' : `; ${machine}`}`,
      );
      const p99 = latency.p99 ?? Number.NaN;
      const ms = (x: number | null): string => (x === null ? '–' : formatNumber(x, 'ms'));
      const detail =
        `p50 ${ms(latency.p50)}, p99.9 ${ms(latency.p999)}, max ${ms(latency.max)}; publish→202 p99 ${ms(run.ackLatency.p99)}; ${commits}` +
        (machine === '' ? '' : `; ${machine}`) +
        (complete ? '' : `; only ${stats.events} of ${run.sent} delivered, ${run.failed} publishes failed`);
      out.rows.push({
        scenario: 'c',
        name: `end-to-end latency p99 at ${formatNumber(rate)} events/s offered (open loop, binary delivery)`,
        value: p99,
        unit: 'ms',
        detail,
        ...(rate === 5_000
          ? {
              target: complete
                ? ({ kind: 'below', max: 25, unit: 'ms' } as const)
                : ({ kind: 'custom', text: '< 25 ms, all delivered', pass: false } as const),
            }
          : {}),
        data: { rate, durationMs, publish: run, sink: stats, pressure, cpuShare: share, slowAppends: slow },
      });
    }
  } finally {
    await broker.stop();
  }
}

interface ThroughputCase {
  readonly mode: 'binary' | 'batch';
  readonly label: string;
  readonly delivery: Record<string, unknown>;
  readonly events: number;
  readonly target: number;
}

async function throughput(
  context: BenchContext,
  sink: ServerHandle,
  test: ThroughputCase,
  out: ScenarioOutput,
): Promise<void> {
  const name = `e2e-${test.mode}`;
  const broker = await startBroker({
    placement: context.placement,
    name,
    ...(context.profileDir === undefined ? {} : { cpuProfDir: context.profileDir }),
  });
  let profile: string | undefined;
  const window = { fromUs: 0, toUs: 0 };
  try {
    await createSubscription(broker.adminUrl, { sink: `${sink.url}/deliver`, delivery: test.delivery });
    await resetSink(sink.url);
    await sleep(200);
    const perRequest = 100;
    context.log(
      `  ${test.label}: publishing ${formatNumber(test.events)} events in batches of ${perRequest}`,
    );
    const url = new URL(broker.url);
    window.fromUs = monotonicMicros();
    const published = await publishAll({
      origin: url.origin,
      path: '/',
      requests: Math.ceil(test.events / perRequest),
      concurrency: 4,
      headers: { 'content-type': BATCH },
      body: batchEvents({ events: perRequest, eventSize: 256, type: E2E_TYPE }),
      timeoutMs: 120_000,
    });
    const expected = published.ok * perRequest;
    const stats = await waitForSink(sink.url, expected, context.mode === 'quick' ? 45_000 : 180_000);
    window.toUs = monotonicMicros();
    const deliverySec = (stats.lastAt - stats.firstAt) / 1000;
    const endToEndSec = (stats.lastAt - published.startEpochMs) / 1000;
    const rate = stats.events / deliverySec;
    const publishRate = expected / (published.elapsedMs / 1000);
    context.log(
      `  ${test.label}: delivered ${stats.events}/${expected} in ${deliverySec.toFixed(2)} s (${formatNumber(rate)}/s); published at ${formatNumber(publishRate)}/s; ${stats.requests} sink requests`,
    );
    const complete = stats.events >= expected;
    out.rows.push({
      scenario: 'c',
      name: `sustained delivery to one sink, ${test.label}`,
      value: rate,
      unit: 'events/s',
      detail:
        `${formatNumber(stats.events)} events; first publish → last delivery ${formatNumber(stats.events / endToEndSec)} events/s; ingress ${formatNumber(publishRate)} events/s` +
        (complete ? '' : `; only ${stats.events} of ${expected} delivered in time`),
      target: complete
        ? { kind: 'at-least', min: test.target, unit: 'events/s' }
        : { kind: 'custom', text: `≥ ${formatNumber(test.target)} events/s, all delivered`, pass: false },
      data: { published, sink: { ...stats, bySubscription: undefined } },
    });
  } finally {
    profile = await broker.stop();
  }
  if (profile !== undefined) {
    out.profiles.push({
      title: `broker during (c) publish → delivery, ${test.label}`,
      summary: summariseProfile(profile, 15, window),
    });
  }
}

export const endToEnd: Scenario = {
  id: 'c',
  title: 'end to end: publish → sink latency at fixed rates, and delivery throughput',
  async run(context) {
    const out = output();
    const sink = await startSinkProcess(context.placement);
    try {
      await latencyAtRates(context, sink, out);
      const quick = context.mode === 'quick';
      await throughput(
        context,
        sink,
        {
          mode: 'binary',
          label: 'binary mode (maxInFlight 16, the default)',
          delivery: { contentMode: 'binary' },
          events: quick ? 10_000 : 200_000,
          target: 10_000,
        },
        out,
      );
      await throughput(
        context,
        sink,
        {
          mode: 'batch',
          label: 'batch mode (100 events per request, maxWait 100 ms)',
          delivery: { contentMode: 'batch', batch: { maxEvents: 100, maxWait: 'PT0.1S' } },
          events: quick ? 50_000 : 500_000,
          target: 50_000,
        },
        out,
      );
    } finally {
      await sink.stop();
    }
    out.notes.push(
      'Latency: events are published one per request at a fixed rate regardless of answers (open loop, 64 connections); each carries its intended send time, and the sink records arrival − intended time in an HDR histogram, so stalls are not hidden (coordinated omission corrected). Sink and load generator share core 0.',
      'Throughput: events published in batches of 100 (4 requests in flight) to a broker with one subscription; rate = events ÷ (last − first delivery at the sink).',
    );
    return out;
  },
};
