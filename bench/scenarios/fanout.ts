// SPDX-License-Identifier: Apache-2.0
// (d) Fan-out: 1, 100 and 1,000 subscriptions with exact `type` filters, one of which matches the
// published events, plus 10 CESQL subscriptions (never indexable, so evaluated for every event); then
// 1,000 with 10 matching. The broker's CPU time per published event should follow the number of
// matching subscriptions, not the total: the dispatcher's exact-filter index skips the others.
import type { BenchContext, Scenario, ScenarioOutput } from '../lib/context.js';
import { output, sleep } from '../lib/context.js';
import { createSubscription, metric, resetSink, waitForSink } from '../lib/api.js';
import { BATCH, batchEvents } from '../lib/events.js';
import { publishAll } from '../lib/load.js';
import type { ServerHandle } from '../lib/processes.js';
import { startBroker, startSinkProcess } from '../lib/processes.js';
import { formatNumber } from '../lib/report.js';

const TYPE = 'com.example.bench.fanout';
const CESQL_SUBSCRIPTIONS = 10;

interface Config {
  readonly total: number;
  readonly matching: number;
}

interface Measured extends Config {
  readonly cpuMicrosPerEvent: number;
  readonly evaluationsPerEvent: number;
  readonly eventsPerSec: number;
  readonly delivered: number;
  readonly expected: number;
}

async function inParallel(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

async function measure(
  context: BenchContext,
  sink: ServerHandle,
  config: Config,
  events: number,
): Promise<Measured> {
  const broker = await startBroker({ placement: context.placement, name: `fanout-${config.total}` });
  try {
    const delivery = { contentMode: 'batch', batch: { maxEvents: 100, maxWait: 'PT0.1S' } };
    const sinkUrl = `${sink.url}/deliver`;
    await inParallel(config.total, 8, (i) =>
      createSubscription(broker.adminUrl, {
        sink: sinkUrl,
        filters: [{ exact: { type: i < config.matching ? TYPE : `com.example.bench.other.${i}` } }],
        delivery,
      }),
    );
    await inParallel(CESQL_SUBSCRIPTIONS, 4, (i) =>
      createSubscription(broker.adminUrl, {
        sink: sinkUrl,
        filters: [{ sql: `source LIKE '/nomatch-${i}/%' AND type <> 'com.example.ignored'` }],
        delivery,
      }),
    );
    await sleep(500);
    await resetSink(sink.url);
    const perRequest = 100;
    const evaluationsBefore = await metric(broker.adminUrl, 'herald_filter_evaluations_total');
    const cpuBefore = broker.process.cpuMs();
    const url = new URL(broker.url);
    const published = await publishAll({
      origin: url.origin,
      path: '/',
      requests: Math.ceil(events / perRequest),
      concurrency: 4,
      headers: { 'content-type': BATCH },
      body: batchEvents({ events: perRequest, eventSize: 256, type: TYPE, source: '/bench/fanout' }),
      timeoutMs: 120_000,
    });
    const sent = published.ok * perRequest;
    const expected = sent * config.matching;
    const stats = await waitForSink(sink.url, expected, 120_000);
    const cpuAfter = broker.process.cpuMs();
    const evaluationsAfter = await metric(broker.adminUrl, 'herald_filter_evaluations_total');
    const seconds = (stats.lastAt - published.startEpochMs) / 1000;
    const result: Measured = {
      ...config,
      cpuMicrosPerEvent: ((cpuAfter - cpuBefore) * 1000) / sent,
      evaluationsPerEvent: (evaluationsAfter - evaluationsBefore) / sent,
      eventsPerSec: sent / seconds,
      delivered: stats.events,
      expected,
    };
    context.log(
      `  ${config.total} exact (${config.matching} matching) + ${CESQL_SUBSCRIPTIONS} CESQL: ${result.cpuMicrosPerEvent.toFixed(1)} µs CPU/event, ${result.evaluationsPerEvent.toFixed(2)} evaluations/event, ${formatNumber(result.eventsPerSec)} events/s, delivered ${stats.events}/${expected}`,
    );
    return result;
  } finally {
    await broker.stop();
  }
}

function rows(results: readonly Measured[], events: number, out: ScenarioOutput): void {
  const base = results[0];
  if (base === undefined) return;
  for (const r of results) {
    out.rows.push({
      scenario: 'd',
      name: `fan-out, ${r.total.toLocaleString('en-US')} exact-filter subscription${r.total === 1 ? '' : 's'} (${r.matching} matching) + ${CESQL_SUBSCRIPTIONS} CESQL, broker CPU per event`,
      value: r.cpuMicrosPerEvent,
      unit: 'µs',
      detail: `${r.evaluationsPerEvent.toFixed(2)} filter evaluations/event, ${formatNumber(r.eventsPerSec)} events/s published → delivered${r.delivered < r.expected ? `; only ${r.delivered} of ${r.expected} delivered` : ''}`,
      baseline: { name: `${base.total} subscription`, value: base.cpuMicrosPerEvent, unit: 'µs' },
      data: { ...r, events },
    });
  }
  const big = results.find((r) => r.total === 1000 && r.matching === 1);
  if (big === undefined) return;
  const growth = big.cpuMicrosPerEvent / base.cpuMicrosPerEvent;
  // Evaluated per event: the CESQL subscriptions (never indexable) plus the matching ones while they
  // read from the shared tail; never the non-matching exact-filter subscriptions.
  const evaluationsFlat = big.evaluationsPerEvent <= big.matching + CESQL_SUBSCRIPTIONS + 0.01;
  const complete = results.every((r) => r.delivered >= r.expected);
  out.rows.push({
    scenario: 'd',
    name: 'fan-out verdict: CPU/event with 1,000 subscriptions ÷ with 1 (1 matching each)',
    value: growth,
    unit: '×',
    detail: `filter evaluations/event ${base.evaluationsPerEvent.toFixed(2)} → ${big.evaluationsPerEvent.toFixed(2)}`,
    target: {
      kind: 'custom',
      text: `≤ 1.5×, and ≤ ${big.matching + CESQL_SUBSCRIPTIONS} filter evaluations/event (matching + CESQL)`,
      pass: growth <= 1.5 && evaluationsFlat && complete,
    },
  });
}

export const fanOut: Scenario = {
  id: 'd',
  title: 'fan-out: cost per event against matching and total subscriptions',
  async run(context) {
    const out = output();
    const events = context.mode === 'quick' ? 10_000 : 100_000;
    const configs: Config[] = [
      { total: 1, matching: 1 },
      { total: 100, matching: 1 },
      { total: 1000, matching: 1 },
      { total: 1000, matching: 10 },
    ];
    const sink = await startSinkProcess(context.placement);
    const results: Measured[] = [];
    try {
      for (const config of configs) results.push(await measure(context, sink, config, events));
    } finally {
      await sink.stop();
    }
    rows(results, events, out);
    out.notes.push(
      `Fan-out: ${formatNumber(events)} events of ~256 B published in batches of 100; matching subscriptions deliver in batch mode (100 per request) to one sink; CPU is the broker process's user+system time (all threads, /proc) from the first publish to the last delivery, so it includes ingress.`,
    );
    return out;
  },
};
