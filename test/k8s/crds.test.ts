import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, startCluster } from './cluster.js';

describe('CustomResourceDefinitions on a real API server', () => {
  let cluster: TestCluster;
  const ns = 'crd-test';

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.createNamespace(ns);
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  const create = (plural: string, body: Record<string, unknown>) =>
    cluster.request('POST', `${GROUP_PATH}/namespaces/${ns}/${plural}`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      ...body,
    });

  it('accepts a Broker, a JetStream Channel and Subscriptions in API and original shorthand form', async () => {
    expect(
      (
        await create('channels', {
          kind: 'Channel',
          metadata: { name: 'js' },
          spec: { type: 'jetstream', jetstream: { url: 'nats://nats:4222', replicas: 3 } },
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await create('brokers', {
          kind: 'Broker',
          metadata: { name: 'orders' },
          spec: { channel: 'js', replicas: 2, delivery: { retry: 3, ordering: 'strict' } },
        })
      ).status,
    ).toBe(201);
    const api = await create('subscriptions', {
      kind: 'Subscription',
      metadata: { name: 'billing' },
      spec: {
        broker: 'orders',
        sink: { ref: { kind: 'Service', name: 'billing', port: 8080 }, uri: '/events' },
        types: ['com.example.order.created'],
        filters: [
          { all: [{ prefix: { source: '/shop' } }, { not: { exact: { subject: 'test' } } }] },
          { sql: "source LIKE '/shop/%'" },
        ],
        delivery: { retry: 5, backoffDelay: 'PT1S', deadLetterSink: 'http://dls.default.svc/' },
        startAt: { sequence: 10 },
      },
    });
    expect(api.status, api.text).toBe(201);
    const stored = (await cluster.request('GET', `${GROUP_PATH}/namespaces/${ns}/subscriptions/billing`))
      .body as { spec: Record<string, unknown> };
    // Nested filters and the sink reference survive structural pruning.
    expect(stored.spec['filters']).toEqual([
      { all: [{ prefix: { source: '/shop' } }, { not: { exact: { subject: 'test' } } }] },
      { sql: "source LIKE '/shop/%'" },
    ]);
    expect(stored.spec['sink']).toEqual({
      ref: { kind: 'Service', name: 'billing', port: 8080 },
      uri: '/events',
    });
    expect(stored.spec['startAt']).toEqual({ sequence: 10 });
    const seed = await create('subscriptions', {
      kind: 'Subscription',
      metadata: { name: 'seed-style' },
      spec: {
        broker: 'orders',
        channel: 'natss',
        subject: 'test',
        subscriber: [{ uri: 'http://consumer.my-namespace.svc.cluster.local/events' }],
      },
    });
    expect(seed.status, seed.text).toBe(201);
  });

  it.each([
    [
      'a Subscription without a broker',
      'subscriptions',
      { kind: 'Subscription', metadata: { name: 'nobroker' }, spec: { sink: 'http://x' } },
      'broker',
    ],
    [
      'a bad ordering',
      'subscriptions',
      {
        kind: 'Subscription',
        metadata: { name: 'badorder' },
        spec: { broker: 'b', sink: 'http://x', delivery: { ordering: 'fifo' } },
      },
      'ordering',
    ],
    [
      'a jetstream Channel without settings',
      'channels',
      { kind: 'Channel', metadata: { name: 'nojs' }, spec: { type: 'jetstream' } },
      'jetstream',
    ],
    [
      'a kafka Channel without settings',
      'channels',
      { kind: 'Channel', metadata: { name: 'nokafka' }, spec: { type: 'kafka' } },
      'spec.kafka.brokers',
    ],
    [
      'an unknown Channel type',
      'channels',
      { kind: 'Channel', metadata: { name: 'rabbit' }, spec: { type: 'rabbitmq' } },
      'type',
    ],
    [
      'a Broker with zero replicas',
      'brokers',
      { kind: 'Broker', metadata: { name: 'zero' }, spec: { replicas: 0 } },
      'replicas',
    ],
  ])('rejects %s', async (_name, plural, body, message) => {
    const response = await create(plural, body);
    expect(response.status).toBe(422);
    expect(response.text).toContain(message);
  });

  it('prints the documented columns', async () => {
    const table = await cluster.request('GET', `${GROUP_PATH}/namespaces/${ns}/brokers`, undefined);
    expect(table.status).toBe(200);
    const crd = (
      await cluster.request(
        'GET',
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/subscriptions.eventing.herald.dev',
      )
    ).body as {
      spec: { versions: Array<{ additionalPrinterColumns: Array<{ name: string }> }> };
    };
    expect(crd.spec.versions[0]!.additionalPrinterColumns.map((c) => c.name)).toEqual([
      'Broker',
      'Sink',
      'Ready',
      'Lag',
      'Age',
    ]);
  });
});
