// What a live Broker or Channel goes through after it was first reconciled, against a real kube-apiserver +
// etcd (no kubelet: the test reads what the operator wrote and what the API server kept): a spec change the
// API server cannot apply to the existing workload, a spec change that is no transition of the Ready
// condition, and a watch whose connection dies silently. Each test runs its own operator in this process
// (and stops it), so no other operator reconciles what it is looking at.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../src/kubernetes/index.js';
import { createLogger } from '../../src/observability/index.js';
import { FINALIZER, Operator } from '../../src/operator/index.js';
import type { OperatorOptions } from '../../src/operator/index.js';
import { sleep } from '../harness/client.js';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, startCluster } from './cluster.js';
import { startWatchProxy } from './watch-proxy.js';
import type { WatchProxy } from './watch-proxy.js';

const logger = createLogger('silent');

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}
interface Status {
  observedGeneration?: number;
  conditions?: Condition[];
}
const statusOf = (body: Record<string, unknown>) => (body['status'] ?? {}) as Status;
const readyOf = (body: Record<string, unknown>) => statusOf(body).conditions?.find((c) => c.type === 'Ready');
const generationOf = (body: Record<string, unknown>) =>
  (body['metadata'] as { generation?: number }).generation;

let cluster: TestCluster;
let namespaces = 0;
const operators: Operator[] = [];
const proxies: WatchProxy[] = [];

beforeAll(async () => {
  cluster = await startCluster();
}, 180_000);

afterEach(async () => {
  for (const operator of operators.splice(0)) await operator.stop();
  for (const proxy of proxies.splice(0)) await proxy.close();
});

afterAll(async () => {
  await cluster?.stop();
});

async function namespace(): Promise<string> {
  const ns = `changes-${++namespaces}`;
  await cluster.createNamespace(ns);
  return ns;
}

async function startOperator(options: Partial<OperatorOptions> = {}): Promise<Operator> {
  const operator = new Operator({
    config: loadKubeConfig(cluster.apiserver.kubeconfigPath),
    logger,
    image: 'herald:test',
    imagePullPolicy: 'IfNotPresent',
    ...options,
  });
  operators.push(operator);
  await operator.start();
  return operator;
}

async function create(path: string, body: object): Promise<void> {
  const created = await cluster.request('POST', path, body);
  expect(created.status, created.text).toBe(201);
}

async function mergePatch(path: string, patch: object): Promise<Record<string, unknown>> {
  const patched = await cluster.request('PATCH', path, patch, 'application/merge-patch+json');
  expect(patched.status, patched.text).toBe(200);
  return patched.body as Record<string, unknown>;
}

describe("the operator's finalizer", () => {
  // It was added (and removed) with a merge patch of the whole list as the operator's cache last had it: a
  // finalizer another controller added that the operator had not heard of yet was dropped, and that
  // controller's clean-up never ran. The watch is held here so that the operator reconciles the Broker as
  // created while it already holds the other finalizer, as it does whenever its watch lags.
  it('is added without dropping a finalizer the operator has not heard of yet', async () => {
    const ns = await namespace();
    const proxy = await startWatchProxy(cluster.apiserver);
    proxies.push(proxy);
    await startOperator({ config: proxy.kubeConfig() });
    // The operator at rest first (this test runs first, so it has no other Broker to reconcile): the Broker
    // below must be reconciled as its watch delivers it, not after the finalizer was heard too.
    await create(`${GROUP_PATH}/namespaces/${ns}/brokers`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name: 'settled' },
      spec: {},
    });
    await cluster.waitFor(`${GROUP_PATH}/namespaces/${ns}/brokers/settled`, (b) => readyOf(b) !== undefined);
    await sleep(1_000);
    const broker = `${GROUP_PATH}/namespaces/${ns}/brokers/kept`;
    const finalizersOf = (b: Record<string, unknown>) =>
      (b['metadata'] as { finalizers?: string[] }).finalizers ?? [];
    proxy.hold();
    await create(`${GROUP_PATH}/namespaces/${ns}/brokers`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name: 'kept' },
      spec: {},
    });
    await mergePatch(broker, { metadata: { finalizers: ['example.com/keep'] } });
    proxy.release();
    const seen = await cluster.waitFor(broker, (b) => finalizersOf(b).includes(FINALIZER), 20_000);
    expect(finalizersOf(seen)).toContain('example.com/keep');
    // And it stays: the operator goes on to make the Broker's children with both finalizers in place.
    await cluster.waitFor(broker, (b) => statusOf(b).observedGeneration !== undefined, 20_000);
    expect(finalizersOf((await cluster.request('GET', broker)).body as Record<string, unknown>)).toEqual([
      'example.com/keep',
      FINALIZER,
    ]);
  });
});

describe('a spec change on a live Broker that its workload cannot take', () => {
  // A StatefulSet's volumeClaimTemplates cannot change once it exists: the API server refuses every apply
  // of the Broker's new `spec.storage`. The operator retried for ever and wrote nothing, so the Broker kept
  // saying Ready (of the old generation) while its change was never made.
  it('is reported in status (observedGeneration and a reason), not retried silently', async () => {
    const ns = await namespace();
    await startOperator();
    const broker = `${GROUP_PATH}/namespaces/${ns}/brokers/ledger`;
    await create(`${GROUP_PATH}/namespaces/${ns}/brokers`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name: 'ledger' },
      spec: { storage: '1Gi' },
    });
    await cluster.waitFor(broker, (b) => statusOf(b).observedGeneration === 1);
    await cluster.waitFor(`/apis/apps/v1/namespaces/${ns}/statefulsets/herald-broker-ledger`, () => true);

    const changed = await mergePatch(broker, { spec: { storage: '2Gi' } });
    const generation = generationOf(changed);
    const seen = await cluster.waitFor(broker, (b) => statusOf(b).observedGeneration === generation, 20_000);
    const ready = readyOf(seen);
    expect(ready?.status).toBe('False');
    expect(ready?.reason).toBe('StorageUnchangeable');
    expect(ready?.message).toContain('1Gi');
    // The running broker's volume is as it was.
    const statefulSet = (await cluster.request(
      'GET',
      `/apis/apps/v1/namespaces/${ns}/statefulsets/herald-broker-ledger`,
    )) as {
      body: {
        spec: { volumeClaimTemplates: Array<{ spec: { resources: { requests: { storage: string } } } }> };
      };
    };
    expect(statefulSet.body.spec.volumeClaimTemplates[0]?.spec.resources.requests.storage).toBe('1Gi');

    // The same size written otherwise is no change: the Broker goes back to waiting for its workload.
    const back = await mergePatch(broker, { spec: { storage: '1024Mi' } });
    const restored = await cluster.waitFor(
      broker,
      (b) => statusOf(b).observedGeneration === generationOf(back),
      20_000,
    );
    expect(readyOf(restored)?.reason).toBe('WorkloadNotReady');
  });
});

describe('children of a Broker deleted by hand', () => {
  // The operator watched only the workloads: anything else it made and someone deleted (`kubectl delete svc`
  // by mistake, a cleanup script) stayed gone until the next resync, 5 minutes later — the broker
  // unreachable (Service), its pods unable to start (ConfigMap, ServiceAccount), its TokenReviews refused
  // (ClusterRoleBinding) or its Subscriptions unreadable (RoleBinding) meanwhile.
  it('are made again at once, not at the next resync', async () => {
    const ns = await namespace();
    await startOperator();
    await create(`${GROUP_PATH}/namespaces/${ns}/brokers`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name: 'shop' },
      spec: {},
    });
    const children = [
      `/api/v1/namespaces/${ns}/services/shop`,
      `/api/v1/namespaces/${ns}/configmaps/herald-broker-shop`,
      `/api/v1/namespaces/${ns}/serviceaccounts/herald-broker-shop`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/herald-broker-shop`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/herald-broker-shop`,
      `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/herald-broker-shop`,
      `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/herald-broker:${ns}:shop:auth-delegator`,
    ];
    const uids = new Map<string, string>();
    for (const child of children) {
      const made = await cluster.waitFor(child, () => true);
      uids.set(child, (made['metadata'] as { uid: string }).uid);
    }
    await cluster.waitFor(`${GROUP_PATH}/namespaces/${ns}/brokers/shop`, (b) => readyOf(b) !== undefined);
    for (const child of children) {
      const deleted = await cluster.request('DELETE', child);
      expect(deleted.status, `${child}: ${deleted.text}`).toBe(200);
    }
    for (const child of children) {
      await cluster.waitFor(
        child,
        (made) => (made['metadata'] as { uid: string }).uid !== uids.get(child),
        20_000,
      );
    }
  });
});

describe("a Channel's Ready condition", () => {
  // lastTransitionTime is when `status` last changed: a spec change that leaves the Channel Ready is no
  // transition, yet each rewrite of the condition stamped the time of the rewrite.
  it('keeps its lastTransitionTime across a spec change that leaves it Ready', async () => {
    const ns = await namespace();
    await startOperator();
    const channel = `${GROUP_PATH}/namespaces/${ns}/channels/js`;
    await create(`${GROUP_PATH}/namespaces/${ns}/channels`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Channel',
      metadata: { name: 'js' },
      spec: { type: 'jetstream', jetstream: { url: 'nats://nats.example:4222' } },
    });
    const first = await cluster.waitFor(channel, (c) => readyOf(c)?.status === 'True');
    const since = readyOf(first)?.lastTransitionTime;
    expect(since).toBeDefined();
    // A rewrite a second later would carry another time whatever precision the API server keeps.
    await sleep(1_100);
    const changed = await mergePatch(channel, { spec: { retention: { maxAge: 'P7D' } } });
    const seen = await cluster.waitFor(
      channel,
      (c) => statusOf(c).observedGeneration === generationOf(changed),
      20_000,
    );
    expect(readyOf(seen)?.status).toBe('True');
    expect(readyOf(seen)?.lastTransitionTime).toBe(since);
  });
});

describe("the operator's watches, when their connection dies silently", () => {
  // A load balancer or proxy that stops forwarding, or a peer gone without a reset, ends nothing: the
  // operator waited on such a watch for ever. Its resync reconciled only what it had cached, so a spec
  // change made meanwhile was never rolled out and a deleted Broker stayed Terminating.
  it('are ended and resumed: a Broker changed and one deleted meanwhile are reconciled', async () => {
    const ns = await namespace();
    const proxy = await startWatchProxy(cluster.apiserver);
    proxies.push(proxy);
    await startOperator({ config: proxy.kubeConfig(), watchTimeoutMs: 2_000 });
    await create(`${GROUP_PATH}/namespaces/${ns}/channels`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Channel',
      metadata: { name: 'js' },
      spec: { type: 'jetstream', jetstream: { url: 'nats://nats.example:4222' } },
    });
    for (const name of ['relay', 'gone']) {
      await create(`${GROUP_PATH}/namespaces/${ns}/brokers`, {
        apiVersion: 'eventing.herald.dev/v1alpha1',
        kind: 'Broker',
        metadata: { name },
        spec: { channel: 'js', replicas: 2 },
      });
    }
    const deployment = (name: string) => `/apis/apps/v1/namespaces/${ns}/deployments/herald-broker-${name}`;
    const replicasOf = (d: Record<string, unknown>) => (d['spec'] as { replicas?: number }).replicas;
    await cluster.waitFor(deployment('relay'), (d) => replicasOf(d) === 2);
    await cluster.waitFor(deployment('gone'), () => true);
    await cluster.waitFor(
      `${GROUP_PATH}/namespaces/${ns}/brokers/gone`,
      (b) => ((b['metadata'] as { finalizers?: string[] }).finalizers ?? []).length > 0,
    );

    proxy.stall();
    await mergePatch(`${GROUP_PATH}/namespaces/${ns}/brokers/relay`, { spec: { replicas: 3 } });
    const deleted = await cluster.request('DELETE', `${GROUP_PATH}/namespaces/${ns}/brokers/gone`);
    expect(deleted.status, deleted.text).toBe(200);

    await cluster.waitFor(deployment('relay'), (d) => replicasOf(d) === 3, 20_000);
    const deadline = Date.now() + 20_000;
    let answer = await cluster.request('GET', `${GROUP_PATH}/namespaces/${ns}/brokers/gone`);
    while (answer.status !== 404 && Date.now() < deadline) {
      await sleep(100);
      answer = await cluster.request('GET', `${GROUP_PATH}/namespaces/${ns}/brokers/gone`);
    }
    expect(answer.status, 'the deleted Broker is finalized and gone').toBe(404);
    expect((await cluster.request('GET', deployment('gone'))).status).toBe(404);
  });
});
