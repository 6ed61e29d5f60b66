// SPDX-License-Identifier: Apache-2.0
// Small clients for the broker's control API and the bench sink's control endpoints.
import { performance } from 'node:perf_hooks';
import { request } from 'undici';

async function json<T>(url: string, init: { method?: 'GET' | 'POST'; body?: unknown } = {}): Promise<T> {
  const response = await request(url, {
    method: init.method ?? 'GET',
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    body: init.body === undefined ? null : JSON.stringify(init.body),
  });
  const text = await response.body.text();
  if (response.statusCode >= 300)
    throw new Error(`${init.method ?? 'GET'} ${url} -> ${response.statusCode}: ${text.slice(0, 500)}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

export interface SubscriptionSpec {
  readonly sink: string;
  readonly filters?: readonly unknown[];
  readonly delivery?: Record<string, unknown>;
  readonly startAt?: unknown;
  readonly id?: string;
}

/** Creates a subscription through `POST /subscriptions` and returns its id. */
export async function createSubscription(adminUrl: string, spec: SubscriptionSpec): Promise<string> {
  const created = await json<{ id: string }>(`${adminUrl}/subscriptions`, {
    method: 'POST',
    body: { protocol: 'HTTP', ...spec },
  });
  return created.id;
}

export interface SubscriptionView {
  readonly id: string;
  readonly status?: { readonly lag?: number; readonly cursor?: number };
}

export function getSubscription(adminUrl: string, id: string): Promise<SubscriptionView> {
  return json<SubscriptionView>(`${adminUrl}/subscriptions/${encodeURIComponent(id)}`);
}

async function metricsText(adminUrl: string): Promise<string> {
  const response = await request(`${adminUrl}/metrics`);
  return response.body.text();
}

/** A sample line's value (the last field). */
const sampleValue = (line: string): number => Number(line.slice(line.lastIndexOf(' ') + 1));

/** One counter from the broker's Prometheus text (summed over label sets), or 0 when absent. */
export async function metric(adminUrl: string, name: string): Promise<number> {
  const text = await metricsText(adminUrl);
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) {
      total += sampleValue(line);
    }
  }
  return total;
}

/**
 * How many observations of the broker's histogram `name` so far were above each of `bounds` (its bucket
 * bounds as written, e.g. `0.05`): its count less that bucket, summed over label sets.
 */
export async function observationsAbove(
  adminUrl: string,
  name: string,
  bounds: readonly string[],
): Promise<number[]> {
  const text = await metricsText(adminUrl);
  let count = 0;
  const within = bounds.map(() => 0);
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}_count`)) count += sampleValue(line);
    else if (line.startsWith(`${name}_bucket{`)) {
      bounds.forEach((bound, i) => {
        if (line.includes(`le="${bound}"`)) within[i] = (within[i] as number) + sampleValue(line);
      });
    }
  }
  return within.map((w) => count - w);
}

export interface SinkStats {
  readonly events: number;
  readonly requests: number;
  readonly firstAt: number;
  readonly lastAt: number;
  readonly subscriptions: number;
  readonly bySubscription: Readonly<Record<string, number>>;
  readonly latencyMs: {
    readonly count: number;
    readonly p50: number | null;
    readonly p90: number | null;
    readonly p99: number | null;
    readonly p999: number | null;
    readonly max: number | null;
    readonly mean: number | null;
  };
}

export function sinkStats(sinkUrl: string): Promise<SinkStats> {
  return json<SinkStats>(`${sinkUrl}/_stats`);
}

export async function resetSink(sinkUrl: string): Promise<void> {
  await json(`${sinkUrl}/_reset`, { method: 'POST' });
}

/** Polls the sink until it has received `events` events or `timeoutMs` passed; returns the last stats. */
export async function waitForSink(sinkUrl: string, events: number, timeoutMs: number): Promise<SinkStats> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const stats = await sinkStats(sinkUrl);
    if (stats.events >= events || performance.now() > deadline) return stats;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
