// Acceptance: with --admin-port, the log read API and the operations endpoints move to the admin port;
// ingress stays on the main port (so mesh policy can tell publishers from operators by port).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../infra/process.js';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { binaryHeaders, send } from '../support/http.js';

let broker: BrokerProcess;
let adminPort: number;

beforeAll(async () => {
  adminPort = await freePort();
  broker = await startBroker({ args: ['--admin-port', String(adminPort)] });
});

afterAll(async () => {
  await broker.stop();
  removeDir(broker.dataDir);
});

describe('--admin-port', () => {
  it('listens on the requested admin port, separate from the main port', () => {
    expect(broker.adminUrl).toBe(`http://127.0.0.1:${adminPort}`);
    expect(broker.url).not.toBe(broker.adminUrl);
  });

  it('serves ingress on the main port only', async () => {
    const main = await send(broker.url, { path: '/events', headers: binaryHeaders('admin-1') });
    expect(main.status).toBe(202);
    expect((await send(broker.url, { path: '/', headers: binaryHeaders('admin-2') })).status).toBe(202);
    const admin = await send(broker.adminUrl, { path: '/events', headers: binaryHeaders('admin-3') });
    expect(admin.status).toBe(405);
    expect(admin.json()).toMatchObject({ code: 'HERALD_METHOD_NOT_ALLOWED' });
    expect(admin.headers['allow']).toBe('GET');
    expect((await send(broker.adminUrl, { path: '/', headers: binaryHeaders('admin-4') })).status).toBe(404);
  });

  it('serves the log, metrics and health on the admin port only', async () => {
    const log = await fetch(`${broker.adminUrl}/events`);
    expect(log.status).toBe(200);
    const { events } = (await log.json()) as { events: { event: { id: string } }[] };
    expect(events.map((e) => e.event.id)).toEqual(['admin-1', 'admin-2']);
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      expect((await fetch(`${broker.adminUrl}${path}`)).status, path).toBe(200);
    }

    for (const path of ['/metrics', '/healthz', '/readyz', '/events/stream']) {
      const response = await send(broker.url, { method: 'GET', path });
      expect(response.status, path).toBe(404);
      expect(response.headers['content-type']).toBe('application/problem+json');
    }
    // POST /events exists on the main port, so GET there is a wrong method rather than an unknown route.
    const get = await send(broker.url, { method: 'GET', path: '/events' });
    expect(get.status).toBe(405);
    expect(get.json()).toMatchObject({ code: 'HERALD_METHOD_NOT_ALLOWED' });
    expect(get.headers['allow']).toBe('POST');
  });
});
