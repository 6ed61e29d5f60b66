// SPDX-License-Identifier: Apache-2.0
// (a) one 1 KB event per request over many connections, in structured and in binary mode, and (b) batches of 100 events of
// about 256 bytes, each against a bare node:http server answering 202 (the baseline) and against the
// broker with its default durable (fsync) embedded store. (a) measures a third server in the same rounds,
// the durable floor (bench/lib/durable-floor.ts): what answering only after `fdatasync` costs at the least.
import type { BenchContext, Scenario, ScenarioOutput } from '../lib/context.js';
import { alternatingRounds, output } from '../lib/context.js';
import { BATCH, ID, STRUCTURED, batchEvent, jsonPayload, structuredEvent } from '../lib/events.js';
import type { ThroughputResult } from '../lib/load.js';
import { combineThroughput } from '../lib/load.js';
import type { CpuShare } from '../lib/cpu-share.js';
import { formatCpuShare, meanCpuShare, watchCpuShare } from '../lib/cpu-share.js';
import type { ManagedChild, ServerHandle } from '../lib/processes.js';
import { startBaselineServer, startBroker, startDurableFloorServer } from '../lib/processes.js';
import type { ProfileWindow } from '../lib/profile.js';
import { monotonicMicros, summariseProfile } from '../lib/profile.js';
import { formatNumber } from '../lib/report.js';
import type { RequestTemplate } from '../lib/wrk.js';
import { runWrk } from '../lib/wrk.js';

interface Load {
  readonly connections: number;
  readonly request: RequestTemplate;
  /** Events per request. */
  readonly events: number;
}

const SINGLE: Load = {
  connections: 50,
  request: { headers: { 'content-type': STRUCTURED }, body: structuredEvent(1024) },
  events: 1,
};

/** (a) in binary mode: the attributes of the structured 1 KB event in ce-* headers, its data as the body. */
const SINGLE_BINARY: Load = {
  connections: 50,
  request: {
    headers: {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': ID,
      'ce-source': '/bench/ingress',
      'ce-type': 'com.example.bench.ingress',
      'ce-time': '2026-11-01T12:00:00Z',
    },
    body: jsonPayload(1024 - 200),
  },
  events: 1,
};

const BATCHES: Load = {
  connections: 16,
  request: { headers: { 'content-type': BATCH }, body: batchEvent({ events: 100, eventSize: 256 }) },
  events: 100,
};

interface Measured extends ThroughputResult {
  /** CPU time (user + system, all threads) of the server process per 2xx request, in microseconds. */
  readonly serverCpuMicrosPerRequest: number;
  /** Share of that CPU time spent in the kernel (socket I/O, and for the broker WAL writes and fsync). */
  readonly serverKernelShare: number;
  readonly window: ProfileWindow;
  /** Cores used by the server's event-loop thread, its other threads and the load generator (mean over the rounds). */
  readonly cpuShare: CpuShare;
}

/** One server under test: where to send the load and whose CPU to count. */
interface Contender {
  readonly what: string;
  readonly url: string;
  readonly server: ManagedChild;
}

/** One measured run of `load` against a contender, with the server's CPU over exactly that run. */
async function measureOnce(contender: Contender, load: Load, seconds: number) {
  const cpuBefore = contender.server.cpu();
  const share = watchCpuShare({ broker: contender.server });
  const fromUs = monotonicMicros();
  const run = await runWrk({
    url: contender.url,
    connections: load.connections,
    durationSec: seconds,
    request: load.request,
  });
  const cpuAfter = contender.server.cpu();
  return {
    run,
    cpuShare: share.stop(),
    window: { fromUs, toUs: monotonicMicros() },
    user: cpuAfter.user - cpuBefore.user,
    system: cpuAfter.system - cpuBefore.system,
  };
}

/**
 * Warms every contender up, then measures them in alternating rounds (`alternatingRounds`: forwards in
 * even rounds, backwards in odd ones) and sums each one's rounds. The first contender is the baseline;
 * each other's per-round ratios to it are kept to show the spread.
 */
async function measureAlternating(
  context: BenchContext,
  contenders: readonly Contender[],
  load: Load,
): Promise<{ results: Measured[]; roundRatios: number[][] }> {
  for (const contender of contenders) {
    context.log(`  ${contender.what}: warm-up ${context.warmupSec} s`);
    await runWrk({
      url: contender.url,
      connections: load.connections,
      durationSec: context.warmupSec,
      request: load.request,
    });
  }
  const { rounds, seconds } = alternatingRounds(context);
  context.log(`  measuring ${rounds} alternating rounds of ${seconds} s each`);
  const runs: Awaited<ReturnType<typeof measureOnce>>[][] = contenders.map(() => []);
  const forwards = contenders.map((_, index) => index);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? forwards : [...forwards].reverse();
    for (const index of order) {
      runs[index]?.push(await measureOnce(contenders[index] as Contender, load, seconds));
    }
  }
  const combine = (mine: Awaited<ReturnType<typeof measureOnce>>[], what: string): Measured => {
    const combined = combineThroughput(mine.map((m) => m.run));
    const user = mine.reduce((sum, m) => sum + m.user, 0);
    const system = mine.reduce((sum, m) => sum + m.system, 0);
    const ok = combined.ok;
    const result: Measured = {
      ...combined,
      window: { fromUs: mine[0]?.window.fromUs ?? 0, toUs: mine[mine.length - 1]?.window.toUs ?? 0 },
      serverCpuMicrosPerRequest: ((user + system) * 1000) / ok,
      serverKernelShare: system / (user + system),
      cpuShare: meanCpuShare(mine.map((m) => ({ share: m.cpuShare, seconds: m.run.durationSec }))),
    };
    context.log(
      `  ${what}: ${formatNumber(result.requestsPerSec)} req/s, p99 ${result.latencyMs.p99} ms, non-2xx ${result.non2xx}, errors ${result.errors}, server CPU ${result.serverCpuMicrosPerRequest.toFixed(1)} µs/request`,
    );
    return result;
  };
  const base = runs[0] ?? [];
  const roundRatios = runs.map((mine) =>
    mine.map((m, round) => {
      const baseRate = base[round]?.run.requestsPerSec ?? 0;
      return baseRate > 0 ? m.run.requestsPerSec / baseRate : 0;
    }),
  );
  return {
    results: runs.map((mine, index) => combine(mine, contenders[index]?.what ?? '')),
    roundRatios,
  };
}

function detail(
  result: Measured,
  baseline: Measured,
  events: number,
  roundRatios: readonly number[],
): string {
  const perEvent = (m: Measured): string =>
    (m.serverCpuMicrosPerRequest / events).toFixed(events > 1 ? 2 : 1);
  const parts = [
    `p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms`,
    `server CPU ${perEvent(result)} µs/${events > 1 ? 'event' : 'request'}, ${Math.round(result.serverKernelShare * 100)}% in the kernel (baseline ${perEvent(baseline)})`,
  ];
  if (events > 1) parts.unshift(`${formatNumber(result.requestsPerSec)} req/s`);
  parts.push(formatCpuShare(result.cpuShare));
  if (roundRatios.length > 1) {
    parts.push(`ratio per alternating round ${roundRatios.map((r) => r.toFixed(2)).join(' / ')}`);
  }
  if (result.non2xx > 0 || result.errors > 0) parts.push(`${result.non2xx} non-2xx, ${result.errors} errors`);
  return parts.join(', ');
}

async function runIngress(
  context: BenchContext,
  id: 'a' | 'b',
  load: Load,
  out: ScenarioOutput,
): Promise<void> {
  const mode = load === SINGLE_BINARY ? 'binary' : 'structured';
  const what = id === 'a' ? `${mode} 1 KB` : 'batch 100 × 256 B';
  const servers: ServerHandle[] = [];
  let baseline: Measured;
  let herald: Measured;
  let floor: { result: Measured; roundRatios: number[] } | undefined;
  let roundRatios: number[];
  let profile: string | undefined;
  try {
    const bare = await startBaselineServer(context.placement);
    servers.push(bare);
    const contenders: Contender[] = [{ what: `baseline ${what}`, url: `${bare.url}/`, server: bare.process }];
    // (a) only: what a durable ingress costs at the least on this machine (bench/lib/durable-floor.ts).
    if (id === 'a') {
      const durable = await startDurableFloorServer(context.placement);
      servers.push(durable);
      contenders.push({ what: `durable floor ${what}`, url: `${durable.url}/`, server: durable.process });
    }
    const broker = await startBroker({
      placement: context.placement,
      ...(context.profileDir === undefined ? {} : { cpuProfDir: context.profileDir }),
      name: `ingress-${id}${load === SINGLE_BINARY ? '-binary' : ''}`,
    });
    try {
      contenders.push({ what: `herald ${what}`, url: `${broker.url}/`, server: broker.process });
      const measured = await measureAlternating(context, contenders, load);
      const last = contenders.length - 1;
      [baseline, herald] = [measured.results[0] as Measured, measured.results[last] as Measured];
      roundRatios = measured.roundRatios[last] ?? [];
      if (last === 2) {
        floor = { result: measured.results[1] as Measured, roundRatios: measured.roundRatios[1] ?? [] };
      }
    } finally {
      profile = await broker.stop();
    }
  } finally {
    for (const server of servers) await server.stop();
  }
  const rows = out.rows;
  if (id === 'a') {
    rows.push({
      scenario: 'a',
      name: `ingress, 1 ${mode} 1 KB event per request, ${load.connections} connections, fsync`,
      value: herald.requestsPerSec,
      unit: 'req/s',
      detail:
        detail(herald, baseline, 1, roundRatios) +
        (floor === undefined
          ? ''
          : `, ${(herald.requestsPerSec / floor.result.requestsPerSec).toFixed(2)} × the durable floor below`),
      baseline: { name: 'bare node:http 202', value: baseline.requestsPerSec, unit: 'req/s' },
      target: { kind: 'ratio-to-baseline', min: 0.6 },
      data: { herald, baseline, ...(floor === undefined ? {} : { durableFloor: floor.result }) },
    });
    if (floor !== undefined) {
      // No target: the ceiling any durable ingress has on this machine and disk, for reading (a)'s ratio.
      rows.push({
        scenario: 'a',
        name: `durable floor, ${mode} 1 KB: node:http parsing each body, one write + fdatasync per event-loop turn, then 202`,
        value: floor.result.requestsPerSec,
        unit: 'req/s',
        detail: detail(floor.result, baseline, 1, floor.roundRatios),
        baseline: { name: 'bare node:http 202', value: baseline.requestsPerSec, unit: 'req/s' },
        data: { floor: floor.result, baseline },
      });
    }
  } else {
    rows.push({
      scenario: 'b',
      name: `ingress, batches of 100 events of ~256 B, ${load.connections} connections, fsync`,
      value: herald.requestsPerSec * load.events,
      unit: 'events/s',
      detail: detail(herald, baseline, load.events, roundRatios),
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
