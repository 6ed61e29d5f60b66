// SPDX-License-Identifier: Apache-2.0
// (f) Replay: N events are already in the log (1 million; 100,000 in quick mode) when a subscription
// is created at `earliest`; it catches up by reading the store on its own (not the shared tail) and
// delivers in batch mode to one sink.
import type { Scenario } from '../lib/context.js';
import { output } from '../lib/context.js';
import { createSubscription, resetSink, waitForSink } from '../lib/api.js';
import { BATCH, batchEvents } from '../lib/events.js';
import { publishAll } from '../lib/load.js';
import { epochNow, syncEpochClock } from '../lib/clock.js';
import { startBroker, startSinkProcess } from '../lib/processes.js';
import { formatNumber } from '../lib/report.js';

/** The issue names no replay target; the batch-delivery target of (c) is the reference. */
const REFERENCE = 50_000;

export const replay: Scenario = {
  id: 'f',
  title: 'replay: a lagging subscription catching up',
  async run(context) {
    const out = output();
    const quick = context.mode === 'quick';
    const events = quick ? 100_000 : 1_000_000;
    const perRequest = 100;
    const sink = await startSinkProcess(context.placement);
    const broker = await startBroker({ placement: context.placement, name: 'replay' });
    try {
      context.log(`  preloading ${formatNumber(events)} events`);
      const url = new URL(broker.url);
      const published = await publishAll({
        origin: url.origin,
        path: '/',
        requests: events / perRequest,
        concurrency: 8,
        headers: { 'content-type': BATCH },
        body: batchEvents({ events: perRequest, eventSize: 256, type: 'com.example.bench.replay' }),
        timeoutMs: quick ? 30_000 : 240_000,
      });
      const stored = published.ok * perRequest;
      const ingestRate = stored / (published.elapsedMs / 1000);
      context.log(`  preloaded ${formatNumber(stored)} events at ${formatNumber(ingestRate)} events/s`);
      await resetSink(sink.url);
      syncEpochClock();
      const created = epochNow();
      await createSubscription(broker.adminUrl, {
        sink: `${sink.url}/deliver`,
        startAt: 'earliest',
        delivery: { contentMode: 'batch', batch: { maxEvents: 100, maxWait: 'PT0.1S' } },
      });
      const stats = await waitForSink(sink.url, stored, quick ? 30_000 : 180_000);
      const seconds = (stats.lastAt - created) / 1000;
      const rate = stats.events / seconds;
      const complete = stats.events >= stored;
      context.log(
        `  caught up ${formatNumber(stats.events)}/${formatNumber(stored)} in ${seconds.toFixed(2)} s (${formatNumber(rate)} events/s)`,
      );
      out.rows.push({
        scenario: 'f',
        name: `replay catch-up of ${formatNumber(events)} events${quick ? ' (quick mode; full mode: 1,000,000)' : ''}, batch delivery (100 per request)`,
        value: rate,
        unit: 'events/s',
        detail: `${seconds.toFixed(1)} s from subscription creation to the last delivery${complete ? '' : `; only ${stats.events} of ${stored} delivered in time`}`,
        target: complete
          ? { kind: 'at-least', min: REFERENCE, unit: 'events/s' }
          : { kind: 'custom', text: `≥ ${formatNumber(REFERENCE)} events/s, all delivered`, pass: false },
        data: { events: stored, published, sink: { ...stats, bySubscription: undefined } },
      });
      out.rows.push({
        scenario: 'f',
        name: `preload: ingress of ${formatNumber(events)} events in batches of ${perRequest}, 8 connections`,
        value: ingestRate,
        unit: 'events/s',
        detail: `${(published.elapsedMs / 1000).toFixed(1)} s`,
      });
      out.notes.push(
        `Replay has no target of its own in the issue; its "target" is the ${formatNumber(REFERENCE)} events/s batch-delivery target of (c).`,
      );
    } finally {
      await broker.stop();
      await sink.stop();
    }
    return out;
  },
};
