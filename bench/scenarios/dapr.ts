// SPDX-License-Identifier: Apache-2.0
// (dapr) Herald beside Dapr in the same run (`npm run bench -- --peer dapr`): the same load against
//   - Dapr 1.16's sidecar (daprd, standalone) with its NATS JetStream pub/sub component: `POST
//     /v1.0/publish/{pubsub}/{topic}`, delivering to an app that subscribed through `GET /dapr/subscribe`;
//   - Herald on the JetStream store, on a nats-server of its own built the same way;
//   - Herald on the embedded store;
// each with `--durability fsync` for Herald. Measured: publish throughput and latency (1 KB structured
// events, 50 connections, closed loop), publish → subscriber throughput of a burst, and publish →
// subscriber latency at a steady 500 events/s (open loop, from each event's intended send time).
// The subscriber is the bench sink for all three, receiving structured-mode CloudEvents.
import type { SinkStats } from '../lib/api.js';
import { createSubscription, resetSink, waitForSink } from '../lib/api.js';
import type { BenchContext, Scenario, ScenarioOutput } from '../lib/context.js';
import { output, sleep } from '../lib/context.js';
import { createStream, ensureDaprd, ensureNatsServer, startDaprd } from '../lib/dapr.js';
import { STRUCTURED, structuredEvent, structuredEvents, timedStructuredEvents } from '../lib/events.js';
import type { OpenLoopResult, PublishAllResult, ThroughputResult } from '../lib/load.js';
import { openLoop, publishAll } from '../lib/load.js';
import { runWrk } from '../lib/wrk.js';
import type { NatsHandle } from '../lib/nats.js';
import { startNats } from '../lib/nats.js';
import type { ServerHandle } from '../lib/processes.js';
import { startBroker, startSinkProcess } from '../lib/processes.js';
import type { Row } from '../lib/report.js';
import { formatNumber } from '../lib/report.js';

const EVENT_SIZE = 1024;
const CONNECTIONS = 50;
const RATE = 500;
const PUBSUB = 'bench-pubsub';
const STREAM = 'DAPR_BENCH';
/** Dapr topics are NATS subjects: one nobody subscribes to (publish phase), one the app subscribes to. */
const PUBLISH_TOPIC = 'bench.publish';
const DELIVER_TOPIC = 'bench.deliver';
const DAPR_VERSION = 'v1.16.0';

type SubjectKey = 'dapr' | 'jetstream' | 'embedded';

const LABEL: Record<SubjectKey, string> = {
  dapr: `Dapr ${DAPR_VERSION} (daprd → JetStream)`,
  jetstream: 'Herald on JetStream',
  embedded: 'Herald embedded',
};

/** A subject started and ready: where to publish before and after the subscriber is attached. */
interface Running {
  readonly publishOnly: URL;
  /** CPU time (user + system, ms) of the server side so far: broker or daprd, plus its nats-server. */
  cpuMs(): number;
  /** Attaches the subscriber (Herald: a subscription; Dapr's app subscribed at start) and says where to publish. */
  subscribe(): Promise<URL>;
  stop(): Promise<void>;
}

interface Measured {
  publish?: ThroughputResult;
  /** Server-side CPU per accepted publish, µs (broker or daprd, plus nats-server). */
  publishCpuUs?: number;
  latency?: { readonly run: OpenLoopResult; readonly sink: SinkStats };
  burst?: {
    readonly published: PublishAllResult;
    readonly sink: SinkStats;
    /** Events delivered ÷ (last delivery − first publish). */
    readonly eventsPerSec: number;
    readonly expected: number;
    /** Server-side CPU per event from the first publish to the last delivery, µs. */
    readonly cpuUs: number;
  };
  error?: string;
}

interface Plan {
  readonly latencyMs: number;
  readonly burst: number;
  readonly burstTimeoutMs: number;
}

const withNats = async <T>(
  context: BenchContext,
  natsBinary: string,
  use: (nats: NatsHandle) => Promise<T>,
): Promise<T> => {
  const nats = await startNats(natsBinary, context.placement);
  try {
    return await use(nats);
  } finally {
    await nats.stop();
  }
};

async function startHerald(
  context: BenchContext,
  sink: ServerHandle,
  name: string,
  nats: NatsHandle | undefined,
): Promise<Running> {
  const storeArgs = nats === undefined ? [] : ['--store', 'jetstream', '--nats-url', nats.url];
  const broker = await startBroker({
    placement: context.placement,
    name,
    args: [...storeArgs, '--durability', 'fsync'],
  });
  const root = new URL('/', broker.url);
  return {
    publishOnly: root,
    cpuMs: () => broker.process.cpuMs() + (nats?.cpuMs() ?? 0),
    async subscribe() {
      await createSubscription(broker.adminUrl, {
        sink: `${sink.url}/deliver`,
        delivery: { contentMode: 'structured' },
      });
      return root;
    },
    async stop() {
      await broker.stop();
    },
  };
}

/**
 * `HERALD_BENCH_DAPR_METADATA`: a JSON object of extra `pubsub.jetstream` metadata, e.g.
 * `{"concurrency":"parallel"}` to let daprd deliver in parallel instead of one message at a time.
 */
function componentOverrides(): Record<string, string> {
  const text = process.env['HERALD_BENCH_DAPR_METADATA'] ?? '';
  if (text === '') return {};
  const parsed = JSON.parse(text) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error('HERALD_BENCH_DAPR_METADATA must be a JSON object of strings');
  return Object.fromEntries(Object.entries(parsed).map(([name, value]) => [name, String(value)]));
}

async function startDapr(
  context: BenchContext,
  sink: ServerHandle,
  nats: NatsHandle,
  binary: string,
): Promise<Running> {
  await createStream(nats.url, STREAM, ['bench.>']);
  // daprd reads the app's subscriptions once, when it starts.
  const set = await fetch(`${sink.url}/_dapr-subscribe`, {
    method: 'POST',
    body: JSON.stringify([{ pubsubname: PUBSUB, topic: DELIVER_TOPIC, route: '/deliver' }]),
  });
  if (set.status !== 204) throw new Error(`sink refused the Dapr subscription list: ${set.status}`);
  const daprd = await startDaprd({
    componentMetadata: componentOverrides(),
    binary,
    natsUrl: nats.url,
    pubsubName: PUBSUB,
    streamName: STREAM,
    appPort: Number(new URL(sink.url).port),
    placement: context.placement,
  });
  return {
    publishOnly: new URL(`/v1.0/publish/${PUBSUB}/${PUBLISH_TOPIC}`, daprd.url),
    cpuMs: () => daprd.process.cpuMs() + nats.cpuMs(),
    subscribe() {
      return Promise.resolve(new URL(`/v1.0/publish/${PUBSUB}/${DELIVER_TOPIC}`, daprd.url));
    },
    stop: () => daprd.stop(),
  };
}

async function measure(
  context: BenchContext,
  sink: ServerHandle,
  plan: Plan,
  subject: SubjectKey,
  running: Running,
): Promise<Measured> {
  const out: Measured = {};
  const headers = { 'content-type': STRUCTURED };
  const log = (line: string): void => context.log(`  ${LABEL[subject]}: ${line}`);

  // Publish throughput, nobody subscribed.
  const publish = {
    url: running.publishOnly.href,
    connections: CONNECTIONS,
    request: { headers, body: structuredEvent(EVENT_SIZE) },
  };
  await runWrk({ ...publish, durationSec: context.warmupSec });
  const publishCpu = running.cpuMs();
  out.publish = await runWrk({ ...publish, durationSec: context.measureSec });
  out.publishCpuUs = ((running.cpuMs() - publishCpu) * 1000) / Math.max(1, out.publish.ok);
  log(
    `publish ${formatNumber(out.publish.requestsPerSec)} req/s, p50 ${out.publish.latencyMs.p50} ms, p99 ${out.publish.latencyMs.p99} ms, ${out.publish.non2xx} non-2xx, ${out.publish.errors} errors; server CPU ${formatNumber(out.publishCpuUs)} µs/request`,
  );

  const target = await running.subscribe();
  const path = target.pathname;
  await sleep(200);

  // Publish → subscriber latency at a steady rate (warm-up second not recorded).
  const timed = timedStructuredEvents(EVENT_SIZE);
  const steady = {
    origin: target.origin,
    path,
    rate: RATE,
    connections: 32,
    headers: () => headers,
    body: timed,
  };
  await resetSink(sink.url);
  const warm = await openLoop({ ...steady, durationMs: 1_000 });
  await waitForSink(sink.url, warm.ok, 20_000);
  await resetSink(sink.url);
  const run = await openLoop({ ...steady, durationMs: plan.latencyMs });
  const latencySink = await waitForSink(sink.url, run.ok, 30_000);
  out.latency = { run, sink: latencySink };
  log(
    `${RATE}/s for ${plan.latencyMs / 1000} s: delivered ${latencySink.events}/${run.sent}, p50 ${latencySink.latencyMs.p50} ms, p99 ${latencySink.latencyMs.p99} ms; publish p99 ${run.ackLatency.p99} ms`,
  );

  // Publish → subscriber throughput of a burst published as fast as accepted.
  await resetSink(sink.url);
  await sleep(200);
  const burstCpu = running.cpuMs();
  const published = await publishAll({
    origin: target.origin,
    path,
    requests: plan.burst,
    concurrency: CONNECTIONS,
    headers,
    body: structuredEvents(EVENT_SIZE),
    timeoutMs: 120_000,
  });
  const burstSink = await waitForSink(sink.url, published.ok, plan.burstTimeoutMs);
  const seconds = (burstSink.lastAt - published.startEpochMs) / 1000;
  out.burst = {
    published,
    sink: burstSink,
    eventsPerSec: burstSink.events / seconds,
    expected: published.ok,
    cpuUs: ((running.cpuMs() - burstCpu) * 1000) / Math.max(1, burstSink.events),
  };
  log(
    `burst of ${formatNumber(plan.burst)}: ${burstSink.events}/${published.ok} delivered, ${formatNumber(out.burst.eventsPerSec)} events/s first publish → last delivery; published at ${formatNumber(published.ok / (published.elapsedMs / 1000))}/s; server CPU ${formatNumber(out.burst.cpuUs)} µs/event`,
  );
  return out;
}

const ms = (value: number | null | undefined): string =>
  value === null || value === undefined ? '–' : formatNumber(value, 'ms');

function rows(results: Record<SubjectKey, Measured>, plan: Plan): Row[] {
  const out: Row[] = [];
  const dapr = results.dapr;
  const unavailable = (m: Measured): { unavailable: string } | object =>
    m.error === undefined ? {} : { unavailable: m.error };
  const base = (value: number | undefined, unit: string) =>
    value === undefined || !(value > 0) ? {} : { baseline: { name: LABEL.dapr, value, unit } };

  for (const key of ['dapr', 'jetstream', 'embedded'] as const) {
    const m = results[key];
    const p = m.publish;
    out.push({
      scenario: 'dapr',
      name: `publish, 1 structured 1 KB event per request, ${CONNECTIONS} connections: ${LABEL[key]}`,
      value: p?.requestsPerSec ?? null,
      unit: 'req/s',
      ...(p === undefined
        ? {}
        : {
            detail: `p50 ${p.latencyMs.p50} ms, p99 ${p.latencyMs.p99} ms, server CPU ${formatNumber(m.publishCpuUs ?? Number.NaN)} µs/request${p.non2xx + p.errors > 0 ? `, ${p.non2xx} non-2xx, ${p.errors} errors` : ''}`,
          }),
      ...(key === 'dapr' ? {} : base(dapr.publish?.requestsPerSec, 'req/s')),
      ...(key === 'jetstream' ? { target: { kind: 'ratio-to-baseline', min: 1.5 } as const } : {}),
      ...unavailable(m),
      data: { publish: p },
    });
  }
  for (const key of ['dapr', 'jetstream', 'embedded'] as const) {
    const m = results[key];
    const b = m.burst;
    const complete = b !== undefined && b.sink.events >= b.expected && b.published.failed === 0;
    out.push({
      scenario: 'dapr',
      name: `publish → subscriber throughput, burst of ${formatNumber(plan.burst)} events (${CONNECTIONS} publishers): ${LABEL[key]}`,
      value: b?.eventsPerSec ?? null,
      unit: 'events/s',
      ...(b === undefined
        ? {}
        : {
            detail:
              `published at ${formatNumber(b.published.ok / (b.published.elapsedMs / 1000))} events/s, server CPU ${formatNumber(b.cpuUs)} µs/event` +
              (complete
                ? ''
                : `; only ${b.sink.events} of ${b.expected} delivered, ${b.published.failed} publishes failed`),
          }),
      ...(key === 'dapr' ? {} : base(dapr.burst?.eventsPerSec, 'events/s')),
      ...(key === 'jetstream'
        ? {
            target: complete
              ? ({ kind: 'ratio-to-baseline', min: 2 } as const)
              : ({ kind: 'custom', text: '≥ 2.00 × Dapr, all delivered', pass: false } as const),
          }
        : {}),
      ...unavailable(m),
      data: { burst: b === undefined ? undefined : { ...b, sink: { ...b.sink, bySubscription: undefined } } },
    });
  }
  for (const [percentile, limit] of [
    ['p50', 2],
    ['p99', 10],
  ] as const) {
    for (const key of ['dapr', 'jetstream', 'embedded'] as const) {
      const m = results[key];
      const l = m.latency;
      const value = l?.sink.latencyMs[percentile] ?? null;
      const complete = l !== undefined && l.sink.events >= l.run.ok && l.run.failed === 0;
      out.push({
        scenario: 'dapr',
        name: `publish → subscriber latency ${percentile} at ${RATE} events/s: ${LABEL[key]}`,
        value,
        unit: 'ms',
        ...(l === undefined
          ? {}
          : {
              detail:
                `${percentile === 'p50' ? `p99 ${ms(l.sink.latencyMs.p99)}` : `p50 ${ms(l.sink.latencyMs.p50)}`}, max ${ms(l.sink.latencyMs.max)}; publish p99 ${ms(l.run.ackLatency.p99)}` +
                (complete
                  ? ''
                  : `; only ${l.sink.events} of ${l.run.sent} delivered, ${l.run.failed} publishes failed`),
            }),
        ...(key === 'dapr' ? {} : base(dapr.latency?.sink.latencyMs[percentile] ?? undefined, 'ms')),
        ...(key === 'jetstream'
          ? {
              target: {
                kind: 'custom',
                text: `≤ ${limit} ms, all delivered`,
                pass: complete && value !== null && value <= limit,
              } as const,
            }
          : {}),
        ...unavailable(m),
        data: {
          latency:
            l === undefined ? undefined : { run: l.run, sink: { ...l.sink, bySubscription: undefined } },
        },
      });
    }
  }
  return out;
}

/** The comparison at a glance: one line per measurement, one column per subject, ratios to Dapr. */
function comparisonTable(results: Record<SubjectKey, Measured>, plan: Plan): string {
  const num = (value: number | null | undefined, unit = ''): string =>
    value === null || value === undefined || !Number.isFinite(value) ? '–' : formatNumber(value, unit);
  const ratio = (value: number | null | undefined, dapr: number | null | undefined): string =>
    value === null || value === undefined || dapr === null || dapr === undefined || !(dapr > 0)
      ? '–'
      : `${(value / dapr).toFixed(2)} ×`;
  const lines = [
    `| measurement | ${LABEL.dapr} | ${LABEL.jetstream} | × Dapr | ${LABEL.embedded} | × Dapr | target (Herald on JetStream) | status |`,
    '|---|--:|--:|--:|--:|--:|---|---|',
  ];
  /** One measurement; `judge` (Herald on JetStream against Dapr) only where there is a target. */
  const line = (
    name: string,
    pick: (m: Measured) => number | null | undefined,
    unit: string,
    target?: { readonly text: string; readonly judge: (js: number, dapr: number) => boolean },
  ): void => {
    const d = pick(results.dapr);
    const j = pick(results.jetstream);
    const e = pick(results.embedded);
    const status =
      target === undefined
        ? ''
        : j === null || j === undefined || d === null || d === undefined
          ? '–'
          : target.judge(j, d)
            ? 'pass'
            : 'miss';
    lines.push(
      `| ${name} | ${num(d, unit)} | ${num(j, unit)} | ${ratio(j, d)} | ${num(e, unit)} | ${ratio(e, d)} | ${target?.text ?? ''} | ${status} |`,
    );
  };
  const burstComplete = (m: Measured): boolean =>
    m.burst !== undefined && m.burst.sink.events >= m.burst.expected && m.burst.published.failed === 0;
  const latencyComplete = (m: Measured): boolean =>
    m.latency !== undefined && m.latency.sink.events >= m.latency.run.ok && m.latency.run.failed === 0;
  line(`publish, 1 KB events, ${CONNECTIONS} connections`, (m) => m.publish?.requestsPerSec, 'req/s', {
    text: '≥ 1.5 × Dapr',
    judge: (j, d) => j >= 1.5 * d,
  });
  line('publish latency p50', (m) => m.publish?.latencyMs.p50, 'ms');
  line('publish latency p99', (m) => m.publish?.latencyMs.p99, 'ms');
  line('publish: server CPU per request', (m) => m.publishCpuUs, 'µs');
  line(
    `publish → subscriber, burst of ${formatNumber(plan.burst)}`,
    (m) => m.burst?.eventsPerSec,
    'events/s',
    {
      text: '≥ 2 × Dapr, all delivered',
      judge: (j, d) => j >= 2 * d && burstComplete(results.jetstream),
    },
  );
  line('publish → subscriber: server CPU per event', (m) => m.burst?.cpuUs, 'µs');
  line(`publish → subscriber p50 at ${RATE}/s`, (m) => m.latency?.sink.latencyMs.p50, 'ms', {
    text: '≤ 2 ms, all delivered',
    judge: (j) => j <= 2 && latencyComplete(results.jetstream),
  });
  line(`publish → subscriber p99 at ${RATE}/s`, (m) => m.latency?.sink.latencyMs.p99, 'ms', {
    text: '≤ 10 ms, all delivered',
    judge: (j) => j <= 10 && latencyComplete(results.jetstream),
  });
  return lines.join('\n');
}

const GUARANTEES = [
  '**What the answers mean.** Dapr answers `204` to `POST /v1.0/publish` once JetStream acknowledged the message',
  '(a PubAck: stored by nats-server, which by default writes to its file store and syncs it to disk every',
  '2 minutes, `sync_interval`); Herald on JetStream answers `202` at the same point, after the PubAck of every',
  'event of the request. Herald embedded with `--durability fsync` answers `202` only after the event is',
  'fsynced to its own disk, so it survives a machine crash, which the two others leave to nats-server.',
  'Herald validates each CloudEvent and deduplicates on (`source`, `id`) within its window; Dapr’s component',
  'deduplicates on the event `id` alone (its `Nats-Msg-Id`) within the stream’s 2-minute window.',
  '',
  '**Delivery.** Both are at-least-once: Dapr acknowledges the JetStream message after the app answered',
  '2xx and otherwise NAKs it for redelivery; Herald moves a subscription’s cursor past an event after the',
  'sink answered 2xx (or after its retries, into the dead-letter store). With its defaults Dapr delivers one',
  'message at a time per subscription (`concurrency: single`) through an ephemeral consumer (no `durableName`:',
  'a restarted daprd starts a new consumer from the start of the stream), Herald up to 16 at a time',
  '(`maxInFlight`) from a cursor that persists across restarts (on JetStream committed every 200 ms, so a',
  'restart repeats at most that much). Both ran with their defaults here.',
].join('\n');

export const daprPeer: Scenario = {
  id: 'dapr',
  title: 'Herald beside Dapr: publish and publish → subscriber on JetStream',
  async run(context) {
    const out: ScenarioOutput = output();
    const quick = context.mode === 'quick';
    const plan: Plan = {
      latencyMs: quick ? 4_000 : 20_000,
      burst: quick ? 10_000 : 50_000,
      burstTimeoutMs: quick ? 60_000 : 180_000,
    };
    const natsBinary = ensureNatsServer(context.log);
    let daprd: string | undefined;
    let daprError: string | undefined;
    try {
      daprd = ensureDaprd(context.log);
    } catch (error) {
      daprError = (error as Error).message;
    }
    const results: Record<SubjectKey, Measured> = { dapr: {}, jetstream: {}, embedded: {} };
    const sink = await startSinkProcess(context.placement);
    const attempt = async (key: SubjectKey, start: () => Promise<Running>): Promise<void> => {
      context.log(`  ${LABEL[key]}`);
      let running: Running | undefined;
      try {
        running = await start();
        Object.assign(results[key], await measure(context, sink, plan, key, running));
      } catch (error) {
        const message = (error as Error).message.split('\n')[0] ?? String(error);
        context.log(`  ${LABEL[key]} failed: ${(error as Error).stack ?? message}`);
        results[key].error = message.slice(0, 300);
      } finally {
        await running?.stop();
      }
    };
    try {
      if (daprd === undefined) results.dapr.error = `daprd was not built: ${daprError ?? ''}`;
      else {
        const binary = daprd;
        await withNats(context, natsBinary, (nats) =>
          attempt('dapr', () => startDapr(context, sink, nats, binary)),
        );
      }
      await withNats(context, natsBinary, (nats) =>
        attempt('jetstream', () => startHerald(context, sink, 'dapr-peer-jetstream', nats)),
      );
      await attempt('embedded', () => startHerald(context, sink, 'dapr-peer-embedded', undefined));
    } finally {
      await sink.stop();
    }
    out.rows.push(...rows(results, plan));
    out.sections.push(
      [
        `### Herald beside Dapr (${context.mode} mode)`,
        '',
        comparisonTable(results, plan),
        '',
        `Same load for all three, from one process on the load core: 1 KB structured CloudEvents (\`application/cloudevents+json\`); publish throughput over ${context.measureSec} s with ${CONNECTIONS} connections after ${context.warmupSec} s of warm-up, nobody subscribed; then one subscriber (the bench sink, structured-mode deliveries) and latency from each event's intended send time to its arrival at ${RATE} events/s for ${plan.latencyMs / 1000} s (open loop); then a burst of ${formatNumber(plan.burst)} events published as fast as accepted (${CONNECTIONS} in flight), throughput = events ÷ (last delivery − first publish). Herald with \`--durability fsync\`; nats-server (test/infra/nats) with JetStream on a file store, one per JetStream subject, on the server core beside the broker or daprd.`,
        '',
        GUARANTEES,
        ...(process.env['HERALD_BENCH_DAPR_METADATA'] === undefined
          ? []
          : ['', `Dapr component metadata added: \`${process.env['HERALD_BENCH_DAPR_METADATA']}\`.`]),
      ].join('\n'),
    );
    return out;
  },
};
