import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installManifests } from '../../src/operator/index.js';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, startCluster, spawnOperator } from './cluster.js';

/*
 * What a platform team expects of the broker workload itself, beyond "it runs": a broker is not killed while
 * its store recovers or its disk is slow, node drains take replicas one at a time, and replicas do not share a
 * node when others are free. There is no kubelet here: the test reads what the operator applied and what the
 * API server accepted.
 */

interface Probe {
  httpGet?: { path: string; port: string | number };
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  initialDelaySeconds?: number;
}
interface PodSpec {
  containers: Array<{
    livenessProbe?: Probe;
    readinessProbe?: Probe;
    startupProbe?: Probe;
    resources?: Record<string, Record<string, string>>;
  }>;
  topologySpreadConstraints?: Array<{
    topologyKey: string;
    maxSkew: number;
    whenUnsatisfiable: string;
    labelSelector?: { matchLabels?: Record<string, string> };
  }>;
}
interface Workload {
  spec: { selector: { matchLabels: Record<string, string> }; template: { spec: PodSpec } };
}

/** Kubernetes' defaults for the probe fields left out. */
const period = (probe: Probe) => probe.periodSeconds ?? 10;
const failures = (probe: Probe) => probe.failureThreshold ?? 3;
const timeout = (probe: Probe) => probe.timeoutSeconds ?? 1;

describe('the broker workload the operator creates', () => {
  let cluster: TestCluster;
  let operator: ChildProcess;
  const ns = 'fleet';

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.createNamespace(ns);
    operator = spawnOperator(cluster);
  }, 180_000);
  afterAll(async () => {
    operator?.kill('SIGTERM');
    await cluster?.stop();
  });

  const createBroker = async (name: string, spec: Record<string, unknown>) => {
    const created = await cluster.request('POST', `${GROUP_PATH}/namespaces/${ns}/brokers`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name },
      spec,
    });
    expect(created.status, created.text).toBe(201);
  };

  it('gives a starting broker minutes before liveness applies, and does not kill one busy for seconds', async () => {
    await cluster.request('POST', `${GROUP_PATH}/namespaces/${ns}/channels`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Channel',
      metadata: { name: 'js' },
      spec: { type: 'jetstream', jetstream: { url: 'nats://nats.fleet:4222' } },
    });
    await createBroker('vault', {});
    await createBroker('relay', { channel: 'js', replicas: 2 });
    const workloads = [
      (await cluster.waitFor(
        `/apis/apps/v1/namespaces/${ns}/statefulsets/herald-broker-vault`,
        () => true,
      )) as unknown as Workload,
      (await cluster.waitFor(
        `/apis/apps/v1/namespaces/${ns}/deployments/herald-broker-relay`,
        () => true,
      )) as unknown as Workload,
    ];
    for (const workload of workloads) {
      const container = workload.spec.template.spec.containers[0];
      // The broker listens only once its store is open (the embedded store indexes what a crash left
      // unindexed first): with liveness alone (3 failures 10 s apart) a recovery longer than ~30 s was
      // killed and started again from the beginning, for ever. A startupProbe holds liveness off.
      const startup = container?.startupProbe;
      expect(startup, 'startupProbe').toBeDefined();
      expect(startup?.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
      expect(period(startup ?? {}) * failures(startup ?? {})).toBeGreaterThanOrEqual(600);
      // Liveness: /healthz is answered on the event loop, which a group commit's in-place fdatasync can hold
      // on a slow disk; a restart does not make the disk faster and cuts every delivery in flight. The 1 s
      // default timeout made three slow answers in a row a kill.
      const liveness = container?.livenessProbe;
      expect(liveness?.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
      expect(timeout(liveness ?? {})).toBeGreaterThanOrEqual(5);
      expect(period(liveness ?? {}) * failures(liveness ?? {})).toBeGreaterThanOrEqual(60);
      expect(container?.readinessProbe?.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
    }
  });

  // A pod without requests is BestEffort: placed wherever, and the first the kubelet evicts under memory
  // pressure. A platform team sizes its brokers per Broker.
  it('requests CPU and memory for a broker, as its Broker says or by default, and refuses a bad quantity', async () => {
    await createBroker('sized', {
      resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi' } },
    });
    await createBroker('plain', {});
    const containerOf = async (name: string) =>
      (
        (await cluster.waitFor(
          `/apis/apps/v1/namespaces/${ns}/statefulsets/herald-broker-${name}`,
          () => true,
        )) as unknown as Workload
      ).spec.template.spec.containers[0];
    expect((await containerOf('sized'))?.resources).toEqual({
      requests: { cpu: '500m', memory: '1Gi' },
      limits: { memory: '2Gi' },
    });
    const plain = (await containerOf('plain'))?.resources;
    expect(plain?.['requests']?.['cpu']).toBeDefined();
    expect(plain?.['requests']?.['memory']).toBeDefined();
    expect(plain?.['limits']).toBeUndefined();
    // The CRD holds no patterns (the API server would take the operator's regular expressions differently):
    // the operator refuses the spec, as the kubelet would refuse the pod.
    await createBroker('oversized', { resources: { requests: { memory: 'lots' } } });
    const readyOf = (b: Record<string, unknown>) =>
      (b['status'] as { conditions?: Array<Record<string, unknown>> } | undefined)?.conditions?.find(
        (c) => c['type'] === 'Ready',
      );
    const refused = await cluster.waitFor(
      `${GROUP_PATH}/namespaces/${ns}/brokers/oversized`,
      (b) => readyOf(b) !== undefined,
      45_000,
    );
    expect(readyOf(refused)).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(String(readyOf(refused)?.['message'])).toContain('resources');
  });

  it('limits voluntary disruptions of a replicated broker to one pod and spreads its replicas over nodes', async () => {
    await createBroker('spread', { channel: 'js', replicas: 3 });
    const deployment = (await cluster.waitFor(
      `/apis/apps/v1/namespaces/${ns}/deployments/herald-broker-spread`,
      () => true,
    )) as unknown as Workload;
    const selector = deployment.spec.selector.matchLabels;
    // Without a PodDisruptionBudget `kubectl drain` of the nodes evicts all replicas at once.
    const budget = await cluster.waitFor(
      `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/herald-broker-spread`,
      () => true,
      10_000,
    );
    expect(budget['spec']).toMatchObject({ maxUnavailable: 1, selector: { matchLabels: selector } });
    expect((budget['metadata'] as { ownerReferences?: unknown[] }).ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Broker', name: 'spread', controller: true }),
    ]);
    // Replicas on one node all go with it; ScheduleAnyway so a one-node cluster still runs them all.
    expect(deployment.spec.template.spec.topologySpreadConstraints).toEqual([
      expect.objectContaining({
        topologyKey: 'kubernetes.io/hostname',
        maxSkew: 1,
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: selector },
      }),
    ]);
    // Deleting the Broker deletes its budget (the operator's clean-up, without a garbage collector).
    await cluster.request('DELETE', `${GROUP_PATH}/namespaces/${ns}/brokers/spread`);
    const deadline = Date.now() + 30_000;
    let status = 200;
    while (Date.now() < deadline && status !== 404) {
      status = (
        await cluster.request(
          'GET',
          `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/herald-broker-spread`,
        )
      ).status;
      if (status !== 404) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(404);
  });

  it("grants the operator's ClusterRole what managing the budgets takes", async () => {
    const objects = installManifests('herald:test');
    for (const kind of ['ClusterRole', 'ClusterRoleBinding']) {
      const object = objects.find((o) => o['kind'] === kind);
      const plural = kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings';
      const created = await cluster.request('POST', `/apis/rbac.authorization.k8s.io/v1/${plural}`, object);
      expect(created.status, created.text).toBe(201);
    }
    const user = 'system:serviceaccount:herald-system:herald-operator';
    const can = async (verb: string, group: string, resource: string) => {
      const review = await cluster.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user,
          resourceAttributes: { verb, group, resource, namespace: ns },
        },
      });
      return (review.body as { status: { allowed: boolean } }).status.allowed;
    };
    // The authorizer sees a new binding a moment later: wait until what the operator already managed is
    // allowed, so that a refusal below is the ClusterRole's.
    const deadline = Date.now() + 10_000;
    while (!(await can('patch', 'apps', 'deployments')) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await can('patch', 'apps', 'deployments')).toBe(true);
    for (const verb of ['get', 'create', 'patch', 'delete'])
      expect(await can(verb, 'policy', 'poddisruptionbudgets'), verb).toBe(true);
  });
});
