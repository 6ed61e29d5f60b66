// Issue 11, findings 1 and 10: one request cannot create unbounded subscriptions (nor stall the broker
// doing it), a broker holds a bounded number, and lists come in pages linked by `Link: rel="next"`.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { requestJson } from '../harness/client.js';
import { removeDir, startBroker, useBrokerAndSink } from '../harness/processes.js';
import { metricValue } from '../support/http.js';

const sinkUrl = (n: number) => `http://127.0.0.1:9/sink-${n}`;

/**
 * Transactions committed to an SQLite database in WAL mode so far: the valid commit frames of its
 * `-wal` file (a frame whose header names the database size after commit, with the WAL's salts).
 */
/** The WAL's commit frames since it last restarted, and the salt that names that restart. */
function walCommits(database: string): { salt: number; commits: number } {
  const file = `${database}-wal`;
  if (!existsSync(file)) return { salt: -1, commits: 0 };
  const wal = readFileSync(file);
  if (wal.length < 32) return { salt: -1, commits: 0 };
  const pageSize = wal.readUInt32BE(8);
  const [salt1, salt2] = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return { salt: salt1, commits };
}

/**
 * Commits between two readings. The checkpoint thread may have checkpointed the whole WAL in between, and
 * the next write then restarts it under a new salt: every commit counted after the restart is new.
 */
function commitsBetween(
  before: { salt: number; commits: number },
  after: { salt: number; commits: number },
): number {
  return after.salt === before.salt ? after.commits - before.commits : after.commits;
}

async function countSubscriptions(adminUrl: string): Promise<number> {
  let total = 0;
  let next: string | undefined = '/subscriptions?limit=1000';
  while (next !== undefined) {
    const response = await fetch(`${adminUrl}${next}`);
    total += ((await response.json()) as unknown[]).length;
    next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
  }
  return total;
}

describe('subscribers per request (POST /events/sub)', () => {
  const context = useBrokerAndSink(() => startBroker());

  it('refuses 2,000 subscribers in one request with a coded 400 and creates none', async () => {
    const { broker } = context;
    const body = {
      type: 'dev.herald.bounds',
      subscribers: Array.from({ length: 2000 }, (_, i) => sinkUrl(i)),
    };
    const response = await requestJson('POST', `${broker.url}/events/sub`, body);
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(response.body).toMatchObject({ code: 'HERALD_TOO_MANY_SUBSCRIBERS', pointer: '/subscribers' });
    expect(await countSubscriptions(broker.adminUrl)).toBe(0);
    const metrics = await (await fetch(`${broker.adminUrl}/metrics`)).text();
    expect(metricValue(metrics, 'herald_limit_rejections_total{limit="max-subscribers-per-request"}')).toBe(
      1,
    );
  });

  it('creates the subscribers of one request (up to the cap) together, all delivering', async () => {
    const { broker, sink } = context;
    const subscribers = Array.from({ length: 100 }, (_, i) => `${sink.url}/fan-${i}`);
    const response = await requestJson('POST', `${broker.url}/events/sub`, {
      type: 'dev.herald.fan',
      subscribers,
    });
    expect(response.status).toBe(201);
    expect(await countSubscriptions(broker.adminUrl)).toBe(100);
    const published = await fetch(`${broker.url}/events`, {
      method: 'POST',
      headers: {
        'ce-specversion': '1.0',
        'ce-id': 'fan-1',
        'ce-source': '/bounds',
        'ce-type': 'dev.herald.fan',
      },
    });
    expect(published.status).toBe(202);
    const records = await sink.waitFor((r) => new Set(r.map((x) => x.path)).size >= 100, 60_000);
    expect(new Set(records.map((r) => r.path))).toEqual(new Set(subscribers.map((s) => new URL(s).pathname)));
  });
});

describe('one transaction per seed request', () => {
  it('commits the 100 subscriptions of one POST /events/sub (cursors and definitions) in one transaction', async () => {
    const broker = await startBroker();
    try {
      const database = path.join(broker.dataDir, 'default.db');
      const before = walCommits(database);
      const response = await requestJson('POST', `${broker.url}/events/sub`, {
        type: 'dev.herald.never-published',
        subscribers: Array.from({ length: 100 }, (_, i) => sinkUrl(i)),
      });
      expect(response.status).toBe(201);
      expect(await countSubscriptions(broker.adminUrl)).toBe(100);
      expect(commitsBetween(before, walCommits(database))).toBe(1);
    } finally {
      await broker.stop();
      removeDir(broker.dataDir);
    }
  });
});

describe('subscriptions per broker (--max-subscriptions-total)', () => {
  const context = useBrokerAndSink(() => startBroker({ args: ['--max-subscriptions-total', '5'] }));

  it('answers 409 HERALD_TOO_MANY_SUBSCRIPTIONS beyond the cap, from the API and the seed route', async () => {
    const { broker } = context;
    for (let i = 0; i < 4; i++) {
      const created = await requestJson('POST', `${broker.adminUrl}/subscriptions`, {
        sink: sinkUrl(i),
        protocol: 'HTTP',
        filters: [{ exact: { type: 'dev.herald.never-published' } }],
      });
      expect(created.status).toBe(201);
    }
    // Three at once would make seven: refused whole, nothing of it created.
    const seed = await requestJson('POST', `${broker.url}/events/sub`, {
      type: 'dev.herald.never-published',
      subscribers: [sinkUrl(10), sinkUrl(11), sinkUrl(12)],
    });
    expect(seed.status).toBe(409);
    expect(seed.body).toMatchObject({ code: 'HERALD_TOO_MANY_SUBSCRIPTIONS' });
    expect(await countSubscriptions(broker.adminUrl)).toBe(4);
    expect(
      (await requestJson('POST', `${broker.adminUrl}/subscriptions`, { sink: sinkUrl(4), protocol: 'HTTP' }))
        .status,
    ).toBe(201);
    const over = await requestJson('POST', `${broker.adminUrl}/subscriptions`, {
      sink: sinkUrl(5),
      protocol: 'HTTP',
    });
    expect(over.status).toBe(409);
    expect(over.body).toMatchObject({ code: 'HERALD_TOO_MANY_SUBSCRIPTIONS' });
    const metrics = await (await fetch(`${broker.adminUrl}/metrics`)).text();
    expect(metricValue(metrics, 'herald_limit_rejections_total{limit="max-subscriptions-total"}')).toBe(2);
  });
});

describe('paginated lists', () => {
  const context = useBrokerAndSink(() => startBroker());

  it('GET /subscriptions answers pages of ?limit= (default 100) linked by rel="next", the body a plain array', async () => {
    const { broker } = context;
    // 250 subscriptions through the seed route, in three requests under the per-request cap.
    for (let r = 0; r < 3; r++) {
      const count = r < 2 ? 100 : 50;
      const response = await requestJson('POST', `${broker.url}/events/sub`, {
        type: 'dev.herald.never-published',
        subscribers: Array.from({ length: count }, (_, i) => sinkUrl(r * 100 + i)),
      });
      expect(response.status).toBe(201);
    }
    const first = await fetch(`${broker.adminUrl}/subscriptions`);
    const firstPage = (await first.json()) as Array<{ id: string }>;
    expect(Array.isArray(firstPage)).toBe(true);
    expect(firstPage).toHaveLength(100);
    expect(first.headers.get('link')).toMatch(/^<\/subscriptions\?limit=100&after=[^>]+>; rel="next"$/);

    const seen: string[] = [];
    const sizes: number[] = [];
    let next: string | undefined = '/subscriptions?limit=120';
    while (next !== undefined) {
      const response = await fetch(`${broker.adminUrl}${next}`);
      const page = (await response.json()) as Array<{ id: string }>;
      sizes.push(page.length);
      seen.push(...page.map((s) => s.id));
      next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
    }
    expect(sizes).toEqual([120, 120, 10]);
    expect(new Set(seen).size).toBe(250);

    const tooMany = await requestJson('GET', `${broker.adminUrl}/subscriptions?limit=100000`);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body).toMatchObject({ code: 'HERALD_INVALID_QUERY', pointer: '?limit' });
  });

  it('GET /subscriptions/{id}/deadletters pages the same way', async () => {
    const { broker, sink } = context;
    await sink.configure({ status: 400 });
    const created = await requestJson<{ id: string }>('POST', `${broker.adminUrl}/subscriptions`, {
      sink: `${sink.url}/rejects`,
      protocol: 'HTTP',
      filters: [{ exact: { type: 'dev.herald.dead' } }],
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const events = Array.from({ length: 7 }, (_, i) => ({
      specversion: '1.0',
      id: `dead-${i}`,
      source: '/bounds',
      type: 'dev.herald.dead',
    }));
    const published = await fetch(`${broker.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: JSON.stringify(events),
    });
    expect(published.status).toBe(202);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const all = await requestJson<{ deadLetters: unknown[] }>(
        'GET',
        `${broker.adminUrl}/subscriptions/${id}/deadletters?limit=1000`,
      );
      if (all.body.deadLetters.length === 7) break;
      if (Date.now() > deadline) throw new Error(`only ${all.body.deadLetters.length} dead letters`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const ids: string[] = [];
    const sizes: number[] = [];
    let next: string | undefined = `/subscriptions/${id}/deadletters?limit=3`;
    while (next !== undefined) {
      const response = await fetch(`${broker.adminUrl}${next}`);
      const page = (await response.json()) as { deadLetters: Array<{ event: { id: string } }> };
      sizes.push(page.deadLetters.length);
      ids.push(...page.deadLetters.map((l) => l.event.id));
      next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
    }
    expect(sizes).toEqual([3, 3, 1]);
    expect(new Set(ids)).toEqual(new Set(events.map((e) => e.id)));
  });
});
