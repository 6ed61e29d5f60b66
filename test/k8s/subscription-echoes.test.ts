import { isDeepStrictEqual } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesSubscriptionRegistry, loadKubeConfig } from '../../src/kubernetes/index.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../src/observability/index.js';
import type { SubscriptionDefinition } from '../../src/subscriptions/index.js';
import { fullDefinition, reducedDefinition } from '../../src/subscriptions/testing/registry-conformance.js';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, startCluster } from './cluster.js';
import { startWatchProxy } from './watch-proxy.js';
import type { WatchProxy } from './watch-proxy.js';

// A replica's own writes against a real kube-apiserver + etcd, its watch through a proxy that holds what
// the watch delivers: the echoes of its writes then arrive after the writes have answered, as they do
// when the watch lags (deterministically here). Another replica, when there is one, talks to the
// apiserver directly.
let cluster: TestCluster;
let namespaces = 0;
const logger = createLogger('silent');
const HEARD_DEADLINE_MS = 20_000;

beforeAll(async () => {
  cluster = await startCluster();
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

interface Heard {
  readonly id: string;
  readonly definition: SubscriptionDefinition | undefined;
  /** What the registry's `list()` answered as it reported the change (it reads its cache at the call). */
  readonly listed: Promise<SubscriptionDefinition[]>;
}

/** Records what a registry reports, and waits for a report. */
function listen(registry: KubernetesSubscriptionRegistry) {
  const heard: Heard[] = [];
  const waiters = new Set<() => void>();
  registry.watch((id, definition) => {
    heard.push({ id, definition, listed: registry.list() });
    for (const wake of waiters) wake();
  });
  /** Resolves once a report after `from` (an index into `heard`) is `definition` (undefined: a removal). */
  const until = (from: number, id: string, definition: SubscriptionDefinition | undefined) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!heard.slice(from).some((h) => h.id === id && isDeepStrictEqual(h.definition, definition)))
          return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `never heard ${definition === undefined ? 'the removal' : `sink ${definition.sink}`} of ${id} ` +
              `within ${HEARD_DEADLINE_MS} ms; heard ${describeHeard(heard.slice(from))}`,
          ),
        );
      }, HEARD_DEADLINE_MS);
      waiters.add(check);
      check();
    });
  return { heard, until };
}

/** The reports, by sink and paused state (the definitions differ in both), for failure messages. */
function describeHeard(heard: readonly Heard[]): string {
  return JSON.stringify(
    heard.map((h) =>
      h.definition === undefined
        ? `${h.id}: removed`
        : `${h.id}: ${h.definition.sink}${h.definition.paused === true ? ' (paused)' : ''}`,
    ),
  );
}

const sinksOf = (definitions: readonly SubscriptionDefinition[]) => definitions.map((d) => d.sink);

/** `definition` with another sink, to tell the versions apart. */
const withSink = (definition: SubscriptionDefinition, sink: string): SubscriptionDefinition => ({
  ...definition,
  sink,
});

const registries: KubernetesSubscriptionRegistry[] = [];
const proxies: WatchProxy[] = [];

afterEach(async () => {
  for (const registry of registries.splice(0)) registry.stop();
  for (const proxy of proxies.splice(0)) await proxy.close();
});

async function open(namespace: string, config: KubeConfig): Promise<KubernetesSubscriptionRegistry> {
  const registry = new KubernetesSubscriptionRegistry({ config, namespace, broker: 'orders', logger });
  registries.push(registry);
  await registry.start();
  return registry;
}

/** A fresh namespace, a replica whose watch goes through a proxy, and another that talks directly. */
async function replicas() {
  const namespace = `echoes-${++namespaces}`;
  await cluster.createNamespace(namespace);
  const proxy = await startWatchProxy(cluster.apiserver);
  proxies.push(proxy);
  const registry = await open(namespace, proxy.kubeConfig());
  const listener = listen(registry);
  const other = async () => open(namespace, loadKubeConfig(cluster.apiserver.kubeconfigPath));
  const resourceVersion = async (id: string) => {
    const answer = await cluster.request('GET', `${GROUP_PATH}/namespaces/${namespace}/subscriptions/${id}`);
    return (answer.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
  };
  return { proxy, registry, listener, other, resourceVersion };
}

/**
 * `replicas()` with the subscription `orders` written (v0) by the proxied replica and heard back, and the
 * other replica started.
 */
async function withOrders() {
  const started = await replicas();
  const replica = await started.other();
  const v0 = withSink(reducedDefinition('orders'), 'http://127.0.0.1:9/orders/v0');
  await started.registry.put(v0);
  await started.listener.until(0, 'orders', v0);
  return { ...started, replica, v0 };
}

describe('Kubernetes registry: the late echoes of its own writes', () => {
  it('does not report an earlier write of its own after a later one (pause then resume, held watch)', async () => {
    const { proxy, registry, listener } = await withOrders();

    // v1 (paused, another filter) then v2 (resumed), both answered before the watch delivers v1.
    proxy.hold();
    const v1 = withSink(fullDefinition('orders'), 'http://127.0.0.1:9/orders/v1');
    const v2 = withSink(reducedDefinition('orders'), 'http://127.0.0.1:9/orders/v2');
    await registry.put(v1);
    await registry.put(v2);
    const from = listener.heard.length;
    proxy.release();
    await listener.until(from, 'orders', v2);

    const after = listener.heard.slice(from);
    expect(
      after.filter((h) => h.definition?.sink === v1.sink),
      `v1 reported after v2 was written: ${describeHeard(after)}`,
    ).toEqual([]);
    for (const h of after) expect(sinksOf(await h.listed)).toEqual([v2.sink]);
    expect(await registry.list()).toEqual([v2]);
  });

  it('does not remove a subscription it created again after its own delete (held watch)', async () => {
    const { proxy, registry, listener } = await withOrders();

    proxy.hold();
    expect(await registry.delete('orders')).toBe(true);
    const again = withSink(fullDefinition('orders'), 'http://127.0.0.1:9/orders/again');
    await registry.put(again);
    const from = listener.heard.length;
    proxy.release();
    await listener.until(from, 'orders', again);

    const after = listener.heard.slice(from);
    // The delete's late echo would remove the new subscription (its delivery stopped, its cursor gone).
    expect(
      after.filter((h) => h.definition === undefined || h.definition.sink !== again.sink),
      `reported after the subscription was created again: ${describeHeard(after)}`,
    ).toEqual([]);
    expect(await registry.list()).toEqual([again]);
  });

  // The replicas' versions differ in their sinks only: the other replica computes its write against the
  // resource as it last heard it, and these tests are about what this replica's watch reports.
  it("reports another replica's writes made after its own, and skips those its own write replaced", async () => {
    const { proxy, registry, listener, replica, v0 } = await withOrders();

    // The other replica's write before this one's is replaced by it; the one after it is the state.
    proxy.hold();
    await replica.put(withSink(v0, 'http://127.0.0.1:9/orders/theirs-before'));
    const mine = withSink(v0, 'http://127.0.0.1:9/orders/mine');
    await registry.put(mine);
    const theirs = withSink(v0, 'http://127.0.0.1:9/orders/theirs-after');
    await replica.put(theirs);
    const from = listener.heard.length;
    proxy.release();
    await listener.until(from, 'orders', theirs);
    expect(await registry.list()).toEqual([theirs]);
    expect(
      sinksOf(listener.heard.slice(from).flatMap((h) => (h.definition ? [h.definition] : []))),
    ).not.toContain('http://127.0.0.1:9/orders/theirs-before');

    // And the other replica's delete after this one's write.
    proxy.hold();
    const last = withSink(v0, 'http://127.0.0.1:9/orders/mine-last');
    await registry.put(last);
    expect(await replica.delete('orders')).toBe(true);
    const removedFrom = listener.heard.length;
    proxy.release();
    await listener.until(removedFrom, 'orders', undefined);
    expect(await registry.list()).toEqual([]);
  });

  it('replaces the whole spec on a PUT though another replica changed it since this one last heard it', async () => {
    const { proxy, registry, listener, replica, other } = await withOrders();

    // The other replica's PUT adds members this replica has not heard of; this replica's PUT, made from
    // the resource as it last heard it, must still leave exactly what it wrote, not a mix of the two.
    proxy.hold();
    await replica.put(withSink(fullDefinition('orders'), 'http://127.0.0.1:9/orders/theirs'));
    const mine = withSink(reducedDefinition('orders'), 'http://127.0.0.1:9/orders/mine');
    await registry.put(mine);
    proxy.release();
    const fresh = await other();
    expect(await fresh.list()).toEqual([mine]);
    await listener.until(0, 'orders', mine);
  });

  it('refuses a PUT of a subscription another replica deleted meanwhile, and does not bring it back', async () => {
    const { proxy, registry, replica, v0, other } = await withOrders();

    proxy.hold();
    expect(await replica.delete('orders')).toBe(true);
    await expect(registry.put(withSink(v0, 'http://127.0.0.1:9/orders/mine'))).rejects.toMatchObject({
      code: 'HERALD_NOT_FOUND',
    });
    proxy.release();
    const fresh = await other();
    expect(await fresh.list()).toEqual([]);
  });

  it('reports the state a relist finds after 410 Gone, though its own write was never echoed', async () => {
    const { proxy, registry, listener, replica, v0 } = await withOrders();

    // This replica's write is never delivered by its watch: the watch is cut with it held and resumes
    // from too old a resourceVersion (410), so the informer lists again — and the list has the other
    // replica's later write, not this one's.
    proxy.hold();
    await registry.put(withSink(v0, 'http://127.0.0.1:9/orders/mine'));
    const theirs = withSink(v0, 'http://127.0.0.1:9/orders/theirs');
    await replica.put(theirs);
    const watches = proxy.watches();
    const from = listener.heard.length;
    proxy.expire();
    await listener.until(from, 'orders', theirs);
    expect(proxy.watches()).toBeGreaterThan(watches);
    expect(await registry.list()).toEqual([theirs]);

    // And what follows on the new watch.
    const later = withSink(theirs, 'http://127.0.0.1:9/orders/theirs-later');
    await replica.put(later);
    await listener.until(from, 'orders', later);
    expect(await registry.list()).toEqual([later]);
  });

  it('waits for no echo of a write that changed nothing', async () => {
    const { registry, listener, resourceVersion, replica, v0 } = await withOrders();

    // The same definition again: the apiserver stores nothing and answers the resourceVersion the
    // watch has delivered already, whose echo will not come again.
    const before = await resourceVersion('orders');
    await registry.put(v0);
    expect(await resourceVersion('orders')).toBe(before);

    const theirs = withSink(v0, 'http://127.0.0.1:9/orders/theirs');
    await replica.put(theirs);
    await listener.until(0, 'orders', theirs);
    expect(await registry.list()).toEqual([theirs]);
  });
});
