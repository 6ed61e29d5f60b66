// SPDX-License-Identifier: Apache-2.0
// (e-latency) Publish → sink latency on the JetStream store at a steady 500 events/s: open loop (each
// event's latency counts from its intended send time), 1 KB binary-mode events, one subscription
// delivering to the bench sink, `--durability fsync`. Targets: p50 ≤ 2 ms, p99 ≤ 10 ms, every event
// acknowledged with 202 delivered, in the steady state: the run measured against the targets follows a
// first run of the same length, whose figures are reported beside them as the broker's first seconds.
//
// Why two runs: pinned, V8 compiles the broker's hot functions on the one core the broker has, and at
// 500 events/s it is still compiling for seconds after a short warm-up. On a slow day (the bare server
// at a quarter of its best speed) the first 20 s after a 2 s warm-up read p99 18–23 ms, the next 20 s
// 4–6 ms; a 10 s warm-up gave the next 20 s 6.2 ms (bench/PROFILE.md, "Issue #15, eleventh round").
import type { Scenario } from '../lib/context.js';
import { output } from '../lib/context.js';
import { createSubscription, resetSink, waitForSink } from '../lib/api.js';
import { binaryEvents, jsonPayload } from '../lib/events.js';
import { openLoop } from '../lib/load.js';
import type { NatsHandle } from '../lib/nats.js';
import { natsServerBinary, startNats } from '../lib/nats.js';
import type { BrokerHandle, ServerHandle } from '../lib/processes.js';
import { startBroker, startSinkProcess } from '../lib/processes.js';
import { formatNumber } from '../lib/report.js';

const TYPE = 'com.example.bench.jetstream-latency';
const RATE = 500;
const TARGETS = { p50: 2, p99: 10 } as const;

export const jetStreamLatency: Scenario = {
  id: 'e-latency',
  title: 'publish → sink latency on the JetStream store at 500 events/s',
  async run(context) {
    const out = output();
    const name = (p: string) =>
      `publish → sink latency ${p} on the JetStream store, ${RATE} events/s offered (open loop, 1 KB, fsync)`;
    const binary = natsServerBinary();
    if (binary === undefined) {
      for (const p of ['p50', 'p99'] as const) {
        out.rows.push({
          scenario: 'e',
          name: name(p),
          value: null,
          unit: 'ms',
          unavailable: 'no nats-server binary; build it with bash test/infra/nats/build.sh',
        });
      }
      return out;
    }
    const durationMs = context.mode === 'quick' ? 4_000 : 20_000;
    let nats: NatsHandle | undefined;
    let sink: ServerHandle | undefined;
    let broker: BrokerHandle | undefined;
    try {
      nats = await startNats(binary, context.placement);
      sink = await startSinkProcess(context.placement);
      broker = await startBroker({
        placement: context.placement,
        name: 'latency-jetstream',
        args: ['--store', 'jetstream', '--nats-url', nats.url, '--durability', 'fsync'],
      });
      await createSubscription(broker.adminUrl, {
        sink: `${sink.url}/deliver`,
        filters: [{ exact: { type: TYPE } }],
        delivery: { contentMode: 'binary' },
      });
      const origin = new URL(broker.url).origin;
      const load = { origin, path: '/', rate: RATE, connections: 16, headers: binaryEvents(TYPE) };
      const body = jsonPayload(1024);
      // Warm-up (JIT, connection pools, the subscription's claim), not recorded.
      await resetSink(sink.url);
      const warm = await openLoop({ ...load, durationMs: 2_000, body });
      await waitForSink(sink.url, warm.ok, 15_000);
      const sinkUrl = sink.url;
      const measure = async (label: string) => {
        await resetSink(sinkUrl);
        context.log(`  ${label}: ${RATE} events/s for ${durationMs / 1000} s`);
        const run = await openLoop({ ...load, durationMs, body });
        const stats = await waitForSink(sinkUrl, run.ok, 30_000);
        const latency = stats.latencyMs;
        context.log(
          `  delivered ${stats.events}/${run.sent}, p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms; 202 p50 ${run.ackLatency.p50} ms, p99 ${run.ackLatency.p99} ms`,
        );
        return { run, stats, latency, complete: stats.events >= run.ok && run.failed === 0 };
      };
      const first = await measure('first run (reported, no target)');
      const { run, stats, latency, complete } = await measure('steady run (the targets)');
      const ms = (x: number | null): string => (x === null ? '–' : formatNumber(x, 'ms'));
      const detail =
        `p90 ${ms(latency.p90)}, p99.9 ${ms(latency.p999)}, max ${ms(latency.max)}; publish→202 p50 ${ms(run.ackLatency.p50)}, p99 ${ms(run.ackLatency.p99)}` +
        (complete ? '' : `; only ${stats.events} of ${run.sent} delivered, ${run.failed} publishes failed`) +
        `; the ${durationMs / 1000} s before, just after a 2 s warm-up: p50 ${ms(first.latency.p50)}, p99 ${ms(first.latency.p99)}` +
        (first.complete ? '' : `, only ${first.stats.events} of ${first.run.sent} delivered`);
      for (const p of ['p50', 'p99'] as const) {
        out.rows.push({
          scenario: 'e',
          name: name(p),
          value: latency[p] ?? Number.NaN,
          unit: 'ms',
          detail,
          target: complete
            ? { kind: 'below', max: TARGETS[p], unit: 'ms' }
            : { kind: 'custom', text: `≤ ${TARGETS[p]} ms, all delivered`, pass: false },
          ...(p === 'p50'
            ? {
                data: {
                  rate: RATE,
                  durationMs,
                  publish: run,
                  sink: stats,
                  firstRun: { publish: first.run, sink: first.stats },
                },
              }
            : {}),
        });
      }
    } finally {
      await broker?.stop();
      await sink?.stop();
      await nats?.stop();
    }
    return out;
  },
};
