// Issue 11, findings 3, 8 and the extension cap of 9: ingress rate limits count events and never go
// into debt, per client when asked; deeply nested JSON and hundreds of extensions are coded 400s.
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { useBrokers } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { binaryHeaders, metricValue, readLog, send } from '../support/http.js';

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
    const b = await broker(['--ingress-rate-limit', '10']);
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
