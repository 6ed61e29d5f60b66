// What the operator must not do with Brokers whose names or specs it cannot turn into valid objects, and
// with objects it does not own: the CRDs cannot check patterns (they are left out of the structural
// schemas), so a spec the broker process would refuse, or a name no Service or label may carry, reaches
// the operator; and a Broker's children are named after it, so their names may meet objects of others.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, startCluster, spawnOperator } from './cluster.js';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Obj {
  metadata: {
    name: string;
    resourceVersion: string;
    uid: string;
    labels?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string; uid: string; controller?: boolean }>;
  };
  spec?: Record<string, unknown>;
  status?: { observedGeneration?: number; conditions?: Condition[] };
  roleRef?: { kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
}

const ready = (body: Record<string, unknown>) =>
  ((body as unknown as Obj).status?.conditions ?? []).find((c) => c.type === 'Ready');

describe('herald operator: invalid Brokers and objects it does not own', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let operator: ChildProcess;
  const brokersIn = (ns: string) => `${GROUP_PATH}/namespaces/${ns}/brokers`;
  const createBroker = async (ns: string, name: string, spec: Record<string, unknown>) => {
    const created = await cluster.request('POST', brokersIn(ns), {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name },
      spec,
    });
    expect(created.status, created.text).toBe(201);
  };
  const deleteBroker = async (ns: string, name: string) => {
    expect((await cluster.request('DELETE', `${brokersIn(ns)}/${name}`)).status).toBe(200);
    await cluster.waitFor(
      brokersIn(ns),
      (body) => !(body['items'] as Obj[]).some((b) => b.metadata.name === name),
    );
  };

  beforeAll(async () => {
    cluster = await startCluster();
    for (const ns of ['review', 'x', 'x-y', 'own']) await cluster.createNamespace(ns);
    operator = spawnOperator(cluster);
  }, 180_000);
  afterAll(async () => {
    if (operator !== undefined && operator.exitCode === null) {
      const exited = once(operator, 'exit');
      operator.kill('SIGTERM');
      await exited;
    }
    await cluster?.stop();
  });

  it('reports a Broker spec the broker would refuse as InvalidSpec and creates no workload for it', async () => {
    const ns = 'review';
    // Both pass the API server (the CRD holds no patterns); neither can run: the StatefulSet's volume
    // claim is refused, and `herald broker` refuses the delivery defaults at start.
    await createBroker(ns, 'badstore', { storage: '10 GB' });
    await createBroker(ns, 'baddelivery', { delivery: { backoffDelay: 'soon' } });
    for (const [name, field] of [
      ['badstore', 'storage'],
      ['baddelivery', 'delivery.backoffDelay'],
    ] as const) {
      const broker = await cluster.waitFor(`${brokersIn(ns)}/${name}`, (b) => ready(b) !== undefined, 45_000);
      expect(ready(broker), name).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
      expect(ready(broker)?.message).toContain(field);
      expect((broker as unknown as Obj).status?.observedGeneration).toBe(1);
      const workload = await cluster.request(
        'GET',
        `/apis/apps/v1/namespaces/${ns}/statefulsets/herald-broker-${name}`,
      );
      expect(workload.status, name).toBe(404);
    }
    // Corrected, it proceeds.
    await cluster.request(
      'PATCH',
      `${brokersIn(ns)}/badstore`,
      { spec: { storage: '10Gi' } },
      'application/merge-patch+json',
    );
    await cluster.waitFor(
      `${brokersIn(ns)}/badstore`,
      (b) =>
        ready(b)?.reason === 'WorkloadNotReady' && (b as unknown as Obj).status?.observedGeneration === 2,
      45_000,
    );
    for (const name of ['badstore', 'baddelivery']) await deleteBroker(ns, name);
  });

  it('reports a Channel spec the broker would refuse, and its Brokers as ChannelNotReady', async () => {
    const ns = 'review';
    const channel = await cluster.request('POST', `${GROUP_PATH}/namespaces/${ns}/channels`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Channel',
      metadata: { name: 'forever' },
      spec: { type: 'embedded', retention: { maxAge: 'forever' } },
    });
    expect(channel.status, channel.text).toBe(201);
    const reported = await cluster.waitFor(
      `${GROUP_PATH}/namespaces/${ns}/channels/forever`,
      (b) => ready(b) !== undefined,
      45_000,
    );
    expect(ready(reported)).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(ready(reported)?.message).toContain('retention.maxAge');
    await createBroker(ns, 'kept', { channel: 'forever' });
    const broker = await cluster.waitFor(`${brokersIn(ns)}/kept`, (b) => ready(b) !== undefined, 45_000);
    expect(ready(broker)).toMatchObject({ status: 'False', reason: 'ChannelNotReady' });
    expect(
      (await cluster.request('GET', `/api/v1/namespaces/${ns}/configmaps/herald-broker-kept`)).status,
    ).toBe(404);
    await deleteBroker(ns, 'kept');
  });

  it('reports a Broker name no Service, label or broker may carry as InvalidName and creates nothing', async () => {
    const ns = 'review';
    // Valid names of a custom resource (DNS subdomains up to 253 characters), but the Service is named
    // like the Broker (a DNS-1035 label) and the name is a label value and the broker's --broker-name.
    const long = `b${'a'.repeat(63)}`;
    for (const name of [long, 'v1.orders', '1orders']) {
      await createBroker(ns, name, {});
      const broker = await cluster.waitFor(`${brokersIn(ns)}/${name}`, (b) => ready(b) !== undefined, 45_000);
      expect(ready(broker), name).toMatchObject({ status: 'False', reason: 'InvalidName' });
      for (const path of [
        `/api/v1/namespaces/${ns}/serviceaccounts/herald-broker-${name}`,
        `/api/v1/namespaces/${ns}/configmaps/herald-broker-${name}`,
      ])
        expect((await cluster.request('GET', path)).status, path).toBe(404);
      await deleteBroker(ns, name);
    }
  });

  it('reports a name too long for the embedded store’s StatefulSet as InvalidName, and takes one a character shorter', async () => {
    const ns = 'review';
    // herald-broker-<name> with the pods' revision hash (`-` and up to 10 characters) fits a 63-character
    // label only up to 38 characters of name.
    const [fits, over] = [`f${'a'.repeat(37)}`, `o${'a'.repeat(38)}`];
    await createBroker(ns, over, {});
    await createBroker(ns, fits, {});
    const refused = await cluster.waitFor(`${brokersIn(ns)}/${over}`, (b) => ready(b) !== undefined, 45_000);
    expect(ready(refused)).toMatchObject({ status: 'False', reason: 'InvalidName' });
    expect(
      (await cluster.request('GET', `/apis/apps/v1/namespaces/${ns}/statefulsets/herald-broker-${over}`))
        .status,
    ).toBe(404);
    const taken = await cluster.waitFor(`${brokersIn(ns)}/${fits}`, (b) => ready(b) !== undefined, 45_000);
    expect(ready(taken)?.reason).not.toBe('InvalidName');
    expect(
      (await cluster.request('GET', `/apis/apps/v1/namespaces/${ns}/statefulsets/herald-broker-${fits}`))
        .status,
    ).toBe(200);
    await deleteBroker(ns, over);
    await deleteBroker(ns, fits);
  });

  it('gives Brokers whose namespace and name join alike ClusterRoleBindings of their own', async () => {
    // `x-y`/`z` and `x`/`y-z`: both used to be bound by `herald-broker-x-y-z-auth-delegator`.
    await createBroker('x-y', 'z', {});
    await createBroker('x', 'y-z', {});
    for (const [ns, name] of [
      ['x-y', 'z'],
      ['x', 'y-z'],
    ] as const)
      await cluster.waitFor(
        `${brokersIn(ns)}/${name}`,
        (b) => ready(b)?.reason === 'WorkloadNotReady',
        45_000,
      );
    const bound = async (ns: string, name: string) =>
      (
        (
          await cluster.request(
            'GET',
            '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dherald-operator',
          )
        ).body as { items: Obj[] }
      ).items.some(
        (binding) =>
          binding.roleRef?.name === 'system:auth-delegator' &&
          (binding.subjects ?? []).some(
            (s) => s.kind === 'ServiceAccount' && s.name === `herald-broker-${name}` && s.namespace === ns,
          ),
      );
    expect(await bound('x-y', 'z')).toBe(true);
    expect(await bound('x', 'y-z')).toBe(true);
    // Deleting one Broker leaves the other's binding.
    await deleteBroker('x-y', 'z');
    expect(await bound('x', 'y-z')).toBe(true);
    expect(await bound('x-y', 'z')).toBe(false);
    await deleteBroker('x', 'y-z');
    expect(await bound('x', 'y-z')).toBe(false);
  });

  it('a Broker at rest causes no writes: neither to itself nor to any child', async () => {
    const ns = 'own';
    const channel = await cluster.request('POST', `${GROUP_PATH}/namespaces/${ns}/channels`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Channel',
      metadata: { name: 'js' },
      spec: { type: 'jetstream', jetstream: { url: 'nats://nats.nats:4222' } },
    });
    expect(channel.status, channel.text).toBe(201);
    await createBroker(ns, 'calm', { channel: 'js', replicas: 2, delivery: { retry: 3 } });
    await cluster.waitFor(`${brokersIn(ns)}/calm`, (b) => ready(b)?.reason === 'WorkloadNotReady', 45_000);
    // There is no Deployment controller here: report ready pods as it would.
    const patched = await cluster.request(
      'PATCH',
      `/apis/apps/v1/namespaces/${ns}/deployments/herald-broker-calm/status`,
      { status: { replicas: 2, readyReplicas: 2, availableReplicas: 2 } },
      'application/merge-patch+json',
    );
    expect(patched.status, patched.text).toBe(200);
    await cluster.waitFor(`${brokersIn(ns)}/calm`, (b) => ready(b)?.status === 'True', 45_000);
    const paths = [
      `${brokersIn(ns)}/calm`,
      `${GROUP_PATH}/namespaces/${ns}/channels/js`,
      `/apis/apps/v1/namespaces/${ns}/deployments/herald-broker-calm`,
      `/api/v1/namespaces/${ns}/configmaps/herald-broker-calm`,
      `/api/v1/namespaces/${ns}/services/calm`,
      `/api/v1/namespaces/${ns}/serviceaccounts/herald-broker-calm`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/herald-broker-calm`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/herald-broker-calm`,
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/herald-broker-own-calm-auth-delegator',
    ];
    const versions = async () =>
      Promise.all(
        paths.map(async (path) => {
          const answer = await cluster.request('GET', path);
          expect(answer.status, path).toBe(200);
          return `${path}@${(answer.body as Obj).metadata.resourceVersion}`;
        }),
      );
    const before = await versions();
    // A quiet period: a reconcile loop (status, apply, watch event, again) would write within it.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await versions()).toEqual(before);
    expect(operator.exitCode).toBeNull();
    await deleteBroker(ns, 'calm');
  });

  it('leaves alone a Service of the Broker’s name that it does not own, and says so', async () => {
    const ns = 'own';
    const created = await cluster.request('POST', `/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ name: 'web', port: 8080 }] },
    });
    expect(created.status, created.text).toBe(201);
    const before = created.body as Obj;
    await createBroker(ns, 'web', {});
    const broker = await cluster.waitFor(`${brokersIn(ns)}/web`, (b) => ready(b) !== undefined, 45_000);
    expect(ready(broker)).toMatchObject({ status: 'False', reason: 'ResourceConflict' });
    expect(ready(broker)?.message).toContain("Service 'web'");
    const service = (await cluster.request('GET', `/api/v1/namespaces/${ns}/services/web`)).body as Obj;
    expect(service.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect(service.metadata.ownerReferences).toBeUndefined();
    // Deleting the Broker deletes what it made, not the Service it never owned.
    await deleteBroker(ns, 'web');
    const after = await cluster.request('GET', `/api/v1/namespaces/${ns}/services/web`);
    expect(after.status).toBe(200);
    expect((after.body as Obj).metadata.uid).toBe(before.metadata.uid);
  });
});
