// Issue 11, finding 2: CESQL has a cost model. Costly expressions are refused when compiled; string
// work per event is budgeted (over budget = no match, counted); a poison event cannot keep a
// restarted broker from listening; log reads answer in bounded pages with `next`.
import { describe, expect, it } from 'vitest';
import { requestJson } from '../harness/client.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { binaryHeaders, metricValue, send } from '../support/http.js';

/** The filter: 2,100 `LOWER(subject) LIKE '%qq%'` leaves, ORed in groups of 100 (~63 KB). */
function costlyFilter(leaves = 2100): string {
  const groups: string[] = [];
  for (let g = 0; g < leaves / 100; g++) {
    groups.push(`(${Array.from({ length: 100 }, () => "LOWER(subject) LIKE '%qq%'").join(' OR ')})`);
  }
  return groups.join(' OR ');
}

const HUGE_SUBJECT = 'Q'.repeat(900_000);
/** A structured event (a 900,000-character subject does not fit in a header). */
const structuredEvent = (id: string, subject: string) => ({
  headers: { 'content-type': 'application/cloudevents+json' },
  body: JSON.stringify({ specversion: '1.0', id, source: '/herald/tests', type: 'dev.herald.test', subject }),
});
const metrics = async (adminUrl: string) => (await fetch(`${adminUrl}/metrics`)).text();

describe('compile-time cost bound', () => {
  it('refuses the 2,100-leaf filter, a 200-leaf one, and deep call nesting with HERALD_FILTER_TOO_COSTLY and a position', async () => {
    const broker = await startBroker();
    try {
      const cases = [
        costlyFilter(2100),
        costlyFilter(200),
        `${'LOWER('.repeat(9)}subject${')'.repeat(9)} = 'x'`,
      ];
      for (const expression of cases) {
        const response = await requestJson<{ code: string; detail: string; pointer: string }>(
          'POST',
          `${broker.adminUrl}/subscriptions`,
          { sink: 'http://127.0.0.1:9/', protocol: 'HTTP', filters: [{ sql: expression }] },
        );
        expect(response.status).toBe(400);
        expect(response.body.code).toBe('HERALD_FILTER_TOO_COSTLY');
        expect(response.body.pointer).toBe('/filters/0/sql');
      }
      // The node and LIKE bounds name where the expression crossed them.
      const located = await requestJson<{ detail: string }>('POST', `${broker.adminUrl}/subscriptions`, {
        sink: 'http://127.0.0.1:9/',
        protocol: 'HTTP',
        filters: [{ sql: costlyFilter(200) }],
      });
      expect(located.body.detail).toMatch(/at line 1, column \d+/);
      // The same bound applies to ?filter= on the log read API.
      const read = await fetch(
        `${broker.adminUrl}/events?from=1&filter=${encodeURIComponent(costlyFilter(200))}`,
      );
      expect(read.status).toBe(400);
      expect(await read.json()).toMatchObject({ code: 'HERALD_FILTER_TOO_COSTLY', pointer: '?filter' });
      expect((await requestJson<unknown[]>('GET', `${broker.adminUrl}/subscriptions`)).body).toEqual([]);
      const text = await metrics(broker.adminUrl);
      const refused = (limit: string) => metricValue(text, `herald_limit_rejections_total{limit="${limit}"}`);
      expect([
        refused('filter-max-length'),
        refused('filter-max-like-patterns'),
        refused('filter-max-call-depth'),
      ]).toEqual([1, 3, 1]);
    } finally {
      await broker.stop();
      removeDir(broker.dataDir);
    }
  });
});

describe('per-event evaluation budget', () => {
  it('does not deliver an event whose filtering exceeds the budget, counts it, and keeps delivering', async () => {
    const [broker, sink] = await Promise.all([startBroker(), startSink()]);
    try {
      const created = await requestJson('POST', `${broker.adminUrl}/subscriptions`, {
        sink: `${sink.url}/budget`,
        protocol: 'HTTP',
        filters: [{ sql: "LOWER(subject) LIKE '%qq%'" }],
        // Strict order: had the huge event matched, it would arrive before the small one.
        delivery: { ordering: 'strict' },
      });
      expect(created.status).toBe(201);
      // It matches, but only at its end: LOWER builds 900,000 characters and the LIKE reads as many more.
      const huge = await send(broker.url, structuredEvent('huge', `${'X'.repeat(899_998)}QQ`));
      expect(huge.status).toBe(202);
      const small = await send(broker.url, { headers: binaryHeaders('small', { 'ce-subject': 'a QQ b' }) });
      expect(small.status).toBe(202);
      const records = await sink.waitFor((r) => r.some((x) => x.headers['ce-id'] === 'small'));
      expect(records.map((r) => r.headers['ce-id'])).toEqual(['small']);
      const text = await metrics(broker.adminUrl);
      expect(
        metricValue(text, 'herald_filter_budget_exceeded_total{where="subscription"}'),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await Promise.all([broker.stop(), sink.stop()]);
      removeDir(broker.dataDir);
    }
  });

  it('charges the steps a LIKE pattern takes, not only the subject it reads', async () => {
    // A segment mixing literals and `_` is tried at every start position: on this subject, 100,000 ×
    // 8,000 steps. Charged the subject's 100,000 characters only, it held the broker's event loop for
    // seconds per event without ever exceeding the budget of 1,000,000.
    const [broker, sink] = await Promise.all([startBroker(), startSink()]);
    try {
      const created = await requestJson('POST', `${broker.adminUrl}/subscriptions`, {
        sink: `${sink.url}/like-steps`,
        protocol: 'HTTP',
        filters: [{ sql: `subject = 'small' OR subject LIKE '%${'a_'.repeat(4000)}b%'` }],
        delivery: { ordering: 'strict' },
      });
      expect(created.status).toBe(201);
      expect((await send(broker.url, structuredEvent('huge', 'a'.repeat(100_000)))).status).toBe(202);
      const small = await send(broker.url, { headers: binaryHeaders('small', { 'ce-subject': 'small' }) });
      expect(small.status).toBe(202);
      const records = await sink.waitFor((r) => r.some((x) => x.headers['ce-id'] === 'small'), 60_000);
      expect(records.map((r) => r.headers['ce-id'])).toEqual(['small']);
      const text = await metrics(broker.adminUrl);
      expect(
        metricValue(text, 'herald_filter_budget_exceeded_total{where="subscription"}'),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await Promise.all([broker.stop(), sink.stop()]);
      removeDir(broker.dataDir);
    }
  });
});

describe('poison event', () => {
  it('after SIGKILL, a broker with ten costly subscriptions and a 900,000-character subject listens and delivers again', async () => {
    // The compile-time bounds are raised so that the filters are accepted: the runtime budget
    // alone must keep the restarted broker responsive.
    const args = [
      '--filter-max-length',
      '100000',
      '--filter-max-nodes',
      '100000',
      '--filter-max-like-patterns',
      '100000',
    ];
    const sink = await startSink();
    let broker = await startBroker({ args });
    const { dataDir } = broker;
    try {
      const filter = costlyFilter(2100);
      for (let i = 0; i < 10; i++) {
        const created = await requestJson('POST', `${broker.adminUrl}/subscriptions`, {
          sink: `${sink.url}/poison-${i}`,
          protocol: 'HTTP',
          filters: [{ sql: filter }],
          delivery: { ordering: 'strict' },
        });
        expect(created.status).toBe(201);
      }
      const poison = await send(broker.url, structuredEvent('poison', HUGE_SUBJECT));
      expect(poison.status).toBe(202);
      expect(await broker.stop('SIGKILL')).toBe('SIGKILL');

      broker = await startBroker({ dataDir, args });
      const health = await fetch(`${broker.adminUrl}/healthz`);
      expect(health.status).toBe(200);
      const after = await send(broker.url, { headers: binaryHeaders('after', { 'ce-subject': 'qq' }) });
      expect(after.status).toBe(202);
      const records = await sink.waitFor(
        (r) => new Set(r.filter((x) => x.headers['ce-id'] === 'after').map((x) => x.path)).size === 10,
        60_000,
      );
      // Strict order per subscription: the poison, had it matched anywhere, would have come first.
      expect(records.filter((r) => r.headers['ce-id'] === 'poison')).toEqual([]);
    } finally {
      await Promise.all([broker.stop(), sink.stop()]);
      removeDir(dataDir);
    }
  });
});

describe('log reads bounded by work', () => {
  it('answers a filtered GET /events over huge events in pages, each with next to continue', async () => {
    const broker = await startBroker({ args: ['--log-read-max-work', '5000000'] });
    try {
      for (let i = 0; i < 30; i++) {
        const response = await send(broker.url, structuredEvent(`big-${i}`, HUGE_SUBJECT));
        expect(response.status).toBe(202);
      }
      const filter = encodeURIComponent("subject LIKE '%zz%'");
      const pages: number[] = [];
      let from = 1;
      while (from <= 30) {
        const response = await fetch(`${broker.adminUrl}/events?from=${from}&limit=1000&filter=${filter}`);
        expect(response.status).toBe(200);
        const page = (await response.json()) as { events: unknown[]; next: number };
        expect(page.events).toEqual([]);
        expect(page.next).toBeGreaterThan(from);
        pages.push(page.next - from);
        from = page.next;
      }
      // 5,000,000 units of work is about five of these events per page.
      expect(pages.length).toBeGreaterThanOrEqual(5);
      expect(Math.max(...pages)).toBeLessThanOrEqual(7);
      const text = await metrics(broker.adminUrl);
      const bounded = metricValue(text, 'herald_limit_rejections_total{limit="log-read-max-work"}') ?? 0;
      expect(bounded).toBeGreaterThanOrEqual(4);

      // A stream from the start works through the same events in bounded slices, then delivers.
      const controller = new AbortController();
      const stream = await fetch(`${broker.adminUrl}/events/stream?from=1&filter=${filter}`, {
        signal: controller.signal,
      });
      expect(stream.status).toBe(200);
      expect((await send(broker.url, structuredEvent('needle', 'a zz b'))).status).toBe(202);
      const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
      let received = '';
      while (!received.includes('"id":"needle"')) {
        const { value, done } = await reader.read();
        if (done) break;
        received += new TextDecoder().decode(value);
      }
      controller.abort();
      expect(received).toContain('id: 31\n');
      expect(received).not.toContain('"id":"big-');
      const after = await metrics(broker.adminUrl);
      expect(metricValue(after, 'herald_limit_rejections_total{limit="log-read-max-work"}')).toBeGreaterThan(
        bounded,
      );
    } finally {
      await broker.stop();
      removeDir(broker.dataDir);
    }
  });
});

/** The review's filter: `count` copies of one small sql filter under a single `any`. */
const wideAny = (count: number) => [
  { any: Array.from({ length: count }, () => ({ sql: "LOWER(subject) LIKE '%zzI%'" })) },
];

describe("one subscription's filters bounded together", () => {
  it('refuses 6,000 small sql filters under one any (each within every per-expression bound) with HERALD_FILTER_TOO_COSTLY', async () => {
    const broker = await startBroker();
    try {
      const response = await requestJson<{ code: string; detail: string; pointer: string }>(
        'POST',
        `${broker.adminUrl}/subscriptions`,
        { sink: 'http://127.0.0.1:9/', protocol: 'HTTP', filters: wideAny(6000) },
      );
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      // The any counts 1 and each member 4 (its object and 3 CESQL nodes): member 127 crosses 512.
      expect(response.body).toMatchObject({
        code: 'HERALD_FILTER_TOO_COSTLY',
        pointer: '/filters/0/any/127/sql',
      });
      expect(response.body.detail).toContain('--filter-max-nodes');
      expect((await requestJson<unknown[]>('GET', `${broker.adminUrl}/subscriptions`)).body).toEqual([]);
      const text = await metrics(broker.adminUrl);
      expect(metricValue(text, 'herald_limit_rejections_total{limit="filter-max-nodes"}')).toBe(1);
    } finally {
      await broker.stop();
      removeDir(broker.dataDir);
    }
  });

  it('a stored subscription over the bound (created under a higher --filter-max-nodes) is logged and not started, listed as invalid; the broker serves', async () => {
    let broker = await startBroker({ args: ['--filter-max-nodes', '100000'] });
    const { dataDir } = broker;
    let output = '';
    try {
      const ids: string[] = [];
      for (const filters of [wideAny(200), wideAny(2)]) {
        const created = await requestJson<{ id: string }>('POST', `${broker.adminUrl}/subscriptions`, {
          sink: 'http://127.0.0.1:9/',
          protocol: 'HTTP',
          filters,
        });
        expect(created.status).toBe(201);
        ids.push(created.body.id);
      }
      const [wide, small] = ids;
      await broker.stop();
      // 1 + 200 × 4 = 801 nodes: over the default 512.
      broker = await startBroker({ dataDir, onOutput: (chunk) => (output += chunk) });
      expect((await fetch(`${broker.adminUrl}/healthz`)).status).toBe(200);
      const listed = await requestJson<Array<{ id: string; status: { state: string } }>>(
        'GET',
        `${broker.adminUrl}/subscriptions`,
      );
      const states = Object.fromEntries(listed.body.map((s) => [s.id, s.status.state]));
      expect(states).toEqual({ [wide as string]: 'invalid', [small as string]: 'active' });
      const refused = output
        .split('\n')
        .filter((line) => line.includes('stored subscription cannot start'))
        .map((line) => JSON.parse(line) as { subscription: string; err: { code: string } });
      expect(refused).toMatchObject([{ subscription: wide, err: { code: 'HERALD_FILTER_TOO_COSTLY' } }]);
    } finally {
      await broker.stop();
      removeDir(dataDir);
    }
  });
});

describe('filter= in its JSON form obeys the configured bounds', () => {
  const sevenTermOr = Array.from({ length: 7 }, (_, i) => `type = 't${i}'`).join(' OR ');

  it('refuses a 7-term OR under --filter-max-nodes 10 in both forms, on GET /events and /events/stream', async () => {
    const broker = await startBroker({ args: ['--filter-max-nodes', '10'] });
    try {
      const forms = [
        [sevenTermOr, '?filter'],
        [JSON.stringify({ sql: sevenTermOr }), '?filter/sql'],
        [JSON.stringify([{ exact: { type: 't0' } }, { sql: sevenTermOr }]), '?filter/1/sql'],
      ];
      for (const route of ['/events', '/events/stream']) {
        for (const [filter, pointer] of forms) {
          const response = await fetch(
            `${broker.adminUrl}${route}?from=1&filter=${encodeURIComponent(filter as string)}`,
          );
          expect(response.status, `${route} ${filter}`).toBe(400);
          expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
          expect(await response.json()).toMatchObject({ code: 'HERALD_FILTER_TOO_COSTLY', pointer });
        }
      }
      const text = await metrics(broker.adminUrl);
      expect(metricValue(text, 'herald_limit_rejections_total{limit="filter-max-nodes"}')).toBe(6);
    } finally {
      await broker.stop();
      removeDir(broker.dataDir);
    }
  });

  it("counts the JSON form's string work: over --filter-eval-budget it is counted, and it pages by --log-read-max-work", async () => {
    const broker = await startBroker({ args: ['--log-read-max-work', '5000000'] });
    try {
      for (let i = 0; i < 12; i++) {
        expect((await send(broker.url, structuredEvent(`big-${i}`, HUGE_SUBJECT))).status).toBe(202);
      }
      const filter = encodeURIComponent(JSON.stringify({ sql: "LOWER(subject) LIKE '%zz%'" }));
      const response = await fetch(`${broker.adminUrl}/events?from=1&limit=1000&filter=${filter}`);
      expect(response.status).toBe(200);
      const page = (await response.json()) as { events: unknown[]; next: number };
      expect(page.events).toEqual([]);
      // About 1,000,000 units of work (the budget) per event: the page stops after about five.
      expect(page.next - 1).toBeLessThanOrEqual(7);
      const text = await metrics(broker.adminUrl);
      expect(metricValue(text, 'herald_limit_rejections_total{limit="log-read-max-work"}')).toBe(1);
      expect(
        metricValue(text, 'herald_filter_budget_exceeded_total{where="log-read"}'),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await broker.stop();
      removeDir(broker.dataDir);
    }
  });
});
