// Kubernetes mode, against a real kube-apiserver: EventPolicy resources are the broker's authorization
// rules. A broker that cannot read them (its Role lacks them, or the API server answers the list with
// an error while TokenReviews still pass, as a restarting server's "storage is (re)initializing" does)
// does not know the rules in force, and must not fall back to --authz-default (allow-authenticated:
// every ServiceAccount of the cluster) meanwhile: it fails closed, answering 503 (retry) and not ready.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { binaryHeaders, send } from '../support/http.js';
import type { TestCluster } from '../k8s/cluster.js';
import { GROUP_PATH, kubeconfigWithToken, startCluster } from '../k8s/cluster.js';

const ns = 'vault';
const GROUP = 'eventing.herald.dev';

describe('EventPolicy resources the broker cannot read', () => {
  let cluster: TestCluster;
  let broker: BrokerProcess;

  async function created(pathName: string, body: unknown): Promise<void> {
    const response = await cluster.request('POST', pathName, body);
    expect(response.status, response.text).toBe(201);
  }

  async function tokenOf(name: string, audiences?: string[]): Promise<string> {
    const response = await cluster.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/${name}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600, ...(audiences === undefined ? {} : { audiences }) },
    });
    expect(response.status, response.text).toBe(201);
    return (response.body as { status: { token: string } }).status.token;
  }

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.createNamespace(ns);
    for (const name of ['broker', 'publisher', 'stranger']) {
      await created(`/api/v1/namespaces/${ns}/serviceaccounts`, {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name },
      });
    }
    // The broker's Role as the operator writes it, but without EventPolicy reads; TokenReviews allowed.
    await created(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'broker' },
      rules: [
        {
          apiGroups: [GROUP],
          resources: ['subscriptions'],
          verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
        },
        { apiGroups: [GROUP], resources: ['subscriptions/status'], verbs: ['get', 'patch'] },
        { apiGroups: [GROUP], resources: ['eventtypes'], verbs: ['get', 'list', 'watch', 'create'] },
        { apiGroups: [GROUP], resources: ['eventtypes/status'], verbs: ['get', 'patch'] },
        { apiGroups: [GROUP], resources: ['brokers'], verbs: ['get'] },
      ],
    });
    await created(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'broker' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'broker' },
      subjects: [{ kind: 'ServiceAccount', name: 'broker', namespace: ns }],
    });
    await created('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'vault-broker-auth-delegator' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [{ kind: 'ServiceAccount', name: 'broker', namespace: ns }],
    });
    // The namespace's rule: only the publisher may publish to this broker.
    await created(`${GROUP_PATH}/namespaces/${ns}/eventpolicies`, {
      apiVersion: `${GROUP}/v1alpha1`,
      kind: 'EventPolicy',
      metadata: { name: 'publishers' },
      spec: {
        broker: 'orders',
        rules: [{ principals: [`system:serviceaccount:${ns}:publisher`], actions: ['publish'] }],
      },
    });
    const kubeconfig = kubeconfigWithToken(cluster, 'vault-broker-kubeconfig', await tokenOf('broker'), ns);
    broker = await startBroker({
      args: ['--kubernetes', '--namespace', ns, '--broker-name', 'orders', '--auth', 'kubernetes'],
      env: { KUBECONFIG: kubeconfig },
    });
  }, 180_000);
  afterAll(async () => {
    await broker?.stop();
    await cluster?.stop();
    if (broker !== undefined) removeDir(broker.dataDir);
  }, 120_000);

  it('refuses a principal no EventPolicy names rather than fall back to allow-authenticated', async () => {
    const stranger = await tokenOf('stranger', ['herald']);
    const published = await send(broker.url, {
      path: '/events',
      headers: { ...binaryHeaders('unread-1'), authorization: `Bearer ${stranger}` },
    });
    // Not a 403: the rules in force are unknown, so the answer is "retry", not "never".
    expect(published.status).toBe(503);
    expect(published.json()).toMatchObject({ code: 'HERALD_NOT_READY' });
    expect(published.headers['retry-after']).toBe('1');
    const log = await send(broker.adminUrl, {
      method: 'GET',
      path: '/events?from=1',
      headers: { authorization: `Bearer ${stranger}` },
    });
    expect(log.status).toBe(503);
    const ready = await send(broker.adminUrl, { method: 'GET', path: '/readyz' });
    expect(ready.status).toBe(503);
    expect(ready.json()).toMatchObject({ code: 'HERALD_NOT_READY', cause: 'policies' });
  });
});
