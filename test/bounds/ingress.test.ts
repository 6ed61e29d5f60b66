// Issue 11, findings 3, 8 and the extension cap of 9: ingress rate limits count events and never go
// into debt, per client when asked; deeply nested JSON and hundreds of extensions are coded 400s. Later
// review: events per batch are capped, every 413 is counted under its flag, control-API bodies honour
// --max-json-depth, and a client closing mid-body is its own outcome, not an internal error.
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { removeDir, startBroker, useBrokers } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { binaryHeaders, metricValue, readLog, send, sleep } from '../support/http.js';

const broker = useBrokers();

const BATCH = { 'content-type': 'application/cloudevents-batch+json' };
const STRUCTURED = { 'content-type': 'application/cloudevents+json' };
const event = (id: string, extra: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  id,
  source: '/herald/bounds',
  type: 'dev.herald.test',
  ...extra,
});
const metrics = async (b: BrokerProcess) => (await fetch(`${b.adminUrl}/metrics`)).text();

describe('ingress rate limit counts events', () => {
  it('refuses a batch of 100,000 events over a limit of 10/s whole (413), without debt for others', async () => {
    const b = await broker(['--ingress-rate-limit', '10', '--max-batch-events', '200000']);
    const batch = JSON.stringify(Array.from({ length: 100_000 }, (_, i) => event(`big-${i}`)));
    const big = await send(b.url, { headers: BATCH, body: batch });
    expect(big.status).toBe(413);
    expect(big.headers['content-type']).toBe('application/problem+json');
    expect(big.json()).toMatchObject({ code: 'HERALD_RATE_BURST_EXCEEDED' });
    // Nothing of it was stored and nothing was spent: another publisher's next event passes.
    const next = await send(b.url, { headers: binaryHeaders('after-big') });
    expect(next.status).toBe(202);
    expect((await readLog(b.adminUrl)).map((e) => e.event['id'])).toEqual(['after-big']);
    expect(metricValue(await metrics(b), 'herald_limit_rejections_total{limit="ingress-rate-burst"}')).toBe(
      1,
    );
  });

  it('answers 429 with a Retry-After of at most one burst once the burst is spent', async () => {
    // One event per 10 s refills, so the bucket stays empty however slow the machine is.
    const b = await broker(['--ingress-rate-limit', '0.1', '--ingress-rate-burst', '10']);
    // A batch of 10 spends the burst; the next request is refused, for at most one burst's refill.
    const ten = JSON.stringify(Array.from({ length: 10 }, (_, i) => event(`ten-${i}`)));
    expect((await send(b.url, { headers: BATCH, body: ten })).status).toBe(202);
    const limited = await send(b.url, { headers: binaryHeaders('one-more') });
    expect(limited.status).toBe(429);
    expect(limited.json()).toMatchObject({ code: 'HERALD_RATE_LIMITED' });
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect((await readLog(b.adminUrl)).length).toBe(10);
  });

  it('keeps one bucket per client with --ingress-rate-limit-per client', async () => {
    const b = await broker([
      '--ingress-rate-limit',
      '0.1',
      '--ingress-rate-burst',
      '2',
      '--ingress-rate-limit-per',
      'client',
    ]);
    const other = new http.Agent({ localAddress: '127.0.0.2' });
    try {
      const two = JSON.stringify([event('a-1'), event('a-2')]);
      expect((await send(b.url, { headers: BATCH, body: two })).status).toBe(202);
      expect((await send(b.url, { headers: binaryHeaders('a-3') })).status).toBe(429);
      // Another client address has its own budget.
      const fromOther = await send(b.url, { headers: binaryHeaders('b-1'), agent: other });
      expect(fromOther.status).toBe(202);
      expect((await readLog(b.adminUrl)).map((e) => e.event['id'])).toEqual(['a-1', 'a-2', 'b-1']);
    } finally {
      other.destroy();
    }
  });
});

describe('deeply nested JSON', () => {
  it('answers a coded 400 (never a 500) for data nested 5,000 levels, in every JSON form', async () => {
    const b = await broker();
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const structured = `{"specversion":"1.0","id":"deep","source":"/s","type":"t","data":${deep}}`;
    const forms = [
      { headers: STRUCTURED, body: structured },
      { headers: BATCH, body: `[${structured}]` },
      { headers: binaryHeaders('deep-binary', { 'content-type': 'application/json' }), body: deep },
      { path: '/events/pub', headers: { 'content-type': 'application/json' }, body: structured },
    ];
    for (const form of forms) {
      const response = await send(b.url, form);
      expect(response.status, response.text()).toBe(400);
      expect(response.json()).toMatchObject({ code: 'HERALD_JSON_TOO_DEEP' });
    }
    // Just under the default limit passes and round-trips.
    const fine = '['.repeat(60) + ']'.repeat(60);
    const ok = await send(b.url, {
      headers: STRUCTURED,
      body: `{"specversion":"1.0","id":"ok","source":"/s","type":"t","data":${fine}}`,
    });
    expect(ok.status).toBe(202);
    expect((await readLog(b.adminUrl)).map((e) => e.event['id'])).toEqual(['ok']);
    expect(metricValue(await metrics(b), 'herald_limit_rejections_total{limit="max-json-depth"}')).toBe(4);
    // Control API bodies too.
    const control = await fetch(`${b.adminUrl}/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"sink":"http://127.0.0.1:9/","protocol":"HTTP","config":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`,
    });
    expect(control.status).toBe(400);
    expect(await control.json()).toMatchObject({ code: 'HERALD_JSON_TOO_DEEP' });
  });
});

describe('extension attributes', () => {
  it('refuses an event with 600 ce- extension headers (or members) with a coded 400', async () => {
    const b = await broker();
    const headers: Record<string, string> = {};
    for (let i = 0; i < 600; i++) headers[`ce-ext${i}`] = 'x';
    const binary = await send(b.url, { headers: binaryHeaders('many-ext', headers) });
    expect(binary.status).toBe(400);
    expect(binary.json()).toMatchObject({ code: 'HERALD_TOO_MANY_EXTENSIONS', index: 0 });
    const members: Record<string, string> = {};
    for (let i = 0; i < 600; i++) members[`ext${i}`] = 'x';
    const structured = await send(b.url, {
      headers: STRUCTURED,
      body: JSON.stringify(event('many-ext-2', members)),
    });
    expect(structured.status).toBe(400);
    expect(structured.json()).toMatchObject({ code: 'HERALD_TOO_MANY_EXTENSIONS' });
    // At the default cap of 64 the event passes.
    const fits: Record<string, string> = {};
    for (let i = 0; i < 64; i++) fits[`ce-ext${i}`] = 'x';
    expect((await send(b.url, { headers: binaryHeaders('fits', fits) })).status).toBe(202);
    expect((await readLog(b.adminUrl)).map((e) => e.event['id'])).toEqual(['fits']);
  });
});

describe('events per batch (--max-batch-events)', () => {
  it('refuses a batch over the cap with a coded 413 before storing any of it, and counts it', async () => {
    const b = await broker(['--max-batch-events', '3']);
    const over = await send(b.url, {
      headers: BATCH,
      body: JSON.stringify([1, 2, 3, 4].map((n) => event(`over-${n}`))),
    });
    expect(over.status).toBe(413);
    expect(over.headers['content-type']).toBe('application/problem+json');
    expect(over.json()).toMatchObject({ code: 'HERALD_TOO_MANY_EVENTS', status: 413 });
    const at = await send(b.url, {
      headers: BATCH,
      body: JSON.stringify([1, 2, 3].map((n) => event(`at-${n}`))),
    });
    expect(at.status).toBe(202);
    expect((await readLog(b.adminUrl)).map((e) => e.event['id'])).toEqual(['at-1', 'at-2', 'at-3']);
    expect(metricValue(await metrics(b), 'herald_limit_rejections_total{limit="max-batch-events"}')).toBe(1);
  });

  it('has a default cap: 5,001 minimal events are refused whole', async () => {
    const b = await broker();
    const batch = JSON.stringify(Array.from({ length: 5001 }, (_, i) => event(`default-${i}`)));
    const response = await send(b.url, { headers: BATCH, body: batch });
    expect(response.status).toBe(413);
    expect(response.json()).toMatchObject({ code: 'HERALD_TOO_MANY_EVENTS' });
    expect(await readLog(b.adminUrl)).toEqual([]);
  });
});

describe('size limits are counted under their flags', () => {
  it('counts --max-event-size, --max-request-size (declared and chunked) and --max-control-request-size', async () => {
    const b = await broker([
      '--max-event-size',
      '64KiB',
      '--max-request-size',
      '128KiB',
      '--max-control-request-size',
      '2KiB',
    ]);
    const bigEvent = await send(b.url, {
      headers: binaryHeaders('big-event', { 'content-type': 'text/plain' }),
      body: 'a'.repeat(70_000),
    });
    expect(bigEvent.json()).toMatchObject({ code: 'HERALD_PAYLOAD_TOO_LARGE', index: 0 });
    const body = JSON.stringify([1, 2, 3].map((n) => event(`big-${n}`, { data: 'c'.repeat(50_000) })));
    for (const chunked of [false, true]) {
      const response = await send(b.url, { headers: BATCH, body, chunked });
      expect(response.status).toBe(413);
      expect(response.json()).toMatchObject({ code: 'HERALD_PAYLOAD_TOO_LARGE' });
    }
    const control = await send(b.adminUrl, {
      path: '/subscriptions',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        sink: 'http://127.0.0.1:9/',
        protocol: 'HTTP',
        filters: [{ exact: { type: 'x'.repeat(3000) } }],
      }),
    });
    expect(control.status).toBe(413);
    expect(control.json()).toMatchObject({ code: 'HERALD_PAYLOAD_TOO_LARGE' });
    const text = await metrics(b);
    expect(metricValue(text, 'herald_limit_rejections_total{limit="max-event-size"}')).toBe(1);
    expect(metricValue(text, 'herald_limit_rejections_total{limit="max-request-size"}')).toBe(2);
    expect(metricValue(text, 'herald_limit_rejections_total{limit="max-control-request-size"}')).toBe(1);
    expect(await readLog(b.adminUrl)).toEqual([]);
  });
});

describe('a structured event body that cannot be within --max-event-size', () => {
  it('is refused with 413 before it is parsed', async () => {
    const b = await broker(['--max-event-size', '64KiB', '--max-request-size', '1MiB']);
    // 300 KB and not even complete JSON: the size alone refuses it (a parse would say malformed).
    const response = await send(b.url, {
      headers: { 'content-type': 'application/cloudevents+json' },
      body: `{"specversion":"1.0","id":"huge","source":"/s","type":"t","data":"${'c'.repeat(300_000)}`,
    });
    expect(response.status).toBe(413);
    expect(response.json()).toMatchObject({ code: 'HERALD_PAYLOAD_TOO_LARGE' });
    const text = await metrics(b);
    expect(metricValue(text, 'herald_limit_rejections_total{limit="max-event-size"}')).toBe(1);
    expect(await readLog(b.adminUrl)).toEqual([]);
  });
});

describe('control API bodies and --max-json-depth', () => {
  it('refuses a subscription body deeper than a lowered --max-json-depth, and counts it', async () => {
    const b = await broker(['--max-json-depth', '4']);
    const subscription = (filters: unknown) =>
      send(b.adminUrl, {
        path: '/subscriptions',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sink: 'http://127.0.0.1:9/', protocol: 'HTTP', filters }),
      });
    // body → filters → all → filter → exact: five levels.
    const deep = await subscription([{ all: [{ exact: { type: 't' } }] }]);
    expect(deep.status).toBe(400);
    expect(deep.json()).toMatchObject({ code: 'HERALD_JSON_TOO_DEEP' });
    // body → filters → filter → exact: four levels pass.
    expect((await subscription([{ exact: { type: 't' } }])).status).toBe(201);
    expect(metricValue(await metrics(b), 'herald_limit_rejections_total{limit="max-json-depth"}')).toBe(1);
  });
});

describe('a client that closes mid-body', () => {
  it('is counted as HERALD_CLIENT_CLOSED_REQUEST, never HERALD_INTERNAL, and logs no error', async () => {
    let output = '';
    const b = await startBroker({ onOutput: (text) => (output += text) });
    try {
      const { port } = new URL(b.url);
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve, reject) => {
          const socket = net.connect(Number(port), '127.0.0.1', () => {
            socket.write(
              'POST /events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/cloudevents-batch+json\r\n' +
                'content-length: 1000\r\n\r\n[{"specversion":"1.0","id":"half",',
              () => socket.destroy(),
            );
          });
          socket.on('close', () => resolve());
          socket.on('error', reject);
        });
      }
      const rejected = (text: string, code: string) =>
        metricValue(text, `herald_requests_rejected_total{code="${code}"}`) ?? 0;
      // Until the broker has seen all three closes (one outcome or the other); bounded by the test timeout.
      let text = await metrics(b);
      while (rejected(text, 'HERALD_CLIENT_CLOSED_REQUEST') + rejected(text, 'HERALD_INTERNAL') < 3) {
        await sleep(20);
        text = await metrics(b);
      }
      expect(rejected(text, 'HERALD_INTERNAL')).toBe(0);
      expect(rejected(text, 'HERALD_CLIENT_CLOSED_REQUEST')).toBe(3);
      expect(output).not.toContain('request failed');
      expect(await readLog(b.adminUrl)).toEqual([]);
    } finally {
      await b.stop();
      removeDir(b.dataDir);
    }
  });
});
