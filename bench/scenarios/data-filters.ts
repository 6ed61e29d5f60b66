// SPDX-License-Identifier: Apache-2.0
// Payload (data) filters: the cost per event of evaluating 1,000 subscriptions whose filters look into
// JSON data, with Herald's compiled filters (data parsed once per event, shared by every subscription).
// Baselines measured in the same run: the same 1,000 filters hand-written to parse the data themselves
// (what a per-subscription evaluator does), and 1,000 attribute-only `exact` filters (no data at all).
import { DataKind } from '../../src/cloudevents/index.js';
import type { CloudEvent } from '../../src/cloudevents/index.js';
import { compileFilterList, compileSqlFilter, dataParseCount } from '../../src/filters/index.js';
import type { EventPredicate } from '../../src/filters/index.js';
import type { Scenario } from '../lib/context.js';
import { output } from '../lib/context.js';

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

export const dataFiltersScenario: Scenario = {
  id: 'data',
  title: 'Payload (data) filters: 1,000 subscriptions, cost per event (micro-benchmark, one thread)',
  run(context) {
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
    return Promise.resolve(out);
  },
};
