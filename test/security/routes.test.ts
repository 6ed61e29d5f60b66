// Acceptance (#10 point 6, "routes in their place"): with --admin-port the seed subscription routes live on
// the admin port; subscription-creating routes take a JSON body only (no fields from the query string)
// and refuse cross-site browser requests (CSRF); the original routes keep working without --admin-port.
// Also: with --auth none on a non-loopback address the broker warns at start-up.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../infra/process.js';
import { CLI, removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { send } from '../support/http.js';

let broker: BrokerProcess;
beforeAll(async () => {
  broker = await startBroker({ args: ['--admin-port', String(await freePort())] });
});
afterAll(async () => {
  await broker.stop();
  removeDir(broker.dataDir);
});

const seed = { subject: 'routes', subscribers: ['http://127.0.0.1:9/seed'] };
const postJson = (base: string, pathName: string, body: unknown, headers: Record<string, string> = {}) =>
  send(base, {
    path: pathName,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
const count = async () =>
  (await send(broker.adminUrl, { method: 'GET', path: '/subscriptions' })).json<unknown[]>().length;

describe('seed routes with --admin-port', () => {
  it('serve /events/sub and /events/unsub on the admin port only; /events/pub stays on the data port', async () => {
    const onData = await postJson(broker.url, '/events/sub', seed);
    expect(onData.status).toBe(404);
    const unsubOnData = await send(broker.url, { method: 'DELETE', path: '/events/unsub?subscriptionId=x' });
    expect(unsubOnData.status).toBe(404);
    expect(await count()).toBe(0);

    const created = await postJson(broker.adminUrl, '/events/sub', seed);
    expect(created.status).toBe(201);
    const { id } = created.json<{ id: string }>();
    expect(await count()).toBe(1);
    const deleteOnData = await send(broker.url, {
      method: 'DELETE',
      path: `/events/unsub?subscriptionId=${id}`,
    });
    expect(deleteOnData.status).toBe(404);
    expect(await count()).toBe(1);
    const deleted = await send(broker.adminUrl, {
      method: 'DELETE',
      path: `/events/unsub?subscriptionId=${id}`,
    });
    expect(deleted.status).toBe(204);
    expect(await count()).toBe(0);

    const published = await postJson(broker.url, '/events/pub', {
      specversion: '1.0',
      id: 'routes-1',
      source: '/s',
      type: 't',
    });
    expect(published.status).toBe(202);
  });
});

describe('subscription-creating routes (CSRF)', () => {
  it('take no fields from the query string', async () => {
    const query = await send(broker.adminUrl, {
      path: '/events/sub?subscribers=http://127.0.0.1:9/q&subject=x',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(query.status).toBe(400);
    expect(query.json()).toMatchObject({ code: 'HERALD_INVALID_QUERY' });
    const empty = await send(broker.adminUrl, { path: '/events/sub?subscribers=http://127.0.0.1:9/q' });
    expect(empty.status).toBe(400);
    expect(await count()).toBe(0);
  });

  it('refuse what an HTML form can send: urlencoded and text/plain bodies', async () => {
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', 'subscribers=http://127.0.0.1:9/f'],
      ['text/plain', JSON.stringify(seed)],
      ['multipart/form-data; boundary=x', '--x\r\n\r\n--x--'],
    ] as const) {
      for (const pathName of ['/events/sub', '/subscriptions']) {
        const response = await send(broker.adminUrl, {
          path: pathName,
          headers: { 'content-type': type },
          body,
        });
        expect(response.status, `${pathName} ${type}`).toBe(415);
        expect(response.json()).toMatchObject({ code: 'HERALD_UNSUPPORTED_MEDIA_TYPE' });
      }
    }
    expect(await count()).toBe(0);
  });

  it('routes acting on one subscription refuse form and text bodies too, and change nothing', async () => {
    const created = await postJson(broker.adminUrl, '/subscriptions', {
      sink: 'http://127.0.0.1:9/forms',
      protocol: 'HTTP',
    });
    expect(created.status).toBe(201);
    const id = created.json<{ id: string }>().id;
    const state = async () =>
      (await send(broker.adminUrl, { method: 'GET', path: `/subscriptions/${id}` })).json<{
        status: { state: string };
      }>().status.state;
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', 'to=earliest'],
      ['text/plain', '{}'],
      ['multipart/form-data; boundary=x', '--x\r\n\r\n--x--'],
    ] as const) {
      for (const action of ['pause', 'resume', 'seek', 'deadletters/redrive']) {
        const response = await send(broker.adminUrl, {
          path: `/subscriptions/${id}/${action}`,
          headers: { 'content-type': type },
          body,
        });
        expect(response.status, `${action} ${type}`).toBe(415);
        expect(response.json()).toMatchObject({ code: 'HERALD_UNSUPPORTED_MEDIA_TYPE' });
      }
    }
    expect(await state()).not.toBe('paused');
    // Without a body, or with an empty JSON object, pause and resume work.
    expect((await send(broker.adminUrl, { path: `/subscriptions/${id}/pause` })).status).toBe(200);
    expect(await state()).toBe('paused');
    expect((await postJson(broker.adminUrl, `/subscriptions/${id}/resume`, {})).status).toBe(200);
    expect(await state()).not.toBe('paused');
    expect((await postJson(broker.adminUrl, `/subscriptions/${id}/pause`, { now: true })).status).toBe(400);
    await send(broker.adminUrl, { method: 'DELETE', path: `/subscriptions/${id}` });
  });

  it('refuse a cross-site browser request and accept a same-origin one and a non-browser one', async () => {
    const host = new URL(broker.adminUrl).host;
    for (const headers of [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: `http://${host}.evil.example` },
    ]) {
      for (const [pathName, body] of [
        ['/events/sub', seed],
        ['/subscriptions', { sink: 'http://127.0.0.1:9/x', protocol: 'HTTP' }],
      ] as const) {
        const response = await postJson(broker.adminUrl, pathName, body, headers);
        expect(response.status, `${pathName} ${JSON.stringify(headers)}`).toBe(403);
        expect(response.json()).toMatchObject({ code: 'HERALD_CROSS_ORIGIN' });
      }
    }
    expect(await count()).toBe(0);
    const sameOrigin = await postJson(broker.adminUrl, '/events/sub', seed, {
      origin: `http://${host}`,
      'sec-fetch-site': 'same-origin',
    });
    expect(sameOrigin.status).toBe(201);
    expect((await postJson(broker.adminUrl, '/events/sub', seed)).status).toBe(201);
    expect(await count()).toBe(2);
  });
});

describe('without --admin-port', () => {
  it('keeps the original routes on the one port', async () => {
    const single = await startBroker();
    try {
      const created = await postJson(single.url, '/events/sub', seed);
      expect(created.status).toBe(201);
      const { id } = created.json<{ id: string }>();
      expect(
        (await send(single.url, { method: 'DELETE', path: `/events/unsub?subscriptionId=${id}` })).status,
      ).toBe(204);
    } finally {
      await single.stop();
      removeDir(single.dataDir);
    }
  });
});

/**
 * Starts a broker outside the harness (which always binds loopback) and returns its log lines up to a
 * moment after the listening line: the warning, when there is one, is written right after it.
 */
async function startUpLog(host: string): Promise<string[]> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'herald-warn-'));
  const child = spawn(
    process.execPath,
    [CLI, 'broker', '--host', host, '--port', '0', '--data-dir', dataDir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${lines.join('\n')}`)), 30_000);
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${lines.join('\n')}`)));
      createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(line);
        if (line.includes('herald broker listening')) {
          clearTimeout(timer);
          setTimeout(resolve, 500);
        }
      });
    });
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    removeDir(dataDir);
  }
  return lines;
}

describe('--auth none', () => {
  it('warns clearly at start-up when the broker listens beyond loopback, and not on loopback', async () => {
    // Listens on all interfaces for a moment; the test itself connects nowhere.
    const open = await startUpLog('0.0.0.0');
    const warning = open.find((l) => l.includes('--auth none'));
    expect(warning).toBeDefined();
    expect(JSON.parse(warning as string)).toMatchObject({ level: 40, host: '0.0.0.0' });
    const loopback = await startUpLog('127.0.0.1');
    expect(loopback.some((l) => l.includes('--auth none'))).toBe(false);
  });
});
