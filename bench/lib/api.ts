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

/** One counter from the broker's Prometheus text (summed over label sets), or 0 when absent. */
export async function metric(adminUrl: string, name: string): Promise<number> {
  const response = await request(`${adminUrl}/metrics`);
  const text = await response.body.text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
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
