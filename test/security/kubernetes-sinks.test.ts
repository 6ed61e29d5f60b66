// Acceptance (#10 points 3 and 5, Kubernetes side, against a real kube-apiserver): a Subscription
// resource names its sink credential with sinkcredential.secretRef; the broker reads the Secret and
// sends the credential, the resource never holds it, and the API refuses inline credentials in
// Kubernetes mode. A declared Subscription whose sink is denied delivers nothing (the guard checks
// at connect time) and says so on the resource.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { publish, requestJson } from '../harness/client.js';
import type { TestCluster } from '../k8s/cluster.js';
import { GROUP_PATH, startCluster } from '../k8s/cluster.js';
import { binaryHeaders, send, sleep } from '../support/http.js';
import { TOKENS, tokensFile } from './fixtures.js';
import { startHostileSink } from './support/hostile-sink.js';
import type { HostileSink } from './support/hostile-sink.js';

describe('sink credentials in Kubernetes mode', () => {
  let cluster: TestCluster;
  let broker: BrokerProcess;
  let sink: SinkProcess;
  const ns = 'payments';
  const TOKEN = 'k8s-SECRET-token';

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.createNamespace(ns);
    sink = await startSink();
    broker = await startBroker({
      args: ['--kubernetes', '--namespace', ns, '--broker-name', 'ledger'],
      env: { KUBECONFIG: cluster.apiserver.kubeconfigPath },
    });
  }, 180_000);
  // The broker's stop is bounded by --shutdown-timeout (30 s) and the API server's by SIGKILL after 15 s; on a
  // loaded CI machine the two together can pass the default 60 s hook timeout (it did once, with every test green).
  afterAll(async () => {
    await broker?.stop();
    await sink?.stop();
    await cluster?.stop();
    if (broker !== undefined) removeDir(broker.dataDir);
  }, 120_000);

  it('reads the Secret a secretRef names and sends the credential', async () => {
    const secret = await cluster.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'ledger-sink', labels: { 'eventing.herald.dev/sink-credential': 'true' } },
      stringData: { accesstoken: TOKEN },
    });
    expect(secret.status).toBe(201);
    const created = await cluster.request('POST', `${GROUP_PATH}/namespaces/${ns}/subscriptions`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Subscription',
      metadata: { name: 'audit' },
      spec: {
        broker: 'ledger',
        sink: `${sink.url}/audit`,
        sinkcredential: { secretRef: { name: 'ledger-sink' } },
      },
    });
    expect(created.status).toBe(201);
    // The subscription starts once the registry saw the resource; publish until it delivers.
    const deadline = Date.now() + 30_000;
    let n = 0;
    while ((await sink.received()).length === 0 && Date.now() < deadline) {
      await publish(broker.url, { id: `k8s-${n++}` });
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const [record] = await sink.waitFor((r) => r.length > 0);
    expect(record?.headers['authorization']).toBe(`Bearer ${TOKEN}`);

    const resource = await cluster.request('GET', `${GROUP_PATH}/namespaces/${ns}/subscriptions/audit`);
    expect(JSON.stringify(resource.body)).not.toContain(TOKEN);
    const view = await requestJson('GET', `${broker.url}/subscriptions/audit`);
    expect(JSON.stringify(view.body)).not.toContain(TOKEN);
  });

  it('reads no Secret that is not labelled as a sink credential: a Subscription cannot send another Secret', async () => {
    // Any Secret of the namespace (the broker's Role may get them all): a database password, say.
    const secret = await cluster.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'payroll-db' },
      stringData: { accesstoken: 'payroll-DB-PASSWORD' },
    });
    expect(secret.status).toBe(201);
    for (const [name, spec] of [
      ['exfil', { sink: `${sink.url}/exfil`, sinkcredential: { secretRef: { name: 'payroll-db' } } }],
      // Without a credential: shows when events have been delivered.
      ['beside', { sink: `${sink.url}/beside` }],
    ] as const) {
      const created = await cluster.request('POST', `${GROUP_PATH}/namespaces/${ns}/subscriptions`, {
        apiVersion: 'eventing.herald.dev/v1alpha1',
        kind: 'Subscription',
        metadata: { name },
        spec: { broker: 'ledger', ...spec },
      });
      expect(created.status).toBe(201);
    }
    // Publish until the other subscription has had a few events (bounded: a wait, not an assertion).
    const deadline = Date.now() + 30_000;
    for (let n = 0; Date.now() < deadline; n++) {
      await publish(broker.url, { id: `exfil-${n}` });
      const received = await sink.received();
      if (received.filter((r) => r.path === '/beside').length >= 3) break;
      await sleep(300);
    }
    const received = await sink.received();
    expect(received.filter((r) => r.path === '/beside').length).toBeGreaterThanOrEqual(3);
    expect(received.filter((r) => r.path === '/exfil').map((r) => r.headers['authorization'])).toEqual([]);
  });

  it('a declared Subscription with a denied sink delivers nothing and is not Ready', async () => {
    // A sink listening on 127.0.0.2: loopback, and not covered by the test allowance (127.0.0.1/32).
    const denied = await startHostileSink(undefined, '127.0.0.2');
    try {
      await checkDenied(denied);
    } finally {
      await denied.stop();
    }
  });

  async function checkDenied(denied: HostileSink): Promise<void> {
    const created = await cluster.request('POST', `${GROUP_PATH}/namespaces/${ns}/subscriptions`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Subscription',
      metadata: { name: 'sneaky' },
      spec: { broker: 'ledger', sink: `${denied.url}/sneaky` },
    });
    expect(created.status).toBe(201);
    const path = `${GROUP_PATH}/namespaces/${ns}/subscriptions/sneaky`;
    const deadline = Date.now() + 30_000;
    let n = 0;
    let resource: Record<string, unknown> = {};
    for (;;) {
      await publish(broker.url, { id: `sneaky-${n++}` });
      resource = (await cluster.request('GET', path)).body as Record<string, unknown>;
      const state = (resource['status'] as { state?: string } | undefined)?.state;
      if (state === 'failing' || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const status = resource['status'] as {
      state: string;
      conditions: Array<{ status: string; message: string }>;
    };
    expect(status.state).toBe('failing');
    expect(status.conditions[0]?.status).toBe('False');
    expect(status.conditions[0]?.message).toContain('denied');
    const view = await requestJson<{ status: { lastError: { code: string } } }>(
      'GET',
      `${broker.url}/subscriptions/sneaky`,
    );
    expect(view.body.status.lastError.code).toBe('HERALD_SINK_FORBIDDEN');
    expect(await denied.received()).toHaveLength(0);
  }

  it('refuses inline credentials and sensitive headers through the API (they would land in a resource)', async () => {
    for (const body of [
      { sinkcredential: { credentialtype: 'ACCESSTOKEN', accesstoken: TOKEN } },
      { protocolsettings: { headers: { Authorization: `Bearer ${TOKEN}` } } },
    ]) {
      const response = await requestJson<{ code: string }>('POST', `${broker.url}/subscriptions`, {
        sink: `${sink.url}/inline`,
        protocol: 'HTTP',
        ...body,
      });
      expect(response.status).toBe(400);
      expect(response.body.code).toBe('HERALD_INVALID_REQUEST');
    }
    const list = await cluster.request('GET', `${GROUP_PATH}/namespaces/${ns}/subscriptions`);
    expect(JSON.stringify(list.body)).not.toContain(TOKEN);
  });

  // `sinkcredential.secretRef` makes the broker read a Secret of its namespace with its own ServiceAccount
  // and send what it holds to the subscription's sink. On a Subscription resource the cluster's RBAC
  // decides who may write that reference; through the HTTP API Herald's `subscribe` rule alone would (by
  // default: any authenticated principal), so a principal that may only subscribe could have any Secret
  // of the namespace sent to a sink of its choosing (a confused deputy). The API refuses the reference.
  describe('through the API, with a principal that may only subscribe', () => {
    let broker: BrokerProcess;
    let dir: string;
    const SECRET = 'billing-SECRET-token-of-another-team';

    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'herald-secretref-'));
      const tokens = path.join(dir, 'tokens.yaml');
      const policy = path.join(dir, 'policy.yaml');
      writeFileSync(tokens, tokensFile(TOKENS));
      // alice may publish, subscribe and read: nothing in the policy lets her read Secrets.
      writeFileSync(policy, 'rules:\n  - principals: [alice]\n    actions: [publish, subscribe, read]\n');
      broker = await startBroker({
        args: [
          ...['--kubernetes', '--namespace', ns, '--broker-name', 'billing'],
          ...['--auth', 'tokens', '--auth-tokens', tokens, '--policy', policy],
        ],
        env: { KUBECONFIG: cluster.apiserver.kubeconfigPath },
      });
    }, 120_000);
    afterAll(async () => {
      await broker?.stop();
      if (broker !== undefined) removeDir(broker.dataDir);
      if (dir !== undefined) removeDir(dir);
    }, 120_000);

    const alice = { authorization: `Bearer ${TOKENS.alice}` };
    const createSubscription = (body: Record<string, unknown>) =>
      send(broker.url, {
        path: '/subscriptions',
        headers: { ...alice, 'content-type': 'application/json' },
        body: JSON.stringify({ protocol: 'HTTP', ...body }),
      });

    it("refuses a secretRef, so a principal cannot have the broker send it another team's Secret", async () => {
      // Another team's sink credential, declared for its own Subscription resource.
      const secret = await cluster.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'billing-sink', labels: { 'eventing.herald.dev/sink-credential': 'true' } },
        stringData: { accesstoken: SECRET },
      });
      expect(secret.status).toBe(201);

      const stolen = await createSubscription({
        sink: `${sink.url}/stolen`,
        sinkcredential: { secretRef: { name: 'billing-sink' } },
      });
      // A subscription of alice's own, without a credential, shows when events have been delivered.
      const control = await createSubscription({ sink: `${sink.url}/control` });
      expect(control.status).toBe(201);
      // Publish until the control subscription has had a few events (bounded: a wait, not an assertion).
      const deadline = Date.now() + 30_000;
      for (let n = 0; Date.now() < deadline; n++) {
        const published = await send(broker.url, {
          path: '/events',
          headers: { ...alice, ...binaryHeaders(`e-${n}`) },
        });
        expect(published.status).toBe(202);
        const received = await sink.received();
        const at = (p: string) => received.filter((r) => r.path === p).length;
        if (at('/stolen') > 0 || at('/control') >= 3) break;
        await sleep(300);
      }
      const sentToStolen = (await sink.received()).filter((r) => r.path === '/stolen');
      expect(sentToStolen.map((r) => r.headers['authorization'])).toEqual([]);
      expect(stolen.status).toBe(400);
      expect(stolen.json()).toMatchObject({ code: 'HERALD_INVALID_REQUEST' });
      const resources = await cluster.request('GET', `${GROUP_PATH}/namespaces/${ns}/subscriptions`);
      expect(JSON.stringify(resources.body)).not.toContain('billing-sink');
    });
  });
});
