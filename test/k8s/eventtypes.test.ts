import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess } from '../harness/processes.js';
import { removeDir, startBroker } from '../harness/processes.js';
import { metricValue, publishBatch, requestJson, sleep } from '../harness/client.js';
import type { TestEvent } from '../harness/client.js';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, startCluster } from './cluster.js';

interface EventTypeResource {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string; uid: string }>;
  };
  spec: { broker: string; type: string; source?: string; description?: string };
  status?: { count?: number; firstSeen?: string; lastSeen?: string };
}

/**
 * Publishes `count` events made by `make` in batches of `size`, in a few parallel lanes; every answer
 * must be 202. Events are made per batch, so a million of them never sit in memory at once.
 */
async function publishAll(
  url: string,
  count: number,
  make: (index: number) => TestEvent,
  size = 500,
  lanes = 4,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < count) {
        const start = next;
        next = Math.min(count, next + size);
        await publishBatch(
          url,
          Array.from({ length: next - start }, (_, i) => make(start + i)),
        );
      }
    }),
  );
}

/** Collects a broker's stdout log lines from now on. */
function logLines(broker: BrokerProcess): string[] {
  const lines: string[] = [];
  let partial = '';
  broker.child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  return lines;
}

describe('event type registry in Kubernetes mode (real API server)', () => {
  let cluster: TestCluster;
  const ns = 'registry';
  const eventTypes = `${GROUP_PATH}/namespaces/${ns}/eventtypes`;
  const brokers: BrokerProcess[] = [];
  let brokerUid: string;

  const start = async (name: string, args: readonly string[] = []) => {
    const broker = await startBroker({
      args: ['--kubernetes', '--namespace', ns, '--broker-name', name, '--durability', 'buffered', ...args],
      env: { KUBECONFIG: cluster.apiserver.kubeconfigPath },
    });
    brokers.push(broker);
    return broker;
  };
  const listFor = async (broker: string) => {
    const listed = await cluster.request(
      'GET',
      `${eventTypes}?labelSelector=eventing.herald.dev/broker%3D${broker}`,
    );
    expect(listed.status, listed.text).toBe(200);
    return (listed.body as { items: EventTypeResource[] }).items;
  };

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.createNamespace(ns);
    // The Broker resource the operator would reconcile; the broker process makes it the owner.
    const created = await cluster.request('POST', `${GROUP_PATH}/namespaces/${ns}/brokers`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name: 'orders' },
      spec: {},
    });
    expect(created.status, created.text).toBe(201);
    brokerUid = (created.body as { metadata: { uid: string } }).metadata.uid;
  }, 180_000);
  afterAll(async () => {
    for (const broker of brokers) {
      await broker.stop();
      removeDir(broker.dataDir);
    }
    await cluster?.stop();
  });

  it('10,000 events of 50 types create exactly 50 EventTypes, owned by the Broker, with their counts', async () => {
    const broker = await start('orders');
    await publishAll(broker.url, 10_000, (i) => ({
      id: `e${i}`,
      type: `com.example.kind${i % 50}`,
      source: '/shop',
    }));
    let items: EventTypeResource[] = [];
    for (let i = 0; i < 300; i++) {
      items = await listFor('orders');
      const counted = items.reduce((sum, item) => sum + (item.status?.count ?? 0), 0);
      if (items.length >= 50 && counted === 10_000) break;
      await sleep(200);
    }
    expect(items).toHaveLength(50);
    expect(new Set(items.map((i) => i.spec.type)).size).toBe(50);
    for (const item of items) {
      expect(item.spec).toEqual({ broker: 'orders', type: item.spec.type, source: '/shop' });
      expect(item.status?.count).toBe(200);
      expect(item.metadata.labels?.['eventing.herald.dev/origin']).toBe('discovered');
      expect(item.metadata.ownerReferences).toEqual([
        expect.objectContaining({ kind: 'Broker', name: 'orders', uid: brokerUid }),
      ]);
    }
    const listed = await requestJson<{ eventTypes: Array<{ type: string; count: number }> }>(
      'GET',
      `${broker.adminUrl}/eventtypes`,
    );
    expect(listed.body.eventTypes).toHaveLength(50);
    expect(listed.body.eventTypes.every((t) => t.count === 200)).toBe(true);
  }, 180_000);

  it('a declared EventType with validation: enforce rejects non-conforming data with the failing pointer', async () => {
    const broker = brokers[0] as BrokerProcess;
    const declared = await cluster.request('POST', eventTypes, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'EventType',
      metadata: { name: 'order-created' },
      spec: {
        broker: 'orders',
        type: 'com.example.order.created',
        description: 'An order was placed.',
        validation: 'enforce',
        schema: {
          type: 'object',
          required: ['total'],
          properties: { total: { type: 'number', minimum: 0 } },
        },
      },
    });
    expect(declared.status, declared.text).toBe(201);
    const bad = {
      specversion: '1.0',
      id: 'x1',
      source: '/shop',
      type: 'com.example.order.created',
      data: { total: -1 },
    };
    let response: Response | undefined;
    // The broker learns of the declaration through its watch; until it does, the event is accepted
    // (and counted) like any other, so the count below adds the ones accepted before enforcement began.
    let acceptedBeforeEnforcement = 0;
    for (let i = 0; i < 100; i++) {
      response = await fetch(`${broker.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify({ ...bad, id: `x1-${i}` }),
      });
      if (response.status === 400) break;
      expect(response.status).toBe(202);
      await response.arrayBuffer();
      acceptedBeforeEnforcement += 1;
      await sleep(100);
    }
    expect(response?.status).toBe(400);
    expect(await response?.json()).toMatchObject({ code: 'HERALD_SCHEMA_VIOLATION', pointer: '/data/total' });
    await publishBatch(broker.url, [
      { id: 'x2', source: '/shop', type: 'com.example.order.created', data: { total: 5 } },
    ]);
    const listed = await requestJson<{ eventTypes: Array<Record<string, unknown>> }>(
      'GET',
      `${broker.adminUrl}/eventtypes`,
    );
    expect(listed.body.eventTypes).toContainEqual(
      expect.objectContaining({
        type: 'com.example.order.created',
        source: '/shop',
        description: 'An order was placed.',
        validation: 'enforce',
        count: acceptedBeforeEnforcement + 1,
      }),
    );
  }, 60_000);

  it('distinct types stop at --event-types-max with ONE warning and a metric; publishes stay 202', async () => {
    const broker = await start('flood', ['--event-types-max', '200', '--event-types-rate', '100']);
    const lines = logLines(broker);
    // 1,000,000 distinct types through a real broker and ingress, each publish answered 202.
    await publishAll(
      broker.url,
      1_000_000,
      (i) => ({ id: `f${i}`, type: `com.example.flood.t${i}`, source: '/flood' }),
      1000,
    );
    expect(await metricValue(broker.adminUrl, 'herald_event_types_dropped_total')).toBe(999_800);
    expect(await metricValue(broker.adminUrl, 'herald_event_types')).toBe(200);
    let items: EventTypeResource[] = [];
    for (let i = 0; i < 200; i++) {
      items = await listFor('flood');
      if (items.length >= 200) break;
      await sleep(200);
    }
    await sleep(1000); // nothing more may appear
    expect(await listFor('flood')).toHaveLength(200);
    const warnings = lines.filter((line) => line.includes('event type registry is full'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0] as string)).toMatchObject({ level: 40, max: 200 });
  }, 600_000);

  it('publishes answer 202 while the API server refuses EventTypes, and while it is down', async () => {
    const broker = await start('outage');
    // Refusing: the EventType API is gone (404 on every write).
    const removed = await cluster.request(
      'DELETE',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/eventtypes.eventing.herald.dev',
    );
    expect(removed.status, removed.text).toBeLessThan(300);
    await publishAll(
      broker.url,
      2_000,
      (i) => ({ id: `r${i}`, type: `com.example.refused${i % 20}`, source: '/r' }),
      100,
    );
    for (
      let i = 0;
      i < 100 && (await metricValue(broker.adminUrl, 'herald_event_type_writes_total')) === 0;
      i++
    )
      await sleep(100);
    const metrics = await (await fetch(`${broker.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/herald_event_type_writes_total\{outcome="error"\} [1-9]/);
    // Down: the API server process is gone.
    await cluster.stop();
    await publishAll(
      broker.url,
      2_000,
      (i) => ({ id: `d${i}`, type: `com.example.down${i % 20}`, source: '/d' }),
      100,
    );
    const listed = await requestJson<{ eventTypes: unknown[] }>('GET', `${broker.adminUrl}/eventtypes`);
    expect(listed.body.eventTypes).toHaveLength(40);
    expect(await metricValue(broker.adminUrl, 'herald_events_accepted_total')).toBe(4_000);
  }, 120_000);
});
