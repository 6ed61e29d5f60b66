// SPDX-License-Identifier: Apache-2.0
// (h) Memory and start-up of the broker on the embedded store: RSS with 10,000 subscriptions, RSS with
// 1,000,000 retained events (published through ingress, so all of them are inside the dedupe window),
// and the time from spawning the broker to a 200 from /readyz with 10,000,000 events in the log. The
// 10-million-event database is written with direct SQLite inserts of the store's own blocks (seconds,
// not the minutes ingress would take) and cached under the temporary directory for later runs.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { EmbeddedEventStore } from '../../src/store/embedded/index.js';
import { BlockEncoder } from '../../src/store/embedded/block-codec.js';
import { DedupeIndex } from '../../src/store/embedded/dedupe-index.js';
import { INSERT_BLOCK } from '../../src/store/embedded/event-blocks.js';
import type { BenchContext, Scenario, ScenarioOutput } from '../lib/context.js';
import { output, sleep } from '../lib/context.js';
import { createSubscription } from '../lib/api.js';
import { BATCH, batchEvents } from '../lib/events.js';
import { publishAll } from '../lib/load.js';
import { brokerNodeFlags, startBroker } from '../lib/processes.js';
import type { BrokerHandle } from '../lib/processes.js';
import { formatNumber } from '../lib/report.js';

const MB = 1024 * 1024;
/**
 * The brokers here run with the Node.js command line `npm start` uses (no options): memory is measured as
 * users run the broker. `--single-threaded-gc`, the option the other scenarios use pinned (docs/operations.md
 * "A broker on one CPU"), trades memory for latency on Node 24 (bench/PROFILE.md, twenty-third round).
 */
const NODE_FLAGS: readonly string[] = [];
const RSS_TARGET_MB = 200;
const STARTUP_TARGET_MS = 2_000;

/** RSS after the broker settled: the median of a few samples a quarter second apart, in MB. */
async function settledRssMb(broker: BrokerHandle): Promise<number> {
  await sleep(2_000);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    samples.push(broker.process.rss() / MB);
    await sleep(250);
  }
  samples.sort((a, b) => a - b);
  return samples[2] ?? Number.NaN;
}

async function inParallel(count: number, concurrency: number, task: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

async function rssWithSubscriptions(context: BenchContext, out: ScenarioOutput): Promise<void> {
  const count = context.mode === 'quick' ? 2_000 : 10_000;
  const broker = await startBroker({
    placement: context.placement,
    name: 'footprint-subscriptions',
    nodeFlags: NODE_FLAGS,
  });
  try {
    const idle = await settledRssMb(broker);
    const started = performance.now();
    // Exact filters that never match and a sink nobody listens on: only the definitions' cost.
    await inParallel(count, 16, (i) =>
      createSubscription(broker.adminUrl, {
        sink: 'http://127.0.0.1:9/never',
        filters: [{ exact: { type: `com.example.bench.footprint.${i}` } }],
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const rss = await settledRssMb(broker);
    context.log(
      `  ${formatNumber(count)} subscriptions: RSS ${rss.toFixed(0)} MB (idle ${idle.toFixed(0)} MB)`,
    );
    out.rows.push({
      scenario: 'h',
      name: `broker RSS with ${formatNumber(count)} subscriptions${context.mode === 'quick' ? ' (quick mode; full mode: 10,000)' : ''}`,
      value: rss,
      unit: 'MB',
      detail: `idle broker ${idle.toFixed(0)} MB; created through POST /subscriptions in ${seconds.toFixed(1)} s`,
      target: { kind: 'at-most', max: RSS_TARGET_MB, unit: 'MB' },
      data: { count, idleMb: idle, rssMb: rss, createSeconds: seconds },
    });
  } finally {
    await broker.stop();
  }
}

async function rssWithRetainedEvents(context: BenchContext, out: ScenarioOutput): Promise<void> {
  const events = context.mode === 'quick' ? 100_000 : 1_000_000;
  const perRequest = 100;
  const broker = await startBroker({
    placement: context.placement,
    name: 'footprint-events',
    nodeFlags: NODE_FLAGS,
  });
  try {
    const published = await publishAll({
      origin: new URL(broker.url).origin,
      path: '/',
      requests: events / perRequest,
      concurrency: 8,
      headers: { 'content-type': BATCH },
      body: batchEvents({ events: perRequest, eventSize: 256, type: 'com.example.bench.footprint' }),
      timeoutMs: 300_000,
    });
    const stored = published.ok * perRequest;
    const rss = await settledRssMb(broker);
    context.log(`  ${formatNumber(stored)} retained events: RSS ${rss.toFixed(0)} MB`);
    out.rows.push({
      scenario: 'h',
      name: `broker RSS with ${formatNumber(events)} retained events of ~256 B, all within the dedupe window${context.mode === 'quick' ? ' (quick mode; full mode: 1,000,000)' : ''}`,
      value: rss,
      unit: 'MB',
      detail: `${formatNumber(stored)} published through ingress in ${(published.elapsedMs / 1000).toFixed(1)} s, ${published.failed} requests failed`,
      target:
        stored === events
          ? { kind: 'at-most', max: RSS_TARGET_MB, unit: 'MB' }
          : { kind: 'custom', text: `≤ ${RSS_TARGET_MB} MB, every event stored`, pass: false },
      data: { events: stored, rssMb: rss, published },
    });
  } finally {
    await broker.stop();
  }
}

/** Events per commit group (one block each) in the cached log, as group commit forms them under load. */
const GROUP = 100;

/**
 * A data directory holding `events` events written straight into the embedded store's blocks with the
 * store's own encoder (the schema comes from opening the store itself), cached across runs: a marker
 * file says it is complete.
 */
async function cachedLog(context: BenchContext, events: number): Promise<string> {
  const dir = path.join(tmpdir(), 'herald-bench-cache', `log-blocks-${events}`);
  const marker = path.join(dir, 'complete');
  if (existsSync(marker)) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  context.log(`  writing ${formatNumber(events)} events to ${dir} (cached for later runs)`);
  const schema = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
  const file = schema.file;
  await schema.close();
  const db = new Database(file);
  db.pragma('journal_mode = DELETE');
  db.pragma('synchronous = OFF');
  const insert = db.prepare(INSERT_BLOCK);
  const encoder = new BlockEncoder();
  const data = Buffer.from(JSON.stringify({ p: 'x'.repeat(100) }));
  const source = '/bench/footprint';
  // One day of history, oldest first, in groups of GROUP events sharing a time, as the store writes.
  const from = Date.now() - 86_400_000;
  const step = (86_400_000 / events) * GROUP;
  const chunk = 200_000;
  const writeChunk = db.transaction((first: number, last: number) => {
    for (let seq = first; seq <= last; seq++) {
      const id = randomUUID();
      const attrs = `{"specversion":"1.0","id":"${id}","source":"${source}","type":"com.example.bench.startup","datacontenttype":"application/json"}`;
      const storedAt = Math.floor(from + Math.floor((seq - 1) / GROUP) * step);
      encoder.add(seq, storedAt, attrs, data, 1, null, DedupeIndex.hash(`${source} ${id}`));
      if (seq % GROUP === 0 || seq === last) for (const block of encoder.finish()) insert.run(...block);
    }
  });
  for (let first = 1; first <= events; first += chunk) writeChunk(first, Math.min(events, first + chunk - 1));
  db.pragma('journal_mode = WAL');
  db.close();
  writeFileSync(marker, `${new Date().toISOString()}\n`);
  context.log(
    `  wrote ${formatNumber(events)} events in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return dir;
}

/**
 * Prepares the cached log for a start: the newest `recent` events are moved into the dedupe window
 * (as after a restart under load), and `forgetCounts` removes the counts a broker saves on close, as a
 * database written by a build without them would be.
 */
function prepareLog(dir: string, events: number, recent: number, forgetCounts: boolean): void {
  const db = new Database(path.join(dir, 'default.db'));
  const now = Date.now();
  db.prepare('UPDATE event_blocks SET stored_at = ? WHERE first_seq > ?').run(now - 1_000, events - recent);
  if (forgetCounts) db.prepare("DELETE FROM meta WHERE key LIKE 'count_%'").run();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

async function readyAfterMs(broker: BrokerHandle, spawnedAt: number): Promise<number> {
  for (;;) {
    try {
      const response = await request(`${broker.adminUrl}/readyz`);
      await response.body.dump();
      if (response.statusCode === 200) return performance.now() - spawnedAt;
    } catch {
      // not listening yet
    }
    if (performance.now() - spawnedAt > 120_000) throw new Error('the broker was not ready within 120 s');
    await sleep(5);
  }
}

async function startUp(
  context: BenchContext,
  dir: string,
  name: string,
): Promise<{ readyMs: number; rssMb: number }> {
  const spawnedAt = performance.now();
  const broker = await startBroker({
    placement: context.placement,
    name,
    dataDir: dir,
    nodeFlags: NODE_FLAGS,
  });
  try {
    const readyMs = await readyAfterMs(broker, spawnedAt);
    return { readyMs, rssMb: broker.process.rss() / MB };
  } finally {
    await broker.stop();
  }
}

async function startUpWithLargeLog(context: BenchContext, out: ScenarioOutput): Promise<void> {
  const events = context.mode === 'quick' ? 1_000_000 : 10_000_000;
  const recent = events / 100;
  const dir = await cachedLog(context, events);
  const quickNote = context.mode === 'quick' ? ' (quick mode; full mode: 10,000,000)' : '';
  prepareLog(dir, events, recent, true);
  const first = await startUp(context, dir, 'footprint-startup-first');
  prepareLog(dir, events, recent, false);
  const steady = await startUp(context, dir, 'footprint-startup');
  context.log(
    `  start-up with ${formatNumber(events)} events: ${steady.readyMs.toFixed(0)} ms (first open, counting the log: ${first.readyMs.toFixed(0)} ms)`,
  );
  out.rows.push({
    scenario: 'h',
    name: `start-up to /readyz with ${formatNumber(events)} events in the log, ${formatNumber(recent)} of them in the dedupe window${quickNote}`,
    value: steady.readyMs,
    unit: 'ms',
    detail: `spawn → 200 from /readyz; RSS when ready ${steady.rssMb.toFixed(0)} MB`,
    target: { kind: 'below', max: STARTUP_TARGET_MS, unit: 'ms' },
    data: { events, recent, ...steady },
  });
  out.rows.push({
    scenario: 'h',
    name: `first start-up on that log without saved counts (a database written before they were kept)${quickNote}`,
    value: first.readyMs,
    unit: 'ms',
    detail: `counts the whole log once; RSS when ready ${first.rssMb.toFixed(0)} MB`,
    data: { events, recent, ...first },
  });
}

export const footprint: Scenario = {
  id: 'h',
  title: 'memory and start-up: RSS with many subscriptions and events, start-up with a large log',
  async run(context) {
    const out = output();
    await rssWithSubscriptions(context, out);
    await rssWithRetainedEvents(context, out);
    await startUpWithLargeLog(context, out);
    out.notes.push(
      `RSS is VmRSS of the broker process 2 s after the load, median of 5 samples; broker Node.js options here: ${brokerNodeFlags(context.placement, NODE_FLAGS).join(' ') || 'none, as `npm start`'}, with the broker's own defaults (--heap-semi-space 16MiB); the 10,000,000-event log is written once with direct SQLite inserts of event blocks (groups of 100 events, as the store writes them) and cached under the temporary directory.`,
    );
    return out;
  },
};
