// DNS rebinding: a page of evil.example whose name is made to resolve to the broker is same-origin with
// it, so the Origin check passes. Browser requests (Origin or Sec-Fetch-*) must name the broker by a
// Host rebinding cannot take over; clients that are not browsers are unaffected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { metricValue, send } from '../support/http.js';

let broker: BrokerProcess;
beforeAll(async () => {
  // --auth none (the default): only the browser checks stand between a web page and the control API.
  broker = await startBroker({ args: ['--allowed-hosts', 'herald.example.com,*.events.example.org'] });
});
afterAll(async () => {
  await broker?.stop();
  if (broker !== undefined) removeDir(broker.dataDir);
});

const port = () => new URL(broker.url).port;

/** What a page served from `http://HOST:PORT` sends when it POSTs a subscription to its own origin. */
const fromPageOf = (host: string) => ({
  host: `${host}:${port()}`,
  origin: `http://${host}:${port()}`,
  'sec-fetch-site': 'same-origin',
  'sec-fetch-mode': 'cors',
});

const createSubscription = (headers: Record<string, string>) =>
  send(broker.url, {
    path: '/subscriptions',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ sink: 'http://127.0.0.1:9/', protocol: 'HTTP' }),
  });

const subscriptionCount = async () =>
  (await send(broker.url, { method: 'GET', path: '/subscriptions' })).json<unknown[]>().length;

describe('browser requests and the Host they name', () => {
  it('refuses a rebound page (Host evil.example) with a coded 403, counts it, and creates nothing', async () => {
    const before = await subscriptionCount();
    const refused = await createSubscription(fromPageOf('evil.example'));
    expect(refused.status).toBe(403);
    expect(refused.headers['content-type']).toBe('application/problem+json');
    expect(refused.json()).toMatchObject({ code: 'HERALD_CROSS_ORIGIN' });
    expect(refused.json<{ detail: string }>().detail).toContain('--allowed-hosts');
    expect(await subscriptionCount()).toBe(before);
    // A read from the rebound page, as a browser sends it over HTTPS (Sec-Fetch-*), is refused too.
    const read = await send(broker.url, {
      method: 'GET',
      path: '/events',
      headers: { host: `evil.example:${port()}`, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' },
    });
    expect(read.status).toBe(403);
    const metrics = (await send(broker.url, { method: 'GET', path: '/metrics' })).text();
    expect(metricValue(metrics, 'herald_authz_denials_total{action="host"}')).toBeGreaterThanOrEqual(2);
  });

  // Whoever owns evil.example owns every name under it, `svc` labels included: a Kubernetes service
  // name is only one whose cluster domain no public DNS zone can hold.
  it.each([
    ['herald-broker-default.shop.svc.evil.example'],
    ['x.svc.evil.example.'],
    ['x.svc.cluster.local.evil.example'],
  ])('refuses a rebound page whose public name merely contains .svc. (%s)', async (host) => {
    const before = await subscriptionCount();
    const refused = await createSubscription(fromPageOf(host));
    expect(refused.status).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'HERALD_CROSS_ORIGIN' });
    expect(await subscriptionCount()).toBe(before);
    const read = await send(broker.url, {
      method: 'GET',
      path: '/events',
      headers: { host: `${host}:${port()}`, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' },
    });
    expect(read.status).toBe(403);
  });

  it.each([
    ['127.0.0.1'],
    ['localhost'], // kubectl port-forward
    ['[::1]'],
    ['herald-broker-default'], // a Service in the same namespace
    ['herald-broker-default.shop.svc'],
    ['herald-broker-default.shop.svc.cluster.local'],
    ['herald-broker-default.shop.svc.corp.internal'], // a cluster domain other than cluster.local
    ['herald.example.com.'], // the same name with its root dot
    ['herald.example.com'], // --allowed-hosts
    ['ui.events.example.org'], // --allowed-hosts *.events.example.org
  ])('accepts a page served from %s', async (host) => {
    expect((await createSubscription(fromPageOf(host))).status).toBe(201);
  });

  it('serves the dashboard to a browser via localhost and via a configured name, not via another', async () => {
    const navigate = (host: string) =>
      send(broker.url, {
        method: 'GET',
        path: '/ui/',
        headers: {
          host: `${host}:${port()}`,
          'sec-fetch-site': 'none',
          'sec-fetch-mode': 'navigate',
          'sec-fetch-dest': 'document',
        },
      });
    expect((await navigate('localhost')).status).toBe(200);
    expect((await navigate('herald.example.com')).status).toBe(200);
    expect((await navigate('evil.example')).status).toBe(403);
  });

  it('leaves clients that are not browsers alone, whatever Host they send', async () => {
    expect((await createSubscription({ host: `evil.example:${port()}` })).status).toBe(201);
    // Node's fetch (Herald's own client and CLI) sends Sec-Fetch-Mode: cors on every request.
    expect(
      (await createSubscription({ host: `herald.internal.example:${port()}`, 'sec-fetch-mode': 'cors' }))
        .status,
    ).toBe(201);
  });
});
