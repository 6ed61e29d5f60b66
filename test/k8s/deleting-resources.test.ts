// Resources marked for deletion against a real kube-apiserver + etcd. A delete of a resource that a
// finalizer holds (another controller's, or `kubectl delete --cascade=foreground`'s foregroundDeletion)
// answers 200 and leaves the resource in place with `metadata.deletionTimestamp` set until the finalizer
// is removed: the watch delivers it as MODIFIED, not DELETED. What was deleted must stop at once —
// a Subscription must stop delivering, an EventPolicy must stop granting — not when (if ever) the
// finalizer goes. This test cluster runs no garbage collector, so a finalizer holds until removed.
import { isDeepStrictEqual } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PolicySet } from '../../src/auth/index.js';
import {
  EventPolicyWatcher,
  KubernetesSubscriptionRegistry,
  loadKubeConfig,
} from '../../src/kubernetes/index.js';
import { createLogger } from '../../src/observability/index.js';
import type { SubscriptionDefinition } from '../../src/subscriptions/index.js';
import { reducedDefinition } from '../../src/subscriptions/testing/registry-conformance.js';
import { sleep } from '../harness/client.js';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, startCluster } from './cluster.js';

const logger = createLogger('silent');
const FINALIZER = 'example.com/hold';
const DEADLINE_MS = 15_000;

let cluster: TestCluster;
let namespaces = 0;
const stops: Array<() => void> = [];
/** Resources left with the test finalizer: released at the end so the namespace holds nothing stuck. */
const held: string[] = [];

beforeAll(async () => {
  cluster = await startCluster();
}, 180_000);

afterEach(async () => {
  for (const stop of stops.splice(0)) stop();
  for (const path of held.splice(0)) {
    await cluster.request('PATCH', path, { metadata: { finalizers: null } }, 'application/merge-patch+json');
  }
});

afterAll(async () => {
  await cluster?.stop();
});

async function namespace(): Promise<string> {
  const name = `deleting-${++namespaces}`;
  await cluster.createNamespace(name);
  return name;
}

async function create(path: string, body: object): Promise<void> {
  const created = await cluster.request('POST', path, body);
  expect(created.status, created.text).toBe(201);
}

/** Deletes `name` under `path`; the finalizer holds it: 200 and the resource marked, not gone. */
async function deleteHeld(path: string, name: string): Promise<void> {
  const deleted = await cluster.request('DELETE', `${path}/${name}`);
  expect(deleted.status, deleted.text).toBe(200);
  const marked = (deleted.body as { metadata?: { deletionTimestamp?: string } }).metadata;
  expect(marked?.deletionTimestamp, 'the finalizer holds the resource').toBeDefined();
}

async function eventually(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${DEADLINE_MS} ms`);
    await sleep(100);
  }
}

/** A registry of broker `orders` in `ns`, and what it reports, in order. */
async function openRegistry(ns: string) {
  const registry = new KubernetesSubscriptionRegistry({
    config: loadKubeConfig(cluster.apiserver.kubeconfigPath),
    namespace: ns,
    broker: 'orders',
    logger,
  });
  stops.push(() => registry.stop());
  const heard: Array<{ id: string; definition: SubscriptionDefinition | undefined }> = [];
  registry.watch((id, definition) => heard.push({ id, definition }));
  await registry.start();
  return { registry, heard };
}

const subscription = (name: string, extra: object = {}) => ({
  apiVersion: 'eventing.herald.dev/v1alpha1',
  kind: 'Subscription',
  metadata: { name, ...extra },
  spec: { broker: 'orders', sink: `http://127.0.0.1:9/${name}` },
});

describe('resources marked for deletion (a finalizer holds them)', () => {
  it('a declared Subscription deleted while a finalizer holds it stops delivering at once', async () => {
    const ns = await namespace();
    const subs = `${GROUP_PATH}/namespaces/${ns}/subscriptions`;
    const { registry, heard } = await openRegistry(ns);
    await create(subs, subscription('billing', { finalizers: [FINALIZER] }));
    held.push(`${subs}/billing`);
    await eventually(async () => (await registry.list()).some((d) => d.id === 'billing'), 'billing heard');

    await deleteHeld(subs, 'billing');
    await eventually(
      () => heard.some((h) => h.id === 'billing' && h.definition === undefined),
      'the removal of billing reported',
    );
    expect((await registry.list()).map((d) => d.id)).not.toContain('billing');
  });

  it('a subscription deleted through the registry does not come back with the echo of its delete', async () => {
    const ns = await namespace();
    const subs = `${GROUP_PATH}/namespaces/${ns}/subscriptions`;
    const { registry, heard } = await openRegistry(ns);
    const api = reducedDefinition('api-made');
    await registry.put(api);
    await eventually(() => heard.some((h) => isDeepStrictEqual(h.definition, api)), 'api-made heard');
    const reportsBefore = heard.length;
    // A finalizer another controller put on the resource the HTTP API made.
    const patched = await cluster.request(
      'PATCH',
      `${subs}/api-made`,
      { metadata: { finalizers: [FINALIZER] } },
      'application/merge-patch+json',
    );
    expect(patched.status, patched.text).toBe(200);
    held.push(`${subs}/api-made`);
    await eventually(() => heard.length > reportsBefore, 'the finalizer patch heard');

    expect(await registry.delete('api-made')).toBe(true);
    const from = heard.length;
    // The watch delivers changes in order: once a later resource is heard, the delete's echo was too.
    await create(subs, subscription('marker'));
    await eventually(() => heard.slice(from).some((h) => h.id === 'marker'), 'marker heard');
    const after = heard.slice(from).filter((h) => h.id === 'api-made');
    expect(
      after.filter((h) => h.definition !== undefined),
      'api-made reported again after its delete',
    ).toEqual([]);
    expect((await registry.list()).map((d) => d.id)).toEqual(['marker']);
  });

  it('an EventPolicy deleted while a finalizer holds it grants nothing more', async () => {
    const ns = await namespace();
    const policies = `${GROUP_PATH}/namespaces/${ns}/eventpolicies`;
    const policy = new PolicySet('allow-authenticated');
    const watcher = new EventPolicyWatcher({
      config: loadKubeConfig(cluster.apiserver.kubeconfigPath),
      namespace: ns,
      broker: 'orders',
      logger,
      policy,
    });
    stops.push(() => watcher.stop());
    await watcher.start();
    await watcher.whenRead;
    const grant = (name: string, principal: string, finalizers?: string[]) => ({
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'EventPolicy',
      metadata: { name, ...(finalizers === undefined ? {} : { finalizers }) },
      spec: { rules: [{ principals: [principal], actions: ['publish'] }] },
    });
    // Another policy stays, so that alice's access is what the rules say, not --authz-default's.
    await create(policies, grant('bob-publishes', 'bob'));
    await create(policies, grant('alice-publishes', 'alice', [FINALIZER]));
    held.push(`${policies}/alice-publishes`);
    await eventually(() => policy.allows('alice', 'publish'), 'alice granted');

    await deleteHeld(policies, 'alice-publishes');
    await eventually(() => !policy.allows('alice', 'publish'), 'alice revoked');
    expect(policy.allows('bob', 'publish')).toBe(true);
  });
});
