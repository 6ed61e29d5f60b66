// The operator's Kubernetes Events tell users what went wrong, so a healthy Broker on an existing Channel
// must record no Warning: neither when created normally nor when the operator restarts (it used to
// reconcile Brokers before it had listed the Channels, and warned `ChannelNotFound` at every start).
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, startCluster, spawnOperator } from './cluster.js';

interface Status {
  observedGeneration?: number;
  conditions?: Array<{ type: string; status: string; reason: string }>;
}
interface Event {
  type: string;
  reason: string;
  involvedObject: { kind: string; name: string };
  source?: { component?: string };
}

describe('herald operator records no spurious Events', () => {
  let cluster: TestCluster;
  let operator: ChildProcess | undefined;
  const ns = 'quiet';
  const brokers = `${GROUP_PATH}/namespaces/${ns}/brokers`;
  const channels = `${GROUP_PATH}/namespaces/${ns}/channels`;
  const statusOf = (body: Record<string, unknown>) => (body['status'] ?? {}) as Status;
  const readyReason = (body: Record<string, unknown>) =>
    statusOf(body).conditions?.find((c) => c.type === 'Ready')?.reason;

  const startOperator = () => spawnOperator(cluster);
  const stopOperator = async () => {
    if (operator === undefined || operator.exitCode !== null) return;
    const exited = once(operator, 'exit');
    operator.kill('SIGTERM');
    await exited;
  };
  const warnings = async () =>
    (
      ((await cluster.request('GET', `/api/v1/namespaces/${ns}/events`)).body as { items?: Event[] }).items ??
      []
    )
      // The operator's own Warnings: the API server's controllers record some of their own on the same
      // objects (its ClusterIP repair loop warns `ClusterIPNotAllocated` for a Service created while it runs).
      .filter((e) => e.type === 'Warning' && e.source?.component === 'herald-operator')
      .map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}: ${e.reason}`);

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.createNamespace(ns);
    operator = startOperator();
  }, 180_000);
  afterAll(async () => {
    await stopOperator();
    await cluster?.stop();
  });

  it('a Broker created on an existing Channel: Ready progresses, no Warning', async () => {
    const channel = await cluster.request('POST', channels, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Channel',
      metadata: { name: 'stream' },
      spec: { type: 'jetstream', jetstream: { url: 'nats://nats.quiet:4222' } },
    });
    expect(channel.status, channel.text).toBe(201);
    await cluster.waitFor(`${channels}/stream`, (b) => readyReason(b) === 'Ready');
    const broker = await cluster.request('POST', brokers, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name: 'orders' },
      spec: { channel: 'stream' },
    });
    expect(broker.status, broker.text).toBe(201);
    // No kubelet runs the workload: WorkloadNotReady is as far as a healthy Broker gets here.
    await cluster.waitFor(`${brokers}/orders`, (b) => readyReason(b) === 'WorkloadNotReady');
    // The Event follows the status write: wait for it, then look at its type and at every other one.
    const events = await cluster.waitFor(`/api/v1/namespaces/${ns}/events`, (body) =>
      ((body['items'] as Event[] | undefined) ?? []).some((e) => e.reason === 'WorkloadNotReady'),
    );
    expect(
      (events['items'] as Event[]).filter((e) => e.reason === 'WorkloadNotReady').map((e) => e.type),
    ).toEqual(['Normal']);
    expect(await warnings()).toEqual([]);
  });

  it('an operator restart reconciles the existing Broker without warning ChannelNotFound', async () => {
    await stopOperator();
    operator = startOperator();
    // A spec change the new operator must observe: once it has, its start-up pass is behind it too.
    const patched = await cluster.request(
      'PATCH',
      `${brokers}/orders`,
      { spec: { delivery: { retry: 2 } } },
      'application/merge-patch+json',
    );
    expect(patched.status, patched.text).toBe(200);
    const generation = (patched.body as { metadata: { generation: number } }).metadata.generation;
    await cluster.waitFor(
      `${brokers}/orders`,
      (b) => statusOf(b).observedGeneration === generation && readyReason(b) === 'WorkloadNotReady',
    );
    expect(await warnings()).toEqual([]);
  });
});
