// SPDX-License-Identifier: Apache-2.0
// The soak test (`npm run soak -- --duration 3m`): one broker on loopback under mixed publishers,
// hostile sinks (slow, trickling, huge error bodies, resets, redirects) in their own processes,
// costly CESQL filters with huge subjects, and SSE readers, for a bounded time. It reports the
// broker's RSS over time, its event-loop delay p99 (from /metrics), /healthz latency, and lost
// events (accepted by the broker but never delivered to the counting sink: must be 0).
// Not part of `npm test`. Exit code 1 when an event was lost or the broker died.
import http from 'node:http';
import { cpus, loadavg } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { parseDuration } from '../../src/config/index.js';
import { LOAD_CORE, ROOT, spawnProcess, startBroker, stopAll } from '../lib/processes.js';
import type { ManagedChild } from '../lib/processes.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '3m' },
    rate: { type: 'string', default: '200' },
    drain: { type: 'string', default: '60s' },
    // The error body of the `huge` sink, in MB.
    'huge-body-mb': { type: 'string', default: '20' },
  },
});
const durationMs = parseDuration(values.duration) ?? 180_000;
const drainMs = parseDuration(values.drain) ?? 60_000;
const rate = Number(values.rate);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type SinkMode = 'counting' | 'slow' | 'trickle' | 'huge' | 'reset' | 'redirect';

async function startSink(mode: SinkMode): Promise<{ url: string; child: ManagedChild }> {
  const child = spawnProcess(
    `sink ${mode}`,
    process.execPath,
    [path.join(HERE, 'hostile-sink.js'), mode, values['huge-body-mb']],
    { pin: false },
    LOAD_CORE,
  );
  const port = await child.waitForLine((line) => (JSON.parse(line) as { port?: number }).port);
  return { url: `http://127.0.0.1:${port}`, child };
}

async function json(method: string, url: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

function metric(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

const costlyFilter = Array.from({ length: 30 }, (_, i) => `LOWER(subject) LIKE '%needle-${i}%'`).join(' OR ');

async function main(): Promise<void> {
  // HERALD_SOAK_CPU_PROF=dir writes a CPU profile of the broker there (to find what costs event-loop time).
  const cpuProfDir = process.env['HERALD_SOAK_CPU_PROF'];
  const broker = await startBroker({
    placement: { pin: false },
    name: 'soak-broker',
    ...(cpuProfDir === undefined ? {} : { cpuProfDir }),
  });
  const sinks = await Promise.all(
    (['counting', 'slow', 'trickle', 'huge', 'reset', 'redirect'] as const).map(
      async (mode) => [mode, await startSink(mode)] as const,
    ),
  );
  const sinkUrl = Object.fromEntries(sinks.map(([mode, sink]) => [mode, sink.url])) as Record<
    SinkMode,
    string
  >;
  const stats = {
    accepted: new Set<string>(),
    published: 0,
    refused: new Map<number, number>(),
    sseMessages: 0,
    sseRefused: new Map<number, number>(),
  };
  try {
    // The counting sink gets every soak.event (the lost-events check); the hostile ones get everything.
    const subscriptions: unknown[] = [
      { sink: `${sinkUrl.counting}/all`, filters: [{ exact: { type: 'soak.event' } }] },
      ...(['slow', 'trickle', 'huge', 'reset', 'redirect'] as const).map((mode) => ({
        sink: `${sinkUrl[mode]}/${mode}`,
        delivery: { retry: 2, backoffDelay: 'PT0.5S', timeout: 'PT3S', maxInFlight: 2 },
      })),
      ...Array.from({ length: 5 }, (_, i) => ({
        sink: `${sinkUrl.counting}/costly-${i}`,
        filters: [{ sql: costlyFilter }],
      })),
    ];
    for (const subscription of subscriptions) {
      const created = await json('POST', `${broker.adminUrl}/subscriptions`, {
        protocol: 'HTTP',
        ...(subscription as object),
      });
      if (created.status !== 201) throw new Error(`subscription refused: ${JSON.stringify(created.body)}`);
    }

    let running = true;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const post = (headers: Record<string, string>, body: string | undefined, ids: readonly string[]) =>
      new Promise<void>((resolve) => {
        const req = http.request(`${broker.url}/events`, { method: 'POST', agent, headers }, (res) => {
          res.resume();
          res.on('end', () => {
            stats.published += ids.length;
            if (res.statusCode === 202) for (const id of ids) stats.accepted.add(id);
            else stats.refused.set(res.statusCode ?? 0, (stats.refused.get(res.statusCode ?? 0) ?? 0) + 1);
            resolve();
          });
        });
        req.on('error', () => resolve());
        req.end(body);
      });
    let sequence = 0;
    const nextId = () => `soak-${++sequence}`;
    /** Runs `send` about `perSecond` times a second until the soak ends. */
    const paced = async (perSecond: number, send: () => Promise<void>) => {
      const interval = 1000 / perSecond;
      let next = performance.now();
      while (running) {
        await send();
        next += interval;
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
        else next = performance.now();
      }
    };
    const publishers = [
      // Binary singles.
      paced(rate * 0.4, () => {
        const id = nextId();
        return post(
          {
            'ce-specversion': '1.0',
            'ce-id': id,
            'ce-source': '/soak',
            'ce-type': 'soak.event',
            'content-type': 'application/json',
          },
          JSON.stringify({ id }),
          [id],
        );
      }),
      // Batches of 50.
      paced((rate * 0.4) / 50, () => {
        const ids = Array.from({ length: 50 }, nextId);
        const body = JSON.stringify(
          ids.map((id) => ({ specversion: '1.0', id, source: '/soak', type: 'soak.event', data: { id } })),
        );
        return post({ 'content-type': 'application/cloudevents-batch+json' }, body, ids);
      }),
      // Structured singles, some matching the costly filters.
      paced(rate * 0.2, () => {
        const id = nextId();
        const subject = `item ${sequence % 7 === 0 ? 'NEEDLE-3' : 'plain'} ${id}`;
        const body = JSON.stringify({ specversion: '1.0', id, source: '/soak', type: 'soak.event', subject });
        return post({ 'content-type': 'application/cloudevents+json' }, body, [id]);
      }),
      // Huge subjects against the costly filters (not counted: binary delivery cannot carry them).
      paced(1, () => {
        const body = JSON.stringify({
          specversion: '1.0',
          id: `big-${++sequence}`,
          source: '/soak',
          type: 'soak.big',
          subject: 'Q'.repeat(500_000),
        });
        return post({ 'content-type': 'application/cloudevents+json' }, body, []);
      }),
    ];

    // SSE readers: 70 from four client addresses (plain, filtered, costly-filtered; every tenth never
    // reads), and 70 from one greedy client that never reads (over --max-streams-per-client).
    const streams: http.ClientRequest[] = [];
    const openStream = (i: number) => {
      const filter = [undefined, "type = 'soak.event'", costlyFilter][i % 3];
      const query = filter === undefined ? '' : `?filter=${encodeURIComponent(filter)}`;
      const greedy = i >= 70;
      const agentFor = new http.Agent({ localAddress: greedy ? '127.0.0.9' : `127.0.0.${2 + (i % 4)}` });
      const req = http.get(`${broker.adminUrl}/events/stream${query}`, { agent: agentFor }, (res) => {
        if (res.statusCode !== 200) {
          stats.sseRefused.set(res.statusCode ?? 0, (stats.sseRefused.get(res.statusCode ?? 0) ?? 0) + 1);
          res.resume();
          return;
        }
        // Every tenth reader stalls: the broker must not buffer for it without bound.
        if (greedy || i % 10 === 9) return;
        res.on('data', (chunk: Buffer) => {
          for (
            let at = chunk.indexOf('event: cloudevent');
            at >= 0;
            at = chunk.indexOf('event: cloudevent', at + 1)
          )
            stats.sseMessages++;
        });
      });
      req.on('error', () => undefined);
      streams.push(req);
    };
    for (let i = 0; i < 140; i++) openStream(i);

    // Probes: /healthz every 100 ms, RSS and event-loop delay every 5 s.
    const healthz = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000,
      numberOfSignificantValueDigits: 3,
    });
    let healthzFailures = 0;
    const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const probe = (async () => {
      while (running) {
        const started = performance.now();
        const ok = await new Promise<boolean>((resolve) => {
          const req = http.get(`${broker.adminUrl}/healthz`, { agent: probeAgent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode === 200));
          });
          req.on('error', () => resolve(false));
        });
        if (ok) healthz.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
        else healthzFailures++;
        await sleep(100);
      }
    })();
    const samples: Array<{ t: number; rssMB: number; loopP99ms: number | undefined; load1: number }> = [];
    const startedAt = Date.now();
    const sampler = (async () => {
      while (running) {
        await sleep(5000);
        const text = await (await fetch(`${broker.adminUrl}/metrics`)).text().catch(() => '');
        const loop = metric(text, 'nodejs_eventloop_lag_p99_seconds');
        const sample = {
          t: Math.round((Date.now() - startedAt) / 1000),
          rssMB: Math.round(rssOf(broker.process.pid) / 1e5) / 10,
          loopP99ms: loop === undefined ? undefined : Math.round(loop * 10_000) / 10,
          // The machine's 1-minute load average: event-loop delay includes time spent waiting for a CPU.
          load1: Math.round((loadavg()[0] ?? 0) * 10) / 10,
        };
        samples.push(sample);
        process.stdout.write(
          `${JSON.stringify({ ...sample, accepted: stats.accepted.size, sse: stats.sseMessages })}\n`,
        );
      }
    })();

    await sleep(durationMs);
    running = false;
    await Promise.all([...publishers, probe, sampler]);
    for (const stream of streams) stream.destroy();

    // Drain: every accepted soak.event must reach the counting sink.
    let received = new Set<string>();
    const drainUntil = Date.now() + drainMs;
    for (;;) {
      const body = (await json('GET', `${sinkUrl.counting}/_ids`)).body as { ids: string[] };
      received = new Set(body.ids);
      const missing = [...stats.accepted].filter((id) => !received.has(id)).length;
      if (missing === 0 || Date.now() > drainUntil) break;
      await sleep(1000);
    }
    const lost = [...stats.accepted].filter((id) => !received.has(id));
    const finalMetrics = await (await fetch(`${broker.adminUrl}/metrics`)).text();
    const limits = finalMetrics
      .split('\n')
      .filter(
        (l) =>
          l.startsWith('herald_limit_rejections_total') ||
          l.startsWith('herald_filter_budget_exceeded_total'),
      );
    const loops = samples.map((s) => s.loopP99ms ?? 0);
    const report = {
      durationSeconds: durationMs / 1000,
      hugeBodyMB: Number(values['huge-body-mb']),
      targetRate: rate,
      published: stats.published,
      accepted: stats.accepted.size,
      refused: Object.fromEntries(stats.refused),
      lost: lost.length,
      lostSample: lost.slice(0, 10),
      sseMessages: stats.sseMessages,
      sseRefused: Object.fromEntries(stats.sseRefused),
      healthz: {
        probes: healthz.totalCount,
        failures: healthzFailures,
        p50ms: healthz.getValueAtPercentile(50) / 1000,
        p99ms: healthz.getValueAtPercentile(99) / 1000,
        maxMs: healthz.maxValue / 1000,
      },
      eventLoopDelayP99ms: {
        max: Math.max(...loops),
        median: loops.sort((a, b) => a - b)[Math.floor(loops.length / 2)],
      },
      rssMB: {
        max: Math.max(...samples.map((s) => s.rssMB)),
        last: samples[samples.length - 1]?.rssMB,
        samples,
      },
      loadAverage: { cpus: cpus().length, max: Math.max(...samples.map((s) => s.load1)) },
      limits,
      brokerAlive: broker.process.alive,
    };
    const file = path.join(
      ROOT,
      'bench/results',
      `soak-${new Date().toISOString().replaceAll(':', '-')}.json`,
    );
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(
      `${JSON.stringify({ ...report, rssMB: { max: report.rssMB.max, last: report.rssMB.last } }, null, 2)}\nreport: ${file}\n`,
    );
    process.exitCode = lost.length === 0 && report.brokerAlive ? 0 : 1;
  } finally {
    // Sinks first: attempts still open to a trickling sink then fail at once and the broker stops
    // promptly (and writes its CPU profile, when asked for one).
    await Promise.all(sinks.map(([, sink]) => sink.child.stop(5_000)));
    const profile = await broker.stop();
    if (profile !== undefined) process.stdout.write(`broker CPU profile: ${profile}\n`);
  }
}

main().catch(async (error: unknown) => {
  console.error(error);
  await stopAll();
  process.exit(1);
});
