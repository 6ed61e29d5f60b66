import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { publish, requestJson, sleep } from '../harness/client.js';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, startCluster } from './cluster.js';

interface Sub {
  metadata: { name: string; labels?: Record<string, string>; generation?: number };
  spec: Record<string, unknown>;
  status?: {
    conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
    cursor?: number;
    lag?: number;
    sinkUri?: string;
    state?: string;
  };
}

/** Polls the broker's subscription list until `predicate` holds for its ids; throws with the last list otherwise. */
async function waitForSubscriptions(
  brokerUrl: string,
  predicate: (ids: string[]) => boolean,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ids = (await requestJson<Array<{ id: string }>>('GET', `${brokerUrl}/subscriptions`)).body.map(
      (s) => s.id,
    );
    if (predicate(ids)) return;
    if (Date.now() > deadline)
      throw new Error(`the broker's subscriptions never matched within ${timeoutMs} ms: ${ids.join(', ')}`);
    await sleep(100);
  }
}

describe('broker in Kubernetes mode: Subscription resources are the registry', () => {
  let cluster: TestCluster;
  let broker: BrokerProcess;
  let sink: SinkProcess;
  const ns = 'shop';
  const subs = `${GROUP_PATH}/namespaces/${ns}/subscriptions`;
  const ready = (body: Record<string, unknown>) =>
    ((body as unknown as Sub).status?.conditions ?? []).find((c) => c.type === 'Ready');

  const startKubernetesBroker = (dataDir?: string) =>
    startBroker({
      args: ['--kubernetes', '--namespace', ns, '--broker-name', 'orders'],
      env: { KUBECONFIG: cluster.apiserver.kubeconfigPath },
      ...(dataDir === undefined ? {} : { dataDir }),
    });

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.createNamespace(ns);
    sink = await startSink();
    broker = await startKubernetesBroker();
  }, 180_000);
  afterAll(async () => {
    await broker?.stop();
    await sink?.stop();
    await cluster?.stop();
    if (broker !== undefined) removeDir(broker.dataDir);
  });

  it('delivers for a declared Subscription and reports cursor, lag and Ready on it', async () => {
    const created = await cluster.request('POST', subs, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Subscription',
      metadata: { name: 'billing' },
      spec: {
        broker: 'orders',
        sink: `${sink.url}/billing`,
        types: ['com.example.order.created'],
        delivery: { ordering: 'strict' },
      },
    });
    expect(created.status, created.text).toBe(201);
    // The broker learns of it through its watch.
    await waitForSubscriptions(broker.url, (ids) => ids.includes('billing'));
    await publish(broker.url, { id: 'o1', type: 'com.example.order.created' });
    await publish(broker.url, { id: 'o2', type: 'com.example.order.deleted' });
    const records = await sink.waitFor((r) => r.some((x) => x.path === '/billing'));
    expect(records.filter((r) => r.path === '/billing').map((r) => r.headers['ce-id'])).toEqual(['o1']);
    const status = await cluster.waitFor(
      `${subs}/billing`,
      (body) => ready(body)?.status === 'True' && (body as unknown as Sub).status?.cursor === 3,
    );
    expect((status as unknown as Sub).status).toMatchObject({
      sinkUri: `${sink.url}/billing`,
      state: 'active',
      lag: 0,
    });
    expect(ready(status)?.reason).toBe('Delivering');
  });

  it.each([
    ['a non-HTTP sink', 'broken-sink', { sink: 'ftp://nowhere/x' }, 'sink'],
    ['no sink at all', 'no-sink', {}, 'spec.sink'],
    [
      'an invalid CESQL filter',
      'bad-sql',
      { sink: 'http://127.0.0.1:9/x', filters: [{ sql: "type = 'a' AND" }] },
      'CESQL',
    ],
    [
      'a header that would forge an event attribute',
      'forged-header',
      { sink: 'http://127.0.0.1:9/x', protocolsettings: { headers: { 'ce-type': 'forged' } } },
      "protocolsettings.headers.ce-type: must not start with 'ce-' or 'herald-'",
    ],
    [
      'two subscribers in the shorthand',
      'two-subscribers',
      { subscriber: [{ uri: 'http://a/' }, { uri: 'http://b/' }] },
      'one subscriber',
    ],
  ])('reports %s on the Ready condition', async (_name, name, spec, message) => {
    const created = await cluster.request('POST', subs, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Subscription',
      metadata: { name },
      spec: { broker: 'orders', ...spec },
    });
    expect(created.status, created.text).toBe(201);
    const status = await cluster.waitFor(`${subs}/${name}`, (body) => ready(body)?.status === 'False');
    expect(ready(status)).toMatchObject({ reason: 'InvalidSpec' });
    expect(ready(status)?.message).toContain(message);
    const listed = await requestJson<Array<{ id: string }>>('GET', `${broker.url}/subscriptions`);
    expect(listed.body.map((s) => s.id)).not.toContain(name);
  });

  it('turns API and seed subscriptions into labelled resources, and deletes them', async () => {
    const created = await requestJson<{ id: string }>('POST', `${broker.url}/subscriptions`, {
      sink: `${sink.url}/api`,
      protocol: 'HTTP',
      types: ['com.example.api'],
    });
    expect(created.status).toBe(201);
    const resource = (await cluster.request('GET', `${subs}/${created.body.id}`)).body as Sub;
    expect(resource.metadata.labels).toMatchObject({
      'eventing.herald.dev/origin': 'api',
      'eventing.herald.dev/broker': 'orders',
    });
    expect(resource.spec).toMatchObject({
      broker: 'orders',
      sink: `${sink.url}/api`,
      types: ['com.example.api'],
    });

    const seed = await requestJson<{ id: string }>('POST', `${broker.url}/events/sub`, {
      subject: 'test',
      subscribers: [`${sink.url}/seed`],
    });
    expect(seed.status).toBe(201);
    const seedResource = (await cluster.request('GET', `${subs}/${seed.body.id}`)).body as Sub;
    expect(seedResource.metadata.labels?.['eventing.herald.dev/origin']).toBe('seed');
    expect(seedResource.spec['filters']).toEqual([{ exact: { subject: 'test' } }]);

    expect((await requestJson('DELETE', `${broker.url}/subscriptions/${created.body.id}`)).status).toBe(200);
    expect((await cluster.request('GET', `${subs}/${created.body.id}`)).status).toBe(404);
    expect(
      (await fetch(`${broker.url}/events/unsub?subscriptionId=${seed.body.id}`, { method: 'DELETE' })).status,
    ).toBe(204);
    expect((await cluster.request('GET', `${subs}/${seed.body.id}`)).status).toBe(404);
  });

  it('refuses to change or delete a declared subscription through the API, but pauses and resumes it', async () => {
    const put = await requestJson<{ code: string; detail: string }>(
      'PUT',
      `${broker.url}/subscriptions/billing`,
      { sink: `${sink.url}/other`, protocol: 'HTTP' },
    );
    expect(put.status).toBe(409);
    expect(put.headers.get('content-type')).toBe('application/problem+json');
    expect(put.body.code).toBe('HERALD_CONFLICT');
    expect(put.body.detail).toContain(`resource ${ns}/billing; change the resource instead`);
    // A GitOps tool would recreate a resource deleted behind its back: the resource is the only way.
    const deleted = await requestJson<{ code: string; detail: string }>(
      'DELETE',
      `${broker.url}/subscriptions/billing`,
    );
    expect(deleted.status).toBe(409);
    expect(deleted.headers.get('content-type')).toBe('application/problem+json');
    expect(deleted.body.code).toBe('HERALD_CONFLICT');
    expect(deleted.body.detail).toContain(`resource ${ns}/billing; delete the resource instead`);
    expect((await cluster.request('GET', `${subs}/billing`)).status).toBe(200);
    expect((await requestJson('GET', `${broker.url}/subscriptions/billing`)).status).toBe(200);
    expect((await requestJson('POST', `${broker.url}/subscriptions/billing/pause`)).status).toBe(200);
    const paused = await cluster.waitFor(
      `${subs}/billing`,
      (body) => (body as unknown as Sub).status?.state === 'paused',
    );
    expect(ready(paused)?.reason).toBe('Paused');
    // The spec a person wrote is left alone.
    expect((paused as unknown as Sub).spec['sink']).toBe(`${sink.url}/billing`);
    expect((await requestJson('POST', `${broker.url}/subscriptions/billing/resume`)).status).toBe(200);
  });

  it('a PUT through the API replaces the resource spec: members it leaves out are removed', async () => {
    const created = await requestJson<{ id: string }>('POST', `${broker.url}/subscriptions`, {
      sink: `${sink.url}/replaced`,
      protocol: 'HTTP',
      types: ['com.example.replaced'],
      filters: [{ exact: { subject: 'only-this' } }],
      protocolsettings: { headers: { 'x-team': 'a' } },
      delivery: { ordering: 'strict', retry: 2 },
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const put = await requestJson('PUT', `${broker.url}/subscriptions/${id}`, {
      sink: `${sink.url}/replaced`,
      protocol: 'HTTP',
      types: ['com.example.replaced'],
    });
    expect(put.status).toBe(200);
    const spec = ((await cluster.request('GET', `${subs}/${id}`)).body as Sub).spec;
    expect(spec['filters']).toBeUndefined();
    expect(spec['protocolsettings']).toBeUndefined();
    expect((spec['delivery'] as { ordering?: string } | undefined)?.ordering).not.toBe('strict');
    // The broker reads the resource back through its watch: the subscription has no filter any more.
    await waitForSubscriptions(broker.url, (ids) => ids.includes(id));
    const view = await requestJson<{ filters?: unknown; protocolsettings?: unknown }>(
      'GET',
      `${broker.url}/subscriptions/${id}`,
    );
    expect(view.body.filters ?? []).toEqual([]);
    expect(view.body.protocolsettings).toBeUndefined();
    await requestJson('DELETE', `${broker.url}/subscriptions/${id}`);
  });

  it('an invalid edit stops delivery but keeps the cursor: fixed, it delivers what was published meanwhile', async () => {
    const type = 'com.example.edited';
    const valid = { broker: 'orders', sink: `${sink.url}/edited`, types: [type] };
    const created = await cluster.request('POST', subs, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Subscription',
      metadata: { name: 'edited' },
      spec: valid,
    });
    expect(created.status, created.text).toBe(201);
    await waitForSubscriptions(broker.url, (ids) => ids.includes('edited'));
    const deliveredHere = async () =>
      (await sink.received()).filter((r) => r.path === '/edited').map((r) => r.headers['ce-id']);
    await publish(broker.url, { id: 'edit-1', type });
    await sink.waitFor((r) => r.some((x) => x.path === '/edited'));

    const patch = (spec: object) =>
      cluster.request('PATCH', `${subs}/edited`, { spec }, 'application/merge-patch+json');
    expect((await patch({ sink: 'ftp://nowhere/x' })).status).toBe(200);
    await cluster.waitFor(`${subs}/edited`, (body) => ready(body)?.reason === 'InvalidSpec');
    await waitForSubscriptions(broker.url, (ids) => !ids.includes('edited'));
    await publish(broker.url, { id: 'edit-2', type });
    await publish(broker.url, { id: 'edit-3', type });

    expect((await patch({ sink: valid.sink })).status).toBe(200);
    await sink.waitFor((r) => r.filter((x) => x.path === '/edited').length >= 3);
    // Default ordering is 'none': edit-2 and edit-3 may arrive in either order; what counts is that neither is lost.
    expect((await deliveredHere()).sort()).toEqual(['edit-1', 'edit-2', 'edit-3']);
    await cluster.request('DELETE', `${subs}/edited`);
  });

  it("a resource over its broker's --filter-max-nodes is InvalidSpec on its Ready condition", async () => {
    const limited = await startBroker({
      args: ['--kubernetes', '--namespace', ns, '--broker-name', 'limited', '--filter-max-nodes', '10'],
      env: { KUBECONFIG: cluster.apiserver.kubeconfigPath },
    });
    try {
      // Seven CESQL comparisons: 22 nodes, within the default limits, over this broker's 10.
      const sql = Array.from({ length: 7 }, (_, i) => `subject = 's${i}'`).join(' OR ');
      const created = await cluster.request('POST', subs, {
        apiVersion: 'eventing.herald.dev/v1alpha1',
        kind: 'Subscription',
        metadata: { name: 'costly' },
        spec: { broker: 'limited', sink: `${sink.url}/costly`, filters: [{ sql }] },
      });
      expect(created.status, created.text).toBe(201);
      const body = await cluster.waitFor(`${subs}/costly`, (b) => ready(b)?.reason === 'InvalidSpec');
      expect(ready(body)?.message).toContain('filter-max-nodes');
    } finally {
      await cluster.request('DELETE', `${subs}/costly`);
      await limited.stop();
      removeDir(limited.dataDir);
    }
  });

  it('a resource deleted while invalid takes its kept cursor along: re-created, it starts at startAt', async () => {
    const type = 'com.example.recreated';
    const spec = { broker: 'orders', sink: `${sink.url}/recreated`, types: [type] };
    const create = () =>
      cluster.request('POST', subs, {
        apiVersion: 'eventing.herald.dev/v1alpha1',
        kind: 'Subscription',
        metadata: { name: 'recreated' },
        spec,
      });
    expect((await create()).status).toBe(201);
    await waitForSubscriptions(broker.url, (ids) => ids.includes('recreated'));
    await publish(broker.url, { id: 'recreated-1', type });
    await sink.waitFor((r) => r.some((x) => x.path === '/recreated'));
    const invalid = await cluster.request(
      'PATCH',
      `${subs}/recreated`,
      { spec: { sink: 'ftp://nowhere/x' } },
      'application/merge-patch+json',
    );
    expect(invalid.status).toBe(200);
    await waitForSubscriptions(broker.url, (ids) => !ids.includes('recreated'));
    expect((await cluster.request('DELETE', `${subs}/recreated`)).status).toBe(200);
    // Published while no subscription of that name exists: a new one (startAt latest) must not get it.
    await publish(broker.url, { id: 'recreated-2', type });
    expect((await create()).status).toBe(201);
    await waitForSubscriptions(broker.url, (ids) => ids.includes('recreated'));
    await publish(broker.url, { id: 'recreated-3', type });
    await sink.waitFor((r) => r.some((x) => x.headers['ce-id'] === 'recreated-3'));
    const delivered = (await sink.received())
      .filter((r) => r.path === '/recreated')
      .map((r) => r.headers['ce-id']);
    expect(delivered).toEqual(['recreated-1', 'recreated-3']);
    await cluster.request('DELETE', `${subs}/recreated`);
  });

  it('leaves an unchanged status alone: no write, and the Ready condition keeps its transition time', async () => {
    const created = await cluster.request('POST', subs, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Subscription',
      metadata: { name: 'steady' },
      spec: { broker: 'orders', sink: `${sink.url}/steady`, types: ['com.example.steady'] },
    });
    expect(created.status, created.text).toBe(201);
    const first = await cluster.waitFor(`${subs}/steady`, (body) => ready(body)?.status === 'True');
    const version = (first as { metadata: { resourceVersion: string } }).metadata.resourceVersion;
    const since = (ready(first) as { lastTransitionTime?: string }).lastTransitionTime;
    // Three status intervals (2 s each) with nothing published and nothing changed.
    await sleep(6_500);
    const later = (await cluster.request('GET', `${subs}/steady`)).body;
    expect((later as { metadata: { resourceVersion: string } }).metadata.resourceVersion).toBe(version);
    expect(
      (ready(later as Record<string, unknown>) as { lastTransitionTime?: string }).lastTransitionTime,
    ).toBe(since);
    await cluster.request('DELETE', `${subs}/steady`);
  });

  it('stops delivering when the resource is deleted, and resumes declared ones after a restart', async () => {
    await cluster.request('POST', subs, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Subscription',
      metadata: { name: 'temporary' },
      spec: { broker: 'orders', subscriber: [{ uri: `${sink.url}/temporary` }], type: 'com.example.temp' },
    });
    await waitForSubscriptions(broker.url, (ids) => ids.includes('temporary'));
    await publish(broker.url, { id: 't1', type: 'com.example.temp' });
    await sink.waitFor((r) => r.some((x) => x.path === '/temporary'));
    expect((await cluster.request('DELETE', `${subs}/temporary`)).status).toBe(200);
    await waitForSubscriptions(broker.url, (ids) => !ids.includes('temporary'));
    expect((await requestJson('GET', `${broker.url}/subscriptions/temporary`)).status).toBe(404);
    await publish(broker.url, { id: 't2', type: 'com.example.temp' });

    expect(await broker.stop()).toBe(0);
    broker = await startKubernetesBroker(broker.dataDir);
    await publish(broker.url, { id: 'o3', type: 'com.example.order.created' });
    const records = await sink.waitFor((r) => r.filter((x) => x.path === '/billing').length >= 2);
    expect(records.filter((x) => x.path === '/billing').map((r) => r.headers['ce-id'])).toEqual(['o1', 'o3']);
    await sleep(300);
    expect(
      (await sink.received()).filter((x) => x.path === '/temporary').map((r) => r.headers['ce-id']),
    ).toEqual(['t1']);
  });
});
