// Acceptance: 413 per event and per body, 429 with Retry-After, 503 with Retry-After when the store
// cannot write (and nothing of that request is stored).
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { useBrokers } from '../harness/processes.js';
import { binaryHeaders, readLog, send } from '../support/http.js';

const broker = useBrokers();

const BATCH = { 'content-type': 'application/cloudevents-batch+json' };
const event = (id: string, extra: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  id,
  source: '/herald/limits',
  type: 'dev.herald.test',
  ...extra,
});

describe('size limits', () => {
  it('accepts events up to --max-event-size and bodies up to --max-request-size, and 413s above', async () => {
    const b = await broker(['--max-event-size', '64KiB', '--max-request-size', '128KiB']);
    // The spec's floor: an event of 64 KiB on the wire must pass; 60 000 data bytes plus attributes do.
    const fits = await send(b.url, {
      headers: binaryHeaders('fits', { 'content-type': 'text/plain' }),
      body: 'a'.repeat(60_000),
    });
    expect(fits.status).toBe(202);
    const tooBig = await send(b.url, {
      headers: binaryHeaders('too-big', { 'content-type': 'text/plain' }),
      body: 'a'.repeat(70_000),
    });
    expect(tooBig.status).toBe(413);
    expect(tooBig.json()).toMatchObject({ code: 'HERALD_PAYLOAD_TOO_LARGE', index: 0 });
    // Two events that each fit make a body that fits; three make one that does not.
    const two = JSON.stringify([
      event('two-1', { data: 'b'.repeat(50_000) }),
      event('two-2', { data: 'b'.repeat(50_000) }),
    ]);
    expect((await send(b.url, { headers: BATCH, body: two })).status).toBe(202);
    const three = JSON.stringify([1, 2, 3].map((n) => event(`three-${n}`, { data: 'c'.repeat(50_000) })));
    for (const chunked of [false, true]) {
      const response = await send(b.url, { headers: BATCH, body: three, chunked });
      expect(response.status).toBe(413);
      expect(response.json()).toMatchObject({ code: 'HERALD_PAYLOAD_TOO_LARGE' });
    }
    expect((await readLog(b.adminUrl)).map((e) => e.event['id'])).toEqual(['fits', 'two-1', 'two-2']);
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After over --ingress-rate-limit, storing only what it accepted', async () => {
    const b = await broker(['--ingress-rate-limit', '1']);
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, i) => send(b.url, { headers: binaryHeaders(`burst-${i}`) })),
    );
    const accepted = responses.filter((r) => r.status === 202);
    const limited = responses.filter((r) => r.status === 429);
    expect(accepted.length + limited.length).toBe(responses.length);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    for (const response of limited) {
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.json()).toMatchObject({ code: 'HERALD_RATE_LIMITED', status: 429 });
      expect(response.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    }
    expect((await readLog(b.adminUrl)).length).toBe(accepted.length);
  });
});

describe('store unavailable', () => {
  it('while another process holds the database lock, accepts requests only while their index rows may wait, then answers 503 with Retry-After, stores nothing of it, and recovers', async () => {
    const b = await broker();
    expect((await send(b.url, { headers: binaryHeaders('before-lock') })).status).toBe(202);

    const db = new Database(path.join(b.dataDir, 'default.db'));
    const accepted: string[] = [];
    let refused: Awaited<ReturnType<typeof send>> | undefined;
    try {
      db.exec('BEGIN IMMEDIATE');
      // Each request's records go to the segment and its index rows wait; the rows waiting are bounded,
      // and the request that finds the bound reached (and the lock still held) is refused whole.
      for (let i = 0; i < 300 && refused === undefined; i++) {
        const ids = [`locked-${i}-a`, `locked-${i}-b`];
        const answer = await send(b.url, {
          headers: BATCH,
          body: JSON.stringify(ids.map((id) => event(id))),
        });
        if (answer.status === 202) accepted.push(...ids);
        else refused = answer;
      }
      expect(refused, 'a request refused within 300').toBeDefined();
      const blocked = refused as NonNullable<typeof refused>;
      expect(blocked.status, blocked.text()).toBe(503);
      expect(blocked.headers['content-type']).toBe('application/problem+json');
      expect(blocked.headers['retry-after']).toMatch(/^[1-9]\d*$/);
      expect(blocked.json()).toMatchObject({ code: 'HERALD_STORE_UNAVAILABLE', status: 503 });
      expect(accepted.length).toBeGreaterThan(0);
      db.exec('ROLLBACK');
    } finally {
      db.close();
    }

    // Everything acknowledged is there, nothing of the refused request (not even a dedupe key: the
    // same events are accepted and stored now).
    const ids = ['before-lock', ...accepted];
    expect((await readLog(b.adminUrl)).map((e) => e.event['id'])).toEqual(ids);
    const n = accepted.length / 2;
    const retried = await send(b.url, {
      headers: BATCH,
      body: JSON.stringify([event(`locked-${n}-a`), event(`locked-${n}-b`)]),
    });
    expect(retried.status).toBe(202);
    const log = await readLog(b.adminUrl);
    expect(log.map((e) => e.event['id'])).toEqual([...ids, `locked-${n}-a`, `locked-${n}-b`]);
    expect(log.map((e) => e.sequence)).toEqual(Array.from({ length: ids.length + 2 }, (_, i) => i + 1));
  });
});
