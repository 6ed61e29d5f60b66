// Kubernetes mode, against a real kube-apiserver: `sinkcredential.secretRef` makes the broker read a
// Secret of its namespace with its own ServiceAccount and send what it holds to the subscription's sink.
// On a Subscription resource the cluster's RBAC decides who may write that reference. Through the HTTP
// API it would be decided by Herald's `subscribe` rule alone (by default: any authenticated principal),
// so a principal that may only subscribe could have any Secret of the namespace sent to a sink of its
// choosing (a confused deputy). The API refuses the reference; resources keep it
// (test/security/kubernetes-sinks.test.ts).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import type { TestCluster } from '../k8s/cluster.js';
import { GROUP_PATH, startCluster } from '../k8s/cluster.js';
import { binaryHeaders, send, sleep } from '../support/http.js';
import { TOKENS, tokensFile } from './fixtures.js';

describe('sinkcredential.secretRef through the API (Kubernetes mode)', () => {
  let cluster: TestCluster;
  let broker: BrokerProcess;
  let sink: SinkProcess;
  let dir: string;
  const ns = 'billing';
  const SECRET = 'billing-SECRET-token-of-another-team';

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.createNamespace(ns);
    sink = await startSink();
    dir = mkdtempSync(path.join(tmpdir(), 'herald-secretref-'));
    const tokens = path.join(dir, 'tokens.yaml');
    const policy = path.join(dir, 'policy.yaml');
    writeFileSync(tokens, tokensFile(TOKENS));
    // alice may publish, subscribe and read: nothing in the policy lets her read Secrets.
    writeFileSync(policy, 'rules:\n  - principals: [alice]\n    actions: [publish, subscribe, read]\n');
    broker = await startBroker({
      args: [
        ...['--kubernetes', '--namespace', ns, '--broker-name', 'ledger'],
        ...['--auth', 'tokens', '--auth-tokens', tokens, '--policy', policy],
      ],
      env: { KUBECONFIG: cluster.apiserver.kubeconfigPath },
    });
  }, 180_000);
  afterAll(async () => {
    await broker?.stop();
    await sink?.stop();
    await cluster?.stop();
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
      metadata: { name: 'billing-sink' },
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
