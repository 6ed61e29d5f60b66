// EventType resources the apiserver refuses to list at start (still starting, overloaded, a permission
// granted a moment later), against a real kube-apiserver + etcd through a proxy that answers their lists
// 503. The registry retries the list in the background; until it succeeds the broker does not know which
// types enforce a schema, so it must not accept their events as if none did: a publish answers 503 (retry),
// /readyz is not ready, and once the resources are read the schema is enforced as usual.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DataKind } from '../../src/cloudevents/index.js';
import type { CloudEvent } from '../../src/cloudevents/index.js';
import { EventTypeRegistry } from '../../src/eventtypes/index.js';
import { KubernetesEventTypeBackend } from '../../src/kubernetes/index.js';
import { BrokerMetrics, createLogger } from '../../src/observability/index.js';
import { thrownBy } from '../../src/testing/thrown.js';
import { sleep } from '../harness/client.js';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir, startBroker } from '../harness/processes.js';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, startCluster } from './cluster.js';
import { startWatchProxy } from './watch-proxy.js';
import type { WatchProxy } from './watch-proxy.js';

const logger = createLogger('silent');
/** A bound on how long a condition may take to come true, not a measure. */
const DEADLINE_MS = 30_000;
const TYPE = 'com.example.order.created';

let cluster: TestCluster;
let namespaces = 0;
const stops: Array<() => Promise<void> | void> = [];
const proxies: WatchProxy[] = [];

beforeAll(async () => {
  cluster = await startCluster();
}, 180_000);

afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  for (const proxy of proxies.splice(0)) await proxy.close();
});

afterAll(async () => {
  await cluster?.stop();
});

/** A namespace with broker `orders`'s EventType enforcing a schema, and a proxy refusing their lists. */
async function setUp() {
  const ns = `unlisted-${++namespaces}`;
  await cluster.createNamespace(ns);
  const created = await cluster.request('POST', `${GROUP_PATH}/namespaces/${ns}/eventtypes`, {
    apiVersion: 'eventing.herald.dev/v1alpha1',
    kind: 'EventType',
    metadata: { name: 'order-created' },
    spec: {
      broker: 'orders',
      type: TYPE,
      validation: 'enforce',
      schema: { type: 'object', required: ['total'], properties: { total: { type: 'number', minimum: 0 } } },
    },
  });
  expect(created.status, created.text).toBe(201);
  const proxy = await startWatchProxy(cluster.apiserver);
  proxies.push(proxy);
  proxy.failLists('eventtypes');
  return { ns, proxy };
}

async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${DEADLINE_MS} ms`);
    await sleep(100);
  }
}

const encoder = new TextEncoder();
function invalidEvent(): CloudEvent {
  return {
    attributes: { specversion: '1.0', id: 'x', type: TYPE, source: '/shop' },
    data: encoder.encode(JSON.stringify({ total: -1 })),
    dataKind: DataKind.Json,
  };
}

/** The event type registry of broker `orders` in `ns`, on the Kubernetes backend through `proxy`, started. */
function startRegistry(proxy: WatchProxy, ns: string): EventTypeRegistry {
  const registry = new EventTypeRegistry({
    backend: new KubernetesEventTypeBackend({
      config: proxy.kubeConfig(),
      namespace: ns,
      broker: 'orders',
      logger,
    }),
    metrics: new BrokerMetrics(false),
    logger,
    max: 1000,
    rate: 100,
  });
  stops.push(() => registry.stop());
  registry.start();
  return registry;
}

describe('EventType resources that cannot be listed at start', () => {
  it('registry: an event of an enforced type is not passed unchecked while they are unread', async () => {
    const { ns, proxy } = await setUp();
    const registry = startRegistry(proxy, ns);
    await eventually(() => proxy.failedLists() >= 1, 'a refused list');
    // What ingress asks before it stores: the schema is unknown, so "no schema" is not the answer.
    expect(thrownBy(() => registry.check([invalidEvent()]))).toMatchObject({
      code: 'HERALD_NOT_READY',
      retryAfter: 1,
    });
    expect(registry.declarationsRead).toBe(false);
    proxy.failLists(undefined);
    await eventually(() => registry.declarationsRead, 'the EventType resources read');
    expect(thrownBy(() => registry.check([invalidEvent()]))).toMatchObject({
      code: 'HERALD_SCHEMA_VIOLATION',
      pointer: '/data/total',
    });
  }, 60_000);

  it('broker: a publish answers 503 with Retry-After and /readyz is not ready until they are read', async () => {
    const { ns, proxy } = await setUp();
    const kubeconfig = join(cluster.apiserver.dir, `${ns}.kubeconfig`);
    writeFileSync(kubeconfig, proxy.kubeConfig().exportConfig());
    const broker: BrokerProcess = await startBroker({
      args: ['--kubernetes', '--namespace', ns, '--broker-name', 'orders', '--durability', 'buffered'],
      env: { KUBECONFIG: kubeconfig },
    });
    stops.push(async () => {
      await broker.stop();
      removeDir(broker.dataDir);
    });
    const publish = () =>
      fetch(`${broker.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify({
          specversion: '1.0',
          id: 'x1',
          source: '/shop',
          type: TYPE,
          data: { total: -1 },
        }),
      });
    await eventually(() => proxy.failedLists() >= 1, 'a refused list');
    const refused = await publish();
    // Read as text: the 202 of an event stored unchecked has no body.
    expect({ status: refused.status, body: await refused.text() }).toMatchObject({
      status: 503,
      body: expect.stringContaining('"code":"HERALD_NOT_READY"') as unknown,
    });
    expect(refused.headers.get('retry-after')).toBe('1');
    const readyz = await fetch(`${broker.adminUrl}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toMatchObject({ cause: 'event-types' });
    proxy.failLists(undefined);
    await eventually(async () => (await fetch(`${broker.adminUrl}/readyz`)).status === 200, '/readyz ready');
    const checked = await publish();
    expect(checked.status).toBe(400);
    expect(await checked.json()).toMatchObject({ code: 'HERALD_SCHEMA_VIOLATION', pointer: '/data/total' });
  }, 90_000);

  // Last: it removes the CRD from the cluster the tests above share.
  it('registry: without the EventType CRD nothing can declare a schema, so publishes are not held', async () => {
    const { ns, proxy } = await setUp();
    proxy.failLists(undefined);
    const removed = await cluster.request(
      'DELETE',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/eventtypes.eventing.herald.dev',
    );
    expect(removed.status, removed.text).toBeLessThan(300);
    const list = `${GROUP_PATH}/namespaces/${ns}/eventtypes`;
    await eventually(async () => (await cluster.request('GET', list)).status === 404, 'the CRD gone');
    const registry = startRegistry(proxy, ns);
    await eventually(() => registry.declarationsRead, 'the declarations known');
    await registry.whenDeclarationsRead;
    registry.check([invalidEvent()]);
  }, 60_000);
});
