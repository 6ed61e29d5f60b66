// A watch whose connection dies silently, against a real kube-apiserver + etcd through a proxy: the
// apiserver's side of the watch is gone, the broker's side stays open and hears nothing (a load
// balancer or proxy that stops forwarding, a peer gone without a reset). Nothing ends such a watch —
// the apiserver's own timeout never reaches the broker — so the broker must end it itself, after
// `watchTimeoutMs`, and resume from the last resourceVersion it heard: a Subscription deleted
// meanwhile must stop delivering, an EventPolicy deleted meanwhile must stop granting.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PolicySet } from '../../src/auth/index.js';
import { EventPolicyWatcher, KubernetesSubscriptionRegistry } from '../../src/kubernetes/index.js';
import { createLogger } from '../../src/observability/index.js';
import { sleep } from '../harness/client.js';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, startCluster } from './cluster.js';
import { startWatchProxy } from './watch-proxy.js';
import type { WatchProxy } from './watch-proxy.js';

const logger = createLogger('silent');
/** Short, so the test need not wait the default's minutes; the deadline below is a bound, not a measure. */
const WATCH_TIMEOUT_MS = 2_000;
const DEADLINE_MS = 20_000;

let cluster: TestCluster;
let namespaces = 0;
const stops: Array<() => void> = [];
const proxies: WatchProxy[] = [];

beforeAll(async () => {
  cluster = await startCluster();
}, 180_000);

afterEach(async () => {
  for (const stop of stops.splice(0)) stop();
  for (const proxy of proxies.splice(0)) await proxy.close();
});

afterAll(async () => {
  await cluster?.stop();
});

async function setUp() {
  const ns = `stalled-${++namespaces}`;
  await cluster.createNamespace(ns);
  const proxy = await startWatchProxy(cluster.apiserver);
  proxies.push(proxy);
  return { ns, proxy };
}

/** A Subscription registry for broker `orders` in `ns`, through `proxy`; stopped after the test unless `stopped` is false. */
function registryThrough(proxy: WatchProxy, ns: string, stopped = true): KubernetesSubscriptionRegistry {
  const registry = new KubernetesSubscriptionRegistry({
    config: proxy.kubeConfig(),
    namespace: ns,
    broker: 'orders',
    logger,
    watchTimeoutMs: WATCH_TIMEOUT_MS,
  });
  if (stopped) stops.push(() => registry.stop());
  return registry;
}

async function create(path: string, body: object): Promise<void> {
  const created = await cluster.request('POST', path, body);
  expect(created.status, created.text).toBe(201);
}

async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${DEADLINE_MS} ms`);
    await sleep(100);
  }
}

describe('a watch whose connection dies silently', () => {
  it('is ended and resumed: a Subscription deleted meanwhile stops delivering', async () => {
    const { ns, proxy } = await setUp();
    const subs = `${GROUP_PATH}/namespaces/${ns}/subscriptions`;
    const registry = registryThrough(proxy, ns);
    const removed: string[] = [];
    registry.watch((id, definition) => {
      if (definition === undefined) removed.push(id);
    });
    await registry.start();
    await create(subs, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Subscription',
      metadata: { name: 'billing' },
      spec: { broker: 'orders', sink: 'http://127.0.0.1:9/billing' },
    });
    await eventually(async () => (await registry.list()).some((d) => d.id === 'billing'), 'billing heard');

    proxy.stall();
    expect((await cluster.request('DELETE', `${subs}/billing`)).status).toBe(200);
    await eventually(() => removed.includes('billing'), 'the removal of billing heard');
    expect((await registry.list()).map((d) => d.id)).toEqual([]);
  });

  it('is ended and resumed: an EventPolicy deleted meanwhile grants nothing more', async () => {
    const { ns, proxy } = await setUp();
    const policies = `${GROUP_PATH}/namespaces/${ns}/eventpolicies`;
    const policy = new PolicySet('deny');
    const watcher = new EventPolicyWatcher({
      config: proxy.kubeConfig(),
      namespace: ns,
      broker: 'orders',
      logger,
      policy,
      watchTimeoutMs: WATCH_TIMEOUT_MS,
    });
    stops.push(() => watcher.stop());
    await watcher.start();
    await watcher.whenRead;
    await create(policies, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'EventPolicy',
      metadata: { name: 'alice-publishes' },
      spec: { rules: [{ principals: ['alice'], actions: ['publish'] }] },
    });
    await eventually(() => policy.allows('alice', 'publish'), 'alice granted');

    proxy.stall();
    expect((await cluster.request('DELETE', `${policies}/alice-publishes`)).status).toBe(200);
    await eventually(() => !policy.allows('alice', 'publish'), 'alice revoked');
  });
});

// An apiserver that refuses the first list (still starting, overloaded, a permission granted a moment
// later): the broker must not start as if the namespace had no Subscription resources. It would answer
// `/readyz` ready and `GET /subscriptions` with none, and deliver nothing, until a later list.
describe('a list of the Subscription resources refused at start', () => {
  it('is tried again: start() ends only once the resources are known', async () => {
    const { ns, proxy } = await setUp();
    await create(`${GROUP_PATH}/namespaces/${ns}/subscriptions`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Subscription',
      metadata: { name: 'billing' },
      spec: { broker: 'orders', sink: 'http://127.0.0.1:9/billing' },
    });
    const registry = registryThrough(proxy, ns);
    proxy.failLists('subscriptions');
    let started = false;
    // What the registry holds the moment start() ends: what the broker then starts delivering with.
    const atStart = registry.start().then(async () => {
      started = true;
      return (await registry.list()).map((d) => d.id);
    });
    await eventually(() => proxy.failedLists() >= 2 || started, 'a refused list tried again');
    proxy.failLists(undefined);
    expect(await atStart).toEqual(['billing']);
    expect(registry.synced).toBe(true);
  });

  it('stop() ends a start() still waiting for its first list', async () => {
    const { proxy } = await setUp();
    const registry = registryThrough(proxy, 'never-listed', false);
    proxy.failLists('subscriptions');
    const start = registry.start().then(
      () => 'resolved',
      () => 'rejected',
    );
    await eventually(() => proxy.failedLists() >= 1, 'a refused list');
    registry.stop();
    expect(await start).toBe('rejected');
    expect(registry.synced).toBe(false);
  });
});
