// SPDX-License-Identifier: Apache-2.0
// Load generation: wrk for closed-loop HTTP throughput (wrk.ts), undici pools for
// open-loop (fixed-rate) publishing with latency measured from the intended send time, and a bounded
// "publish N events as fast as accepted" loop.
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { Pool } from 'undici';
import { epochOf, syncEpochClock } from './clock.js';
import { STRUCTURED, structuredEvent } from './events.js';
import { runWrk } from './wrk.js';

export interface ThroughputResult {
  /** Responses below 400 per second over the measured window (the broker answers 202; nothing redirects). */
  readonly requestsPerSec: number;
  readonly ok: number;
  /** Responses with a status of 400 or more. */
  readonly non2xx: number;
  /** Connections that failed, and requests that timed out or broke off. */
  readonly errors: number;
  readonly durationSec: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
}

/** The load of (a), (e) and (g): 50 connections, one structured 1 KB event per request, for `durationSec`. */
export function runStructuredLoad(url: string, durationSec: number): Promise<ThroughputResult> {
  return runWrk({
    url,
    connections: 50,
    durationSec,
    request: { headers: { 'content-type': STRUCTURED }, body: structuredEvent(1024) },
  });
}

/** Rounds of one contender as one result: summed counts, the median round's p50, the worst round's p99 and max. */
export function combineThroughput(rounds: readonly ThroughputResult[]): ThroughputResult {
  const ok = rounds.reduce((sum, r) => sum + r.ok, 0);
  const durationSec = rounds.reduce((sum, r) => sum + r.durationSec, 0);
  const p50s = rounds.map((r) => r.latencyMs.p50).sort((a, b) => a - b);
  return {
    requestsPerSec: ok / durationSec,
    ok,
    non2xx: rounds.reduce((sum, r) => sum + r.non2xx, 0),
    errors: rounds.reduce((sum, r) => sum + r.errors, 0),
    durationSec,
    latencyMs: {
      p50: p50s[Math.floor(p50s.length / 2)] ?? 0,
      // The worst round's: a tail in one round is not averaged away.
      p99: Math.max(...rounds.map((r) => r.latencyMs.p99)),
      max: Math.max(...rounds.map((r) => r.latencyMs.max)),
    },
  };
}

export function newLatencyHistogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly p999: number | null;
  readonly max: number | null;
}

/** Percentiles in milliseconds of a histogram recorded in microseconds. */
export function summarise(histogram: hdr.Histogram): LatencySummary {
  const count = histogram.totalCount;
  const at = (p: number): number | null => (count === 0 ? null : histogram.getValueAtPercentile(p) / 1000);
  return {
    count,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: count === 0 ? null : histogram.maxValue / 1000,
  };
}

export interface OpenLoopOptions {
  readonly origin: string;
  readonly path: string;
  /** Requests per second, fixed, whatever the broker does. */
  readonly rate: number;
  readonly durationMs: number;
  readonly connections: number;
  /** Headers of the request whose intended send time is `intendedEpochMs`. */
  readonly headers: (intendedEpochMs: number) => Record<string, string>;
  /** The body, or a function giving the body of the request due at `intendedEpochMs` (structured mode). */
  readonly body: string | ((intendedEpochMs: number) => string);
}

export interface OpenLoopResult {
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  /** Intended send time to the 202, corrected for coordinated omission. */
  readonly ackLatency: LatencySummary;
  /** How far behind schedule the sender itself fell at worst (ms); large values mean the load side saturated. */
  readonly maxSendLagMs: number;
  readonly firstIntendedEpochMs: number;
}

/**
 * Publishes at a fixed rate for `durationMs`: request i is due at start + i/rate, whether or not
 * earlier requests were answered (open loop). Latency counts from the due time, so a stalled broker
 * shows up in the percentiles instead of silently lowering the offered rate.
 */
export async function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const pool = new Pool(options.origin, { connections: options.connections, pipelining: 1 });
  const histogram = newLatencyHistogram();
  const total = Math.round((options.rate * options.durationMs) / 1000);
  const interval = 1000 / options.rate;
  let sent = 0;
  let ok = 0;
  let failed = 0;
  let maxLag = 0;
  const inflight = new Set<Promise<void>>();
  syncEpochClock();
  const start = performance.now();
  const bodyAt = options.body;
  const send = (intended: number): void => {
    const intendedEpochMs = epochOf(intended);
    const promise = pool
      .request({
        path: options.path,
        method: 'POST',
        headers: options.headers(intendedEpochMs),
        body: typeof bodyAt === 'string' ? bodyAt : bodyAt(intendedEpochMs),
      })
      .then(async (response) => {
        await response.body.dump();
        const micros = Math.round((performance.now() - intended) * 1000);
        histogram.recordValue(Math.max(1, Math.min(micros, 120_000_000)));
        if (response.statusCode >= 200 && response.statusCode < 300) ok++;
        else failed++;
      })
      .catch(() => {
        failed++;
      })
      .finally(() => inflight.delete(promise));
    inflight.add(promise);
  };
  try {
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now();
        const due = Math.min(total, Math.floor((now - start) / interval) + 1);
        if (due > sent) maxLag = Math.max(maxLag, now - (start + sent * interval));
        while (sent < due) {
          send(start + sent * interval);
          sent++;
        }
        if (sent >= total) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    // Bounded wait for the last answers (undici's own timeouts end anything stuck).
    await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 30_000))]);
  } finally {
    await pool.destroy();
  }
  return {
    sent,
    ok,
    failed,
    ackLatency: summarise(histogram),
    maxSendLagMs: maxLag,
    firstIntendedEpochMs: epochOf(start),
  };
}

export interface PublishAllOptions {
  readonly origin: string;
  readonly path: string;
  /** Number of requests to send in total. */
  readonly requests: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  readonly headers: Record<string, string>;
  readonly body: () => string;
  /** Gives up after this long (the loop is bounded in count and time). */
  readonly timeoutMs: number;
}

export interface PublishAllResult {
  readonly ok: number;
  readonly failed: number;
  readonly elapsedMs: number;
  readonly startEpochMs: number;
}

/** Sends a fixed number of requests as fast as the server accepts them, `concurrency` at a time. */
export async function publishAll(options: PublishAllOptions): Promise<PublishAllResult> {
  const pool = new Pool(options.origin, { connections: options.concurrency, pipelining: 1 });
  let next = 0;
  let ok = 0;
  let failed = 0;
  syncEpochClock();
  const start = performance.now();
  const deadline = start + options.timeoutMs;
  const worker = async (): Promise<void> => {
    while (next < options.requests && performance.now() < deadline) {
      next++;
      try {
        const response = await pool.request({
          path: options.path,
          method: 'POST',
          headers: options.headers,
          body: options.body(),
        });
        await response.body.dump();
        if (response.statusCode >= 200 && response.statusCode < 300) ok++;
        else failed++;
      } catch {
        failed++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
  } finally {
    await pool.destroy();
  }
  return { ok, failed, elapsedMs: performance.now() - start, startEpochMs: epochOf(start) };
}
