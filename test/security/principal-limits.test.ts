// Acceptance (#10 point 8, with #11 finding 3): the ingress rate limit applies per principal. Two
// principals publish from the same address; one spends its budget and gets 429, the other still publishes.
// Its budget is keyed by the authenticated principal, not by the connection's address.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir } from '../harness/processes.js';
import { binaryHeaders, metricValue, readLog, send } from '../support/http.js';
import { startSecureBroker } from './fixtures.js';
import type { SecureBroker } from './fixtures.js';

let secure: SecureBroker;
beforeAll(async () => {
  // One event per 10 s refills: the buckets stay empty however slow the machine is.
  secure = await startSecureBroker([
    '--ingress-rate-limit',
    '0.1',
    '--ingress-rate-burst',
    '2',
    '--ingress-rate-limit-per',
    'client',
  ]);
});
afterAll(async () => {
  await secure?.broker.stop();
  if (secure !== undefined) {
    removeDir(secure.broker.dataDir);
    removeDir(secure.dir);
  }
});

const publish = (principal: 'alice' | 'bob', id: string) =>
  send(secure.broker.url, {
    path: '/events',
    headers: { ...binaryHeaders(id), ...secure.bearer(principal) },
  });

describe('per-principal ingress rate', () => {
  it('gives each principal its own budget, whatever address it publishes from', async () => {
    expect((await publish('alice', 'alice-1')).status).toBe(202);
    expect((await publish('alice', 'alice-2')).status).toBe(202);
    const limited = await publish('alice', 'alice-3');
    expect(limited.status).toBe(429);
    expect(limited.json()).toMatchObject({ code: 'HERALD_RATE_LIMITED' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Same loopback address, another principal: its own bucket is full.
    expect((await publish('bob', 'bob-1')).status).toBe(202);
    expect((await publish('bob', 'bob-2')).status).toBe(202);
    expect((await publish('bob', 'bob-3')).status).toBe(429);
    const ids = (await readLog(secure.broker.adminUrl, secure.bearer('ops'))).map((e) => e.event['id']);
    expect(ids).toEqual(['alice-1', 'alice-2', 'bob-1', 'bob-2']);
    const metrics = await send(secure.broker.adminUrl, {
      method: 'GET',
      path: '/metrics',
      headers: secure.bearer('ops'),
    });
    expect(metricValue(metrics.text(), 'herald_limit_rejections_total{limit="ingress-rate-limit"}')).toBe(2);
  });
});
