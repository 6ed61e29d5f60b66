import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubernetesSubscriptionRegistry, loadKubeConfig } from '../../src/kubernetes/index.js';
import { createLogger } from '../../src/observability/index.js';
import type { SubscriptionDefinition } from '../../src/subscriptions/index.js';
import { fullDefinition, reducedDefinition } from '../../src/subscriptions/testing/registry-conformance.js';
import type { TestCluster } from './cluster.js';
import { startCluster } from './cluster.js';
import { until } from '../../src/testing/until.js';

// `replace` (a PUT, pause or seek of an existing subscription) against a real kube-apiserver + etcd:
// a resource that is gone is never created again, also when this replica already heard it was deleted
// (its cache no longer holds it) while the service, which applies what it hears in turn, still lists it;
// nor is the resource created again in its place (another incarnation) patched.
let cluster: TestCluster;
let namespaces = 0;
const logger = createLogger('silent');
const registries: KubernetesSubscriptionRegistry[] = [];

beforeAll(async () => {
  cluster = await startCluster();
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

afterEach(() => {
  for (const registry of registries.splice(0)) registry.stop();
});

async function open(namespace: string): Promise<KubernetesSubscriptionRegistry> {
  const config = loadKubeConfig(cluster.apiserver.kubeconfigPath);
  const registry = new KubernetesSubscriptionRegistry({ config, namespace, broker: 'orders', logger });
  registries.push(registry);
  await registry.start();
  return registry;
}

describe('Kubernetes registry: replace', () => {
  it('replaces an existing resource, and refuses (creating nothing) one another replica deleted', async () => {
    const namespace = `replace-${++namespaces}`;
    await cluster.createNamespace(namespace);
    const [a, b] = [await open(namespace), await open(namespace)];
    const removed: string[] = [];
    a.watch((id, definition) => {
      if (definition === undefined) removed.push(id);
    });
    const v0: SubscriptionDefinition = { ...reducedDefinition('orders'), sink: 'http://127.0.0.1:9/v0' };
    await a.put(v0);
    expect(await a.replace({ ...v0, sink: 'http://127.0.0.1:9/v1' })).toBe(true);
    expect(await b.delete('orders')).toBe(true);
    await until('a to hear the delete', () => removed.includes('orders'));

    expect(await a.replace({ ...v0, sink: 'http://127.0.0.1:9/v2' })).toBe(false);
    expect(await (await open(namespace)).list()).toEqual([]);
  });

  it('refuses (patching nothing) a resource another replica deleted and created again under the name', async () => {
    const namespace = `replace-${++namespaces}`;
    await cluster.createNamespace(namespace);
    const [a, b] = [await open(namespace), await open(namespace)];
    const first: SubscriptionDefinition = {
      ...reducedDefinition('orders'),
      sink: 'http://127.0.0.1:9/first',
      incarnation: 'first',
    };
    await a.put(first);
    expect(await b.delete('orders')).toBe(true);
    const again = { ...first, sink: 'http://127.0.0.1:9/again', incarnation: 'again' };
    await b.put(again);

    // Whether a heard both or neither yet: the change it makes of the first is refused.
    expect(await a.replace({ ...first, sink: 'http://127.0.0.1:9/changed' })).toBe(false);
    const listed = await (await open(namespace)).list();
    expect(listed.map((d) => [d.sink, d.incarnation])).toEqual([['http://127.0.0.1:9/again', 'again']]);
  });
});

describe('Kubernetes registry: replace made from a base', () => {
  it("writes a change only over the definition it was made from: another replica's change since is answered, and kept", async () => {
    const namespace = `replace-${++namespaces}`;
    await cluster.createNamespace(namespace);
    const [a, b] = [await open(namespace), await open(namespace)];
    const v0 = fullDefinition('orders');
    await a.put(v0);
    await until('b to list it', async () => (await b.list()).some((d) => d.id === 'orders'));
    // a changes the sink; b, whichever of it it heard, resumes the subscription as it was before.
    const v1 = { ...v0, sink: 'http://127.0.0.1:9/v1' };
    expect(await a.replace(v1, v0)).toBe(true);
    const answer = await b.replace({ ...v0, paused: false }, v0);
    expect(answer).toMatchObject({ sink: 'http://127.0.0.1:9/v1', paused: true });

    // Made again from what is stored, the change is written, and both are kept.
    const again = answer as SubscriptionDefinition;
    expect(await b.replace({ ...again, paused: false }, again)).toBe(true);
    const listed = await (await open(namespace)).list();
    expect(listed.map((d) => [d.sink, d.paused])).toEqual([['http://127.0.0.1:9/v1', false]]);
  });
});
