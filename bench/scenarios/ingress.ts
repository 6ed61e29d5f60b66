// SPDX-License-Identifier: Apache-2.0
// (a) one 1 KB event per request over many connections, in structured and in binary mode, and (b) batches of 100 events of
// about 256 bytes, each against a bare node:http server answering 202 (the baseline) and against the
// broker with its default durable (fsync) embedded store.
import type { BenchContext, Scenario, ScenarioOutput } from '../lib/context.js';
import { output } from '../lib/context.js';
import {
  BATCH,
  STRUCTURED,
  batchEvents,
  binaryEvents,
  jsonPayload,
  structuredEvents,
} from '../lib/events.js';
import type { ThroughputResult } from '../lib/load.js';
import { runAutocannon } from '../lib/load.js';
import type { ManagedChild, ServerHandle } from '../lib/processes.js';
import { startBaselineServer, startBroker } from '../lib/processes.js';
import type { ProfileWindow } from '../lib/profile.js';
import { monotonicMicros, summariseProfile } from '../lib/profile.js';
import { formatNumber } from '../lib/report.js';

interface Load {
  readonly connections: number;
  readonly contentType: string;
  readonly body: () => () => string;
  /** Per-request headers (binary mode: the event's attributes, with a unique id). */
  readonly requestHeaders?: () => () => Record<string, string>;
  /** Events per request. */
  readonly events: number;
}

const SINGLE: Load = {
  connections: 50,
  contentType: STRUCTURED,
  body: () => structuredEvents(1024),
  events: 1,
};

/** (a) in binary mode: the attributes of the structured 1 KB event in ce-* headers, its data as the body. */
const SINGLE_BINARY: Load = {
  connections: 50,
  contentType: 'application/json',
  body: () => {
    const data = jsonPayload(1024 - 200);
    return () => data;
  },
  requestHeaders: () => {
    const next = binaryEvents('com.example.bench.ingress');
    return () => {
      const headers = next(0);
      delete headers['ce-benchsent'];
      delete headers['content-type'];
      return { ...headers, 'ce-source': '/bench/ingress', 'ce-time': '2026-11-01T12:00:00Z' };
    };
  },
  events: 1,
};

const BATCHES: Load = {
  connections: 16,
  contentType: BATCH,
  body: () => batchEvents({ events: 100, eventSize: 256 }),
  events: 100,
};

interface Measured extends ThroughputResult {
  /** CPU time (user + system, all threads) of the server process per 2xx request, in microseconds. */
  readonly serverCpuMicrosPerRequest: number;
  /** Share of that CPU time spent in the kernel (socket I/O, and for the broker WAL writes and fsync). */
  readonly serverKernelShare: number;
  readonly window: ProfileWindow;
}

async function measure(
  context: BenchContext,
  url: string,
  load: Load,
  what: string,
  server: ManagedChild,
): Promise<Measured> {
  const headers = { 'content-type': load.contentType };
  context.log(`  ${what}: warm-up ${context.warmupSec} s`);
  await runAutocannon({
    url,
    connections: load.connections,
    durationSec: context.warmupSec,
    headers,
    body: load.body(),
    ...(load.requestHeaders === undefined ? {} : { requestHeaders: load.requestHeaders() }),
  });
  context.log(`  ${what}: measuring ${context.measureSec} s`);
  const cpuBefore = server.cpu();
  const fromUs = monotonicMicros();
  const run = await runAutocannon({
    url,
    connections: load.connections,
    durationSec: context.measureSec,
    headers,
    body: load.body(),
    ...(load.requestHeaders === undefined ? {} : { requestHeaders: load.requestHeaders() }),
  });
  const window = { fromUs, toUs: monotonicMicros() };
  const cpuAfter = server.cpu();
  const user = cpuAfter.user - cpuBefore.user;
  const system = cpuAfter.system - cpuBefore.system;
  const result = {
    ...run,
    window,
    serverCpuMicrosPerRequest: ((user + system) * 1000) / run.ok,
    serverKernelShare: system / (user + system),
  };
  context.log(
    `  ${what}: ${formatNumber(result.requestsPerSec)} req/s, p99 ${result.latencyMs.p99} ms, non-2xx ${result.non2xx}, errors ${result.errors}, server CPU ${result.serverCpuMicrosPerRequest.toFixed(1)} µs/request`,
  );
  return result;
}

function detail(result: Measured, baseline: Measured, events: number): string {
  const perEvent = (m: Measured): string =>
    (m.serverCpuMicrosPerRequest / events).toFixed(events > 1 ? 2 : 1);
  const parts = [
    `p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms`,
    `server CPU ${perEvent(result)} µs/${events > 1 ? 'event' : 'request'}, ${Math.round(result.serverKernelShare * 100)}% in the kernel (baseline ${perEvent(baseline)})`,
  ];
  if (events > 1) parts.unshift(`${formatNumber(result.requestsPerSec)} req/s`);
  if (result.non2xx > 0 || result.errors > 0) parts.push(`${result.non2xx} non-2xx, ${result.errors} errors`);
  return parts.join(', ');
}

async function withBaseline<T>(context: BenchContext, fn: (server: ServerHandle) => Promise<T>): Promise<T> {
  const server = await startBaselineServer(context.placement);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

async function runIngress(
  context: BenchContext,
  id: 'a' | 'b',
  load: Load,
  out: ScenarioOutput,
): Promise<void> {
  const mode = load === SINGLE_BINARY ? 'binary' : 'structured';
  const what = id === 'a' ? `${mode} 1 KB` : 'batch 100 × 256 B';
  const baseline = await withBaseline(context, (server) =>
    measure(context, `${server.url}/`, load, `baseline ${what}`, server.process),
  );
  const broker = await startBroker({
    placement: context.placement,
    ...(context.profileDir === undefined ? {} : { cpuProfDir: context.profileDir }),
    name: `ingress-${id}${load === SINGLE_BINARY ? '-binary' : ''}`,
  });
  let herald: Measured;
  let profile: string | undefined;
  try {
    herald = await measure(context, `${broker.url}/`, load, `herald ${what}`, broker.process);
  } finally {
    profile = await broker.stop();
  }
  const rows = out.rows;
  if (id === 'a') {
    rows.push({
      scenario: 'a',
      name: `ingress, 1 ${mode} 1 KB event per request, ${load.connections} connections, fsync`,
      value: herald.requestsPerSec,
      unit: 'req/s',
      detail: detail(herald, baseline, 1),
      baseline: { name: 'bare node:http 202', value: baseline.requestsPerSec, unit: 'req/s' },
      target: { kind: 'ratio-to-baseline', min: 0.6 },
      data: { herald, baseline },
    });
  } else {
    rows.push({
      scenario: 'b',
      name: `ingress, batches of 100 events of ~256 B, ${load.connections} connections, fsync`,
      value: herald.requestsPerSec * load.events,
      unit: 'events/s',
      detail: detail(herald, baseline, load.events),
      baseline: {
        name: 'bare node:http 202',
        value: baseline.requestsPerSec * load.events,
        unit: 'events/s',
      },
      target: { kind: 'at-least', min: 200_000, unit: 'events/s' },
      data: { herald, baseline },
    });
  }
  if (profile !== undefined) {
    out.profiles.push({
      title: `broker during (${id}) ${what}, measured run only`,
      summary: summariseProfile(profile, 15, herald.window),
    });
  }
}

export const ingressSingle: Scenario = {
  id: 'a',
  title: 'ingress, one 1 KB event per request',
  async run(context) {
    const out = output();
    await runIngress(context, 'a', SINGLE, out);
    await runIngress(context, 'a', SINGLE_BINARY, out);
    return out;
  },
};

export const ingressBatch: Scenario = {
  id: 'b',
  title: 'ingress, batches of 100',
  async run(context) {
    const out = output();
    await runIngress(context, 'b', BATCHES, out);
    return out;
  },
};
