// The Grafana dashboard (deploy/grafana) and the Prometheus alert rules (deploy/prometheus) may only
// name metrics, and label values, that a real broker exports: this scrapes brokers after real traffic
// and checks every PromQL expression against what /metrics answered.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { publishBatch, subscribe } from '../harness/client.js';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir, startBroker, useBrokerAndSink } from '../harness/processes.js';
import { freePort, waitFor } from '../infra/process.js';

const root = new URL('../../', import.meta.url);

interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string }[];
}
const dashboard = JSON.parse(readFileSync(new URL('deploy/grafana/herald-dashboard.json', root), 'utf8')) as {
  panels: Panel[];
  templating: { list: { name: string; query: unknown }[] };
};
const rules = (
  parseYaml(readFileSync(new URL('deploy/prometheus/herald-alerts.yaml', root), 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  }
).groups.flatMap((group) => group.rules);

const expressions: { where: string; expr: string }[] = [
  ...dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ where: `panel "${panel.title}"`, expr: target.expr })),
  ),
  ...dashboard.templating.list
    .filter((variable) => variable.name === 'instance')
    .map((variable) => ({
      where: 'variable instance',
      expr: (variable.query as { query: string }).query,
    })),
  ...rules.map((rule) => ({ where: `alert ${rule.alert}`, expr: rule.expr })),
];

/** Labels Prometheus adds to every scraped series (and the histogram bucket bound). */
const TARGET_LABELS = new Set(['instance', 'job', 'namespace', 'pod', 'le']);

/** The series of a Prometheus text exposition: metric name → label sets. */
function parseExposition(text: string): Map<string, Record<string, string>[]> {
  const series = new Map<string, Record<string, string>[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s/.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = value!;
    const list = series.get(match[1]!) ?? [];
    list.push(labels);
    series.set(match[1]!, list);
  }
  return series;
}

async function scrape(broker: BrokerProcess): Promise<Map<string, Record<string, string>[]>> {
  const response = await fetch(`${broker.adminUrl}/metrics`);
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

/**
 * The series of a broker holding a stored subscription it cannot start (herald_subscription_invalid): one
 * created with three LIKE patterns, then the broker restarted allowing one.
 */
async function invalidSubscriptionSeries(): Promise<{
  series: Map<string, Record<string, string>[]>;
  id: string;
}> {
  const loose = await startBroker();
  try {
    const { id } = await subscribe(loose.adminUrl, {
      sink: `http://127.0.0.1:${await freePort()}/`,
      filters: [{ sql: "type LIKE 'a.%' OR type LIKE 'b.%' OR type LIKE 'c.%'" }],
    });
    await loose.stop();
    const strict = await startBroker({ dataDir: loose.dataDir, args: ['--filter-max-like-patterns', '1'] });
    try {
      return { series: await scrape(strict), id };
    } finally {
      await strict.stop();
    }
  } finally {
    removeDir(loose.dataDir);
  }
}

describe('dashboard and alert rules', () => {
  const ctx = useBrokerAndSink();
  let series: Map<string, Record<string, string>[]>;
  let deadId: string;
  let invalid: { series: Map<string, Record<string, string>[]>; id: string };
  /** What either broker exports. */
  let exported: Map<string, Record<string, string>[]>;

  beforeAll(async () => {
    const sinkUrl = `${ctx.sink.url}/ok`;
    await subscribe(ctx.broker.url, { sink: sinkUrl, types: ['com.example.dash'] });
    // Nothing listens there: one retry, then a dead letter; the subscription is failing.
    const dead = await subscribe(ctx.broker.url, {
      sink: `http://127.0.0.1:${await freePort()}/`,
      types: ['com.example.dash'],
      delivery: { retry: 1, backoffDelay: 'PT0.1S' },
    });
    deadId = (dead as { id: string }).id;
    await publishBatch(ctx.broker.url, [
      { id: 'dash-1', type: 'com.example.dash' },
      { id: 'dash-1', type: 'com.example.dash' }, // a duplicate
    ]);
    await fetch(`${ctx.broker.url}/events`, { method: 'POST', body: 'not an event' }); // a rejection
    await ctx.sink.waitFor((records) => records.some((r) => r.path === '/ok'));
    series = await waitFor(
      'a dead letter in /metrics',
      async () => {
        const scraped = await scrape(ctx.broker);
        const kept = scraped.get('herald_subscription_dead_letters') ?? [];
        return kept.some((labels) => labels['subscription'] === deadId) &&
          (scraped.get('herald_deliveries_total') ?? []).some((l) => l['outcome'] === 'deadlettered')
          ? scraped
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    // The rules also cover what only a broker in another state exports.
    invalid = await invalidSubscriptionSeries();
    exported = new Map(series);
    for (const [name, sets] of invalid.series) exported.set(name, [...(exported.get(name) ?? []), ...sets]);
  });

  it('has the panels operators need, each querying the selected Prometheus', () => {
    const titles = dashboard.panels.map((panel) => panel.title);
    for (const title of [
      'Ingress rate',
      'Append latency',
      'Delivery outcomes',
      'Lag per subscription',
      'Dead letters',
    ]) {
      expect(titles).toContain(title);
    }
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'HeraldStoreNotReady',
        'HeraldSubscriptionFailing',
        'HeraldSubscriptionLagGrowing',
        'HeraldSubscriptionInvalid',
      ]),
    );
  });

  it('every metric, label value and grouping label in the PromQL is one the broker exports', () => {
    const labelNames = new Set([...exported.values()].flatMap((sets) => sets.flatMap((l) => Object.keys(l))));
    for (const { where, expr } of expressions) {
      const names = [...expr.matchAll(/\bherald_[a-z0-9_]+/g)].map((m) => m[0]);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name), `${where} uses ${name}, not exported`).toBe(true);
      // Exact-match selectors must select a series that exists, e.g. outcome="deadlettered".
      for (const [, name, matchers] of expr.matchAll(/\b(herald_[a-z0-9_]+)\{([^}]*)\}/g)) {
        for (const [, key, value] of matchers!.matchAll(/(\w+)="([^"]*)"/g)) {
          if (TARGET_LABELS.has(key!)) continue;
          expect(
            exported.get(name!)!.some((labels) => labels[key!] === value),
            `${where}: no ${name}{${key}="${value}"} series`,
          ).toBe(true);
        }
      }
      for (const [, list] of expr.matchAll(/\bby \(([^)]*)\)/g)) {
        for (const label of list!.split(',').map((l) => l.trim())) {
          expect(
            TARGET_LABELS.has(label) || labelNames.has(label),
            `${where} groups by unknown ${label}`,
          ).toBe(true);
        }
      }
    }
  });

  it('the subscription gauges show the failing subscription, its dead letter and the store as ready', () => {
    const of = (name: string) => series.get(name)!.find((labels) => labels['subscription'] === deadId);
    expect(of('herald_subscription_failing')).toBeDefined();
    expect(of('herald_subscription_lag')).toBeDefined();
    expect(series.get('herald_store_ready')).toEqual([{}]);
  });

  it('the invalid gauge names the subscription the strict broker cannot start, and why', () => {
    expect(invalid.series.get('herald_subscription_invalid')).toEqual([
      { subscription: invalid.id, code: 'HERALD_FILTER_TOO_COSTLY' },
    ]);
  });

  it('gauge values: failing 1, one dead letter kept, store ready 1', async () => {
    const text = await (await fetch(`${ctx.broker.adminUrl}/metrics`)).text();
    expect(text).toContain(`herald_subscription_failing{subscription="${deadId}"} 1`);
    expect(text).toContain(`herald_subscription_dead_letters{subscription="${deadId}"} 1`);
    expect(text).toMatch(/^herald_store_ready 1$/m);
  });
});

describe('store not ready', () => {
  let broker: BrokerProcess;

  beforeAll(async () => {
    // A JetStream store whose NATS never answers: the broker listens after its grace period.
    broker = await startBroker({
      args: ['--store', 'jetstream', '--nats-url', `nats://127.0.0.1:${await freePort()}`],
    });
  });
  afterAll(async () => {
    await broker?.stop();
    if (broker !== undefined) removeDir(broker.dataDir);
  });

  it('/metrics still answers, with herald_store_ready 0 for HeraldStoreNotReady to fire on', async () => {
    const response = await fetch(`${broker.adminUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/^herald_store_ready 0$/m);
    expect((await fetch(`${broker.adminUrl}/readyz`)).status).toBe(503);
    expect(rules.find((rule) => rule.alert === 'HeraldStoreNotReady')?.expr).toBe('herald_store_ready == 0');
  });
});
