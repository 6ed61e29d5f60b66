// The dashboard's server side on a real broker process: the built assets under /ui/ (on the admin port
// when one is set) and GET /stats, the throughput view its overview page draws.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../infra/process.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { publishBatch, requestJson, subscribe } from '../harness/client.js';

interface Stats {
  time: string;
  log: { first: number; last: number; events: number; bytes: number };
  retention: { maxAgeMs: number; maxEvents: number; maxBytes: number };
  totals: { accepted: number; delivered: number; deadLettered: number };
  subscriptions: Array<{ id: string; delivered: number }>;
  sampleIntervalMs: number;
  samples: Array<{ t: number; accepted: number; delivered: number; deadLettered: number }>;
}

let broker: BrokerProcess;
let sink: SinkProcess;

beforeAll(async () => {
  const adminPort = await freePort();
  [broker, sink] = await Promise.all([
    startBroker({
      args: [
        '--admin-port',
        String(adminPort),
        '--retention-max-events',
        '5000',
        '--retention-max-age',
        '1h',
      ],
    }),
    startSink(),
  ]);
});

afterAll(async () => {
  await Promise.all([broker?.stop(), sink?.stop()]);
  if (broker !== undefined) removeDir(broker.dataDir);
});

describe('the dashboard on a broker with --admin-port', () => {
  it('serves the built app at /ui/ on the admin port only, with every asset it references', async () => {
    const page = await fetch(`${broker.adminUrl}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/ui\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true);
    for (const asset of assets) {
      const answer = await fetch(`${broker.adminUrl}${asset}`);
      expect(answer.status, asset).toBe(200);
      expect(answer.headers.get('content-type'), asset).toMatch(/^text\/(javascript|css); charset=utf-8$/);
      expect(answer.headers.get('cache-control'), asset).toBe('public, max-age=31536000, immutable');
    }
    // Page paths answer the app (it routes in the browser); the data port has no dashboard.
    expect((await fetch(`${broker.adminUrl}/ui/subscriptions/x/deadletters`)).status).toBe(200);
    const onDataPort = await fetch(`${broker.url}/ui/`);
    expect(onDataPort.status).toBe(404);
    expect(await onDataPort.json()).toMatchObject({ code: 'HERALD_NOT_FOUND' });
  });

  it('answers /stats with the log, retention, totals, per-subscription deliveries and samples', async () => {
    const subscription = await subscribe(broker.adminUrl, { sink: sink.url });
    await publishBatch(
      broker.url,
      Array.from({ length: 7 }, (_, i) => ({ id: `stats-${i}` })),
    );
    await sink.waitFor((records) => records.length === 7);

    // The sink records a delivery before it answers; the broker counts it once it has read the answer.
    const stats = await waitFor(
      '/stats to count the 7 deliveries',
      async () => {
        const body = (await requestJson<Stats>('GET', `${broker.adminUrl}/stats`)).body;
        return body.totals.delivered >= 7 ? body : undefined;
      },
      { timeoutMs: 10_000 },
    );
    expect(stats.log).toMatchObject({ first: 1, last: 7, events: 7 });
    expect(stats.log.bytes).toBeGreaterThan(0);
    expect(stats.retention).toEqual({ maxAgeMs: 3_600_000, maxEvents: 5000, maxBytes: 0 });
    expect(stats.totals).toEqual({ accepted: 7, delivered: 7, deadLettered: 0 });
    expect(stats.subscriptions).toEqual([{ id: subscription.id, delivered: 7 }]);
    expect(stats.sampleIntervalMs).toBeGreaterThan(0);
    // Samples are cumulative and in time order; the last one is taken at the request.
    expect(stats.samples.length).toBeGreaterThanOrEqual(2);
    const last = stats.samples.at(-1)!;
    expect(last).toMatchObject({ accepted: 7, delivered: 7, deadLettered: 0 });
    for (let i = 1; i < stats.samples.length; i++) {
      expect(stats.samples[i]!.t).toBeGreaterThanOrEqual(stats.samples[i - 1]!.t);
      expect(stats.samples[i]!.accepted).toBeGreaterThanOrEqual(stats.samples[i - 1]!.accepted);
    }
    expect(Date.parse(stats.time)).toBe(last.t);
    expect((await fetch(`${broker.url}/stats`)).status).toBe(404);
  });

  it('documents /stats and /ui/ in the OpenAPI document', async () => {
    const document = (
      await requestJson<{ paths: Record<string, unknown> }>('GET', `${broker.adminUrl}/openapi.json`)
    ).body;
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/stats', '/ui/']));
  });
});

describe('the dashboard while the store is not reachable yet', () => {
  let waiting: BrokerProcess;

  beforeAll(async () => {
    // Nothing listens on this port: the broker starts, and answers 503 until the store answers.
    const nowhere = await freePort();
    waiting = await startBroker({
      args: ['--store', 'jetstream', '--nats-url', `nats://127.0.0.1:${nowhere}`],
    });
  });

  afterAll(async () => {
    await waiting?.stop();
    if (waiting !== undefined) removeDir(waiting.dataDir);
  });

  it('serves the app, whose API calls get the 503 problem to show', async () => {
    const page = await fetch(`${waiting.adminUrl}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const stats = await fetch(`${waiting.adminUrl}/stats`);
    expect(stats.status).toBe(503);
    expect(await stats.json()).toMatchObject({ code: 'HERALD_STORE_UNAVAILABLE' });
  });
});
