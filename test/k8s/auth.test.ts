// Acceptance (#10 in Kubernetes mode, against a real kube-apiserver): the operator gives a Broker's
// workload exactly what TokenReviews need (system:auth-delegator) and read access to EventPolicy
// resources; a broker running with only that identity authenticates audience-bound ServiceAccount
// tokens through TokenReviews (principal system:serviceaccount:<ns>:<name>) and applies the namespace's
// EventPolicy resources live.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { binaryHeaders, send, sleep } from '../support/http.js';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, kubeconfigWithToken, startCluster, spawnOperator } from './cluster.js';

const ns = 'shop';
const policies = `${GROUP_PATH}/namespaces/${ns}/eventpolicies`;
const brokerSa = 'herald-broker-orders';

let cluster: TestCluster;
let operator: ChildProcess | undefined;
let broker: BrokerProcess | undefined;

async function createServiceAccount(namespace: string, name: string): Promise<void> {
  const created = await cluster.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name },
  });
  if (created.status !== 201 && created.status !== 409) throw new Error(created.text);
}

/** A projected-style token of a ServiceAccount (TokenRequest API), bound to `audiences` when given. */
async function tokenOf(namespace: string, name: string, audiences?: string[]): Promise<string> {
  const response = await cluster.request(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600, ...(audiences === undefined ? {} : { audiences }) },
    },
  );
  expect(response.status, response.text).toBe(201);
  return (response.body as { status: { token: string } }).status.token;
}

async function canI(user: string, verb: string, group: string, resource: string, namespace?: string) {
  const review = await cluster.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user,
      resourceAttributes: { verb, group, resource, ...(namespace === undefined ? {} : { namespace }) },
    },
  });
  return (review.body as { status: { allowed: boolean } }).status.allowed;
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(250);
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const publishAs = async (token: string, id: string, type: string) =>
  (
    await send(broker!.url, {
      path: '/events',
      headers: { ...binaryHeaders(id, { 'ce-type': type }), ...bearer(token) },
    })
  ).status;

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.createNamespace(ns);
  await cluster.createNamespace('elsewhere');
  for (const name of ['publisher', 'stranger']) await createServiceAccount(ns, name);
  await createServiceAccount('elsewhere', 'publisher');
  operator = spawnOperator(cluster);
}, 180_000);

afterAll(async () => {
  await broker?.stop();
  if (broker !== undefined) removeDir(broker.dataDir);
  operator?.kill('SIGTERM');
  await cluster?.stop();
});

describe('Kubernetes authentication and EventPolicy', () => {
  it('the operator grants the broker workload TokenReviews and EventPolicy reads, and no more', async () => {
    const created = await cluster.request('POST', `${GROUP_PATH}/namespaces/${ns}/brokers`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name: 'orders' },
      spec: { auth: 'kubernetes' },
    });
    expect(created.status, created.text).toBe(201);
    const binding = await cluster.waitFor(
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/herald-broker-shop-orders-auth-delegator',
      () => true,
    );
    expect(binding).toMatchObject({
      roleRef: { kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [{ kind: 'ServiceAccount', name: brokerSa, namespace: ns }],
    });
    const config = await cluster.waitFor(`/api/v1/namespaces/${ns}/configmaps/${brokerSa}`, () => true);
    expect((config as { data: Record<string, string> }).data['herald.yaml']).toContain('auth: kubernetes');

    const user = `system:serviceaccount:${ns}:${brokerSa}`;
    await eventually(
      () => canI(user, 'create', 'authentication.k8s.io', 'tokenreviews'),
      'tokenreviews allowed',
    );
    expect(await canI(user, 'watch', 'eventing.herald.dev', 'eventpolicies', ns)).toBe(true);
    expect(await canI(user, 'patch', 'eventing.herald.dev', 'eventpolicies', ns)).toBe(false);
    expect(await canI(user, 'list', '', 'secrets', ns)).toBe(false);
    expect(await canI(user, 'create', 'rbac.authorization.k8s.io', 'clusterrolebindings')).toBe(false);
  });

  it('a broker running as that ServiceAccount authenticates audience-bound ServiceAccount tokens', async () => {
    // The broker's own identity: the ServiceAccount the operator made, nothing else.
    const kubeconfig = kubeconfigWithToken(cluster, 'broker-kubeconfig', await tokenOf(ns, brokerSa), ns);
    broker = await startBroker({
      args: ['--kubernetes', '--namespace', ns, '--broker-name', 'orders', '--auth', 'kubernetes'],
      env: { KUBECONFIG: kubeconfig },
    });
    const publisher = await tokenOf(ns, 'publisher', ['herald']);
    // Refused (403) until the broker has listed its EventPolicies once: the rules in force are unknown
    // until then (test/security/kubernetes-policies-unread.test.ts).
    await eventually(
      async () => (await publishAs(publisher, 'k-1', 'com.shop.order')) === 202,
      'the EventPolicies listed',
    );
    // No EventPolicy yet: --authz-default allow-authenticated.
    expect(await publishAs(publisher, 'k-2', 'com.bank.transfer')).toBe(202);

    const wrongAudience = await tokenOf(ns, 'publisher', ['someone-else']);
    const apiAudience = await tokenOf(ns, 'publisher');
    for (const token of [
      wrongAudience,
      apiAudience,
      `${publisher.slice(0, -4)}AAAA`,
      'opaque-token-1234567890',
    ]) {
      const response = await send(broker.url, {
        path: '/events',
        headers: { ...binaryHeaders('k-bad'), ...bearer(token) },
      });
      expect(response.status).toBe(401);
      expect(response.json()).toMatchObject({ code: 'HERALD_UNAUTHENTICATED' });
    }
  });

  it('applies EventPolicy resources live: rules, publish filters, owners, and a broken policy that grants nothing', async () => {
    const publisher = await tokenOf(ns, 'publisher', ['herald']);
    const stranger = await tokenOf(ns, 'stranger', ['herald']);
    const intruder = await tokenOf('elsewhere', 'publisher', ['herald']);
    const policy = {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'EventPolicy',
      metadata: { name: 'shop-publishers' },
      spec: {
        broker: 'orders',
        rules: [
          {
            principals: [`system:serviceaccount:${ns}:publisher`],
            actions: ['publish'],
            filter: "type LIKE 'com.shop.%'",
          },
        ],
      },
    };
    expect((await cluster.request('POST', policies, policy)).status).toBe(201);
    await eventually(
      async () => (await publishAs(publisher, 'p-1', 'com.bank.transfer')) === 403,
      'filter applied',
    );
    expect(await publishAs(publisher, 'p-2', 'com.shop.order')).toBe(202);
    expect(await publishAs(stranger, 'p-3', 'com.shop.order')).toBe(403);
    expect(await publishAs(intruder, 'p-4', 'com.shop.order')).toBe(403);
    const applied = await cluster.waitFor(`${policies}/shop-publishers`, (b) =>
      JSON.stringify(b).includes('"reason":"Applied"'),
    );
    expect(JSON.stringify(applied)).toContain('"status":"True"');

    // Changed live: the publisher may now subscribe, and owns what it creates.
    const current = (await cluster.request('GET', `${policies}/shop-publishers`)).body as typeof policy;
    current.spec.rules.push({
      principals: [`system:serviceaccount:${ns}:publisher`],
      actions: ['subscribe'],
    } as never);
    expect((await cluster.request('PUT', `${policies}/shop-publishers`, current)).status).toBe(200);
    const create = () =>
      send(broker!.adminUrl, {
        path: '/subscriptions',
        headers: { ...bearer(publisher), 'content-type': 'application/json' },
        body: JSON.stringify({ sink: 'http://127.0.0.1:9/k', protocol: 'HTTP' }),
      });
    let created = await create();
    await eventually(async () => {
      if (created.status === 201) return true;
      created = await create();
      return created.status === 201;
    }, 'subscribe granted');
    const sub = created.json<{ id: string; owner: string }>();
    expect(sub.owner).toBe(`system:serviceaccount:${ns}:publisher`);
    const resource = await cluster.waitFor(
      `${GROUP_PATH}/namespaces/${ns}/subscriptions/${sub.id}`,
      () => true,
    );
    expect(JSON.stringify(resource)).toContain(`system:serviceaccount:${ns}:publisher`);
    const strangerView = await send(broker!.adminUrl, {
      method: 'GET',
      path: `/subscriptions/${sub.id}`,
      headers: bearer(stranger),
    });
    expect(strangerView.status).toBe(403);

    // A policy whose filter does not compile is reported on its resource and grants nothing.
    const broken = {
      ...policy,
      metadata: { name: 'broken' },
      spec: {
        rules: [
          { principals: [`system:serviceaccount:${ns}:stranger`], actions: ['publish'], filter: 'type LIKE' },
        ],
      },
    };
    expect((await cluster.request('POST', policies, broken)).status).toBe(201);
    const reported = await cluster.waitFor(`${policies}/broken`, (b) =>
      JSON.stringify(b).includes('InvalidRules'),
    );
    expect(JSON.stringify(reported)).toContain('invalid CESQL expression');
    expect(await publishAs(stranger, 'p-5', 'com.shop.order')).toBe(403);

    // Deleting every policy returns the broker to --authz-default.
    for (const name of ['shop-publishers', 'broken']) {
      expect((await cluster.request('DELETE', `${policies}/${name}`)).status).toBe(200);
    }
    await eventually(
      async () => (await publishAs(stranger, 'p-6', 'com.bank.transfer')) === 202,
      'default again',
    );
  });
});
