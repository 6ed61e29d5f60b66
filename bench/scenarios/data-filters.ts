// SPDX-License-Identifier: Apache-2.0
// Payload (data) filters: the cost per event of evaluating 1,000 subscriptions whose filters look into
// JSON data, with Herald's compiled filters (data parsed once per event, shared by every subscription).
// Baselines measured in the same run: the same 1,000 filters hand-written to parse the data themselves
// (what a per-subscription evaluator does), and 1,000 attribute-only `exact` filters (no data at all).
import { DataKind } from '../../src/cloudevents/index.js';
import type { CloudEvent } from '../../src/cloudevents/index.js';
import { compileFilterList, compileSqlFilter, dataParseCount } from '../../src/filters/index.js';
import type { EventPredicate } from '../../src/filters/index.js';
import type { BenchContext, Scenario } from '../lib/context.js';
import { output, sleep } from '../lib/context.js';
import { createSubscription, metric, resetSink, waitForSink } from '../lib/api.js';
import { BATCH, batchEvents } from '../lib/events.js';
import { publishAll } from '../lib/load.js';
import type { ServerHandle } from '../lib/processes.js';
import { startBroker, startSinkProcess } from '../lib/processes.js';

const SUBSCRIPTIONS = 1000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** ~600-byte order events; customer ids 0..1999, so about half the events match one subscription. */
function makeEvents(count: number): CloudEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const data = {
      orderId: `o-${i}`,
      customer: { id: (i * 7919) % 2000, tier: i % 3 === 0 ? 'gold' : 'silver', region: 'eu-west' },
      total: (i % 500) + 0.5,
      items: Array.from({ length: 5 }, (_, j) => ({ sku: `sku-${j}-${i % 97}`, qty: j + 1, price: 9.99 })),
      note: 'x'.repeat(120),
    };
    return {
      attributes: { specversion: '1.0', id: `e${i}`, source: '/shop', type: 'com.example.order.created' },
      data: encoder.encode(JSON.stringify(data)),
      dataKind: DataKind.Json,
    };
  });
}

/** Copies events so each round starts with data not yet parsed (as the dispatcher sees a new page). */
const fresh = (events: readonly CloudEvent[]) => events.map((e) => ({ ...e }));

function measure(events: readonly CloudEvent[], predicates: readonly EventPredicate[], durationMs: number) {
  let evaluated = 0;
  let matched = 0;
  const started = performance.now();
  while (performance.now() - started < durationMs) {
    for (const event of fresh(events)) {
      for (const predicate of predicates) if (predicate(event)) matched++;
      evaluated++;
    }
  }
  const micros = ((performance.now() - started) * 1000) / evaluated;
  return { microsPerEvent: micros, events: evaluated, matched };
}

interface BrokerMeasured {
  readonly subscriptions: number;
  readonly cpuMicrosPerEvent: number;
  readonly parsesPerEvent: number;
  readonly delivered: number;
  readonly expected: number;
}

/**
 * The same through a broker process: `total` subscriptions with data filters, one matching every event
 * (`/p` exists), the others never (`/p` equals something else). Broker CPU per published event, from
 * the first publish to the last delivery (ingress included), and data parses per event.
 */
async function measureBroker(
  context: BenchContext,
  sink: ServerHandle,
  total: number,
  events: number,
): Promise<BrokerMeasured> {
  const broker = await startBroker({ placement: context.placement, name: `data-${total}` });
  try {
    const delivery = { contentMode: 'batch', batch: { maxEvents: 100, maxWait: 'PT0.1S' } };
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < total) {
          const i = next++;
          await createSubscription(broker.adminUrl, {
            sink: `${sink.url}/deliver`,
            filters: [{ data: { '/p': i === 0 ? { exists: true } : { eq: `nothing-${i}` } } }],
            delivery,
          });
        }
      }),
    );
    await sleep(500);
    await resetSink(sink.url);
    const perRequest = 100;
    const parsesBefore = await metric(broker.adminUrl, 'herald_filter_data_parses_total');
    const cpuBefore = broker.process.cpuMs();
    const published = await publishAll({
      origin: new URL(broker.url).origin,
      path: '/',
      requests: Math.ceil(events / perRequest),
      concurrency: 4,
      headers: { 'content-type': BATCH },
      body: batchEvents({
        events: perRequest,
        eventSize: 256,
        type: 'com.example.bench.data',
        source: '/bench/data',
      }),
      timeoutMs: 120_000,
    });
    const sent = published.ok * perRequest;
    const stats = await waitForSink(sink.url, sent, 120_000);
    const cpuAfter = broker.process.cpuMs();
    const parsesAfter = await metric(broker.adminUrl, 'herald_filter_data_parses_total');
    const result = {
      subscriptions: total,
      cpuMicrosPerEvent: ((cpuAfter - cpuBefore) * 1000) / sent,
      parsesPerEvent: (parsesAfter - parsesBefore) / sent,
      delivered: stats.events,
      expected: sent,
    };
    context.log(
      `  broker, ${total} data-filter subscription(s): ${result.cpuMicrosPerEvent.toFixed(1)} µs CPU/event, ${result.parsesPerEvent.toFixed(2)} data parses/event, delivered ${stats.events}/${sent}`,
    );
    return result;
  } finally {
    await broker.stop();
  }
}

export const dataFiltersScenario: Scenario = {
  id: 'data',
  title: 'Payload (data) filters: 1,000 subscriptions, cost per event (micro-benchmark, one thread)',
  async run(context) {
    const out = output();
    const durationMs = context.mode === 'quick' ? 300 : 1500;
    const events = makeEvents(200);
    const herald = Array.from(
      { length: SUBSCRIPTIONS },
      (_, i) =>
        compileFilterList(
          [{ data: { '/customer/id': { eq: i }, '/total': { gte: 10 }, '/customer/tier': { prefix: 'g' } } }],
          '/filters',
          compileSqlFilter,
        ).matches,
    );
    const perSubscriptionParse: EventPredicate[] = Array.from(
      { length: SUBSCRIPTIONS },
      (_, i) => (event) => {
        const data = JSON.parse(decoder.decode(event.data)) as {
          customer?: { id?: unknown; tier?: unknown };
          total?: unknown;
        };
        return (
          data.customer?.id === i &&
          typeof data.total === 'number' &&
          data.total >= 10 &&
          typeof data.customer.tier === 'string' &&
          data.customer.tier.startsWith('g')
        );
      },
    );
    const attributesOnly = Array.from(
      { length: SUBSCRIPTIONS },
      (_, i) => compileFilterList([{ exact: { subject: `s${i}` } }], '/filters', undefined).matches,
    );
    let totalEvents = 0;
    const best = (predicates: readonly EventPredicate[], rounds: number, duration: number) => {
      totalEvents = 0;
      let result: ReturnType<typeof measure> | undefined;
      for (let r = 0; r < rounds; r++) {
        const next = measure(events, predicates, duration);
        totalEvents += next.events;
        if (result === undefined || next.microsPerEvent < result.microsPerEvent) result = next;
      }
      return result as ReturnType<typeof measure>;
    };
    const parsesBefore = dataParseCount();
    const heraldResult = best(herald, 3, durationMs);
    const parsesPerEvent = (dataParseCount() - parsesBefore) / totalEvents;
    const naive = best(perSubscriptionParse, 1, durationMs);
    const attributes = best(attributesOnly, 3, durationMs);
    out.rows.push({
      scenario: 'data',
      name: '1,000 data-filter subscriptions, µs per event',
      value: heraldResult.microsPerEvent,
      unit: 'µs/event',
      baseline: {
        name: 'same filters, data parsed per subscription',
        value: naive.microsPerEvent,
        unit: 'µs/event',
      },
      data: {
        herald: heraldResult,
        naive,
        attributesOnly: attributes,
        parsesPerEvent,
        subscriptions: SUBSCRIPTIONS,
      },
    });
    out.rows.push({
      scenario: 'data',
      name: '1,000 attribute-only exact filters (no data), µs per event',
      value: attributes.microsPerEvent,
      unit: 'µs/event',
      data: { ...attributes },
    });
    out.notes.push(
      `data: ${SUBSCRIPTIONS} subscriptions, ~600-byte JSON events; Herald parsed data ${parsesPerEvent.toFixed(2)} times per event (counted over all rounds); best of 3 rounds. Lower is better; ratio is Herald ÷ per-subscription parsing.`,
    );
    const published = context.mode === 'quick' ? 10_000 : 100_000;
    const sink = await startSinkProcess(context.placement);
    try {
      const one = await measureBroker(context, sink, 1, published);
      const many = await measureBroker(context, sink, SUBSCRIPTIONS, published);
      out.rows.push({
        scenario: 'data',
        name: `broker: ${SUBSCRIPTIONS.toLocaleString('en-US')} data-filter subscriptions (1 matching), CPU per event`,
        value: many.cpuMicrosPerEvent,
        unit: 'µs',
        detail: `${many.parsesPerEvent.toFixed(2)} data parses/event${many.delivered < many.expected ? `; only ${many.delivered} of ${many.expected} delivered` : ''}`,
        baseline: { name: '1 data-filter subscription', value: one.cpuMicrosPerEvent, unit: 'µs' },
        data: { one, many, events: published },
      });
    } finally {
      await sink.stop();
    }
    out.notes.push(
      `data (broker): ${published.toLocaleString('en-US')} events of ~256 B in batches of 100; broker CPU (user+system, /proc) from the first publish to the last delivery, ingress included.`,
    );
    return out;
  },
};
