// Acceptance (#18 points 1-2, end to end): what the operator makes of a jetstream Channel with a
// credentialsSecret authenticates for real. A real API server holds the Channel, Broker and Secrets; the
// operator writes the ConfigMap and Deployment; this test then does what the kubelet would (Secret keys to
// files at the mount paths, secretKeyRef variables to the environment) and starts the broker exactly as
// the pod would, against a nats-server that requires those credentials.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '@nats-io/jwt';
import { publish, requestJson } from '../harness/client.js';
import type { BrokerProcess } from '../harness/processes.js';
import { CLI, removeDir, startBroker } from '../harness/processes.js';
import { startNatsServer } from '../infra/nats/server.js';
import type { NatsServer } from '../infra/nats/server.js';
import { waitReady } from '../jetstream/brokers.js';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, startCluster } from './cluster.js';

interface Container {
  args: string[];
  env?: Array<{ name: string; valueFrom: { secretKeyRef: { name: string; key: string } } }>;
  volumeMounts: Array<{ name: string; mountPath: string }>;
}
interface Volume {
  name: string;
  secret?: { secretName: string; items?: Array<{ key: string; path: string }> };
}

describe('operator + broker: a jetstream Channel with credentials, against an authenticating nats-server', () => {
  const ns = 'pay';
  const password = 'pw-from-the-secret';
  const nkey = createUser();
  let cluster: TestCluster;
  let operator: ChildProcess;
  let nats: NatsServer;
  const brokers: BrokerProcess[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    [cluster, nats] = await Promise.all([
      startCluster(),
      startNatsServer({
        config: `authorization { users: [ { user: herald, password: "${password}" }, { nkey: ${nkey.getPublicKey()} } ] }`,
      }),
    ]);
    await cluster.createNamespace(ns);
    operator = spawn(process.execPath, [CLI, 'operator', '--image', 'herald:test'], {
      env: { ...process.env, KUBECONFIG: cluster.apiserver.kubeconfigPath, HERALD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }, 180_000);

  afterAll(async () => {
    await Promise.all(brokers.map((b) => b.stop()));
    for (const b of brokers) removeDir(b.dataDir);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    operator?.kill('SIGTERM');
    await Promise.all([cluster?.stop(), nats?.stop()]);
  });

  const create = async (path: string, object: Record<string, unknown>) => {
    const created = await cluster.request('POST', path, object);
    expect(created.status, created.text).toBe(201);
  };

  async function secretData(name: string): Promise<Record<string, string>> {
    const secret = (await cluster.request('GET', `/api/v1/namespaces/${ns}/secrets/${name}`)).body as {
      data: Record<string, string>;
    };
    return Object.fromEntries(
      Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
  }

  /** The kubelet's part: mount the Secrets, resolve secretKeyRef variables, start the container's command. */
  async function runPod(broker: string): Promise<BrokerProcess> {
    const deployment = await cluster.waitFor(
      `/apis/apps/v1/namespaces/${ns}/deployments/herald-broker-${broker}`,
      () => true,
    );
    const pod = (deployment['spec'] as { template: { spec: { containers: Container[]; volumes: Volume[] } } })
      .template.spec;
    const container = pod.containers[0] as Container;
    const configMap = (
      await cluster.request('GET', `/api/v1/namespaces/${ns}/configmaps/herald-broker-${broker}`)
    ).body as { data: Record<string, string> };
    let config = configMap.data['herald.yaml'] as string;
    const root = mkdtempSync(path.join(tmpdir(), 'herald-pod-'));
    dirs.push(root);
    for (const volume of pod.volumes) {
      if (volume.secret === undefined) continue;
      const data = await secretData(volume.secret.secretName);
      const dir = path.join(root, volume.name);
      mkdirSync(dir);
      const items = volume.secret.items ?? Object.keys(data).map((key) => ({ key, path: key }));
      for (const item of items)
        writeFileSync(path.join(dir, item.path), data[item.key] ?? '', { mode: 0o400 });
      const mount = container.volumeMounts.find((m) => m.name === volume.name);
      if (mount !== undefined) config = config.replaceAll(mount.mountPath, dir);
    }
    const env: Record<string, string> = { HERALD_KUBERNETES: 'false' };
    for (const variable of container.env ?? []) {
      const ref = variable.valueFrom.secretKeyRef;
      env[variable.name] = (await secretData(ref.name))[ref.key] ?? '';
    }
    const file = path.join(root, 'herald.yaml');
    writeFileSync(file, config);
    expect(container.args).toEqual(['broker', '--config', '/etc/herald/herald.yaml']);
    const started = await startBroker({ args: ['--config', file], env });
    brokers.push(started);
    return started;
  }

  async function storesAnEvent(broker: BrokerProcess, id: string): Promise<void> {
    await waitReady(broker);
    await publish(broker.url, { id, type: 'com.example.k8s' });
    const log = await requestJson<{ events: Array<{ event: { id: string } }> }>(
      'GET',
      `${broker.adminUrl}/events?from=1`,
    );
    expect(log.body.events.map((e) => e.event.id)).toContain(id);
  }

  it('user and password from the Secret (environment), and an NKey seed from the Secret (file)', async () => {
    await create(`/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'nats-login' },
      stringData: { user: 'herald', password },
    });
    await create(`/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'nats-nkey' },
      stringData: { nkey: new TextDecoder().decode(nkey.getSeed()) },
    });
    for (const [name, secret] of [
      ['login', 'nats-login'],
      ['signed', 'nats-nkey'],
    ] as const) {
      await create(`${GROUP_PATH}/namespaces/${ns}/channels`, {
        apiVersion: 'eventing.herald.dev/v1alpha1',
        kind: 'Channel',
        metadata: { name },
        spec: { type: 'jetstream', jetstream: { url: nats.url, replicas: 1, credentialsSecret: secret } },
      });
      await create(`${GROUP_PATH}/namespaces/${ns}/brokers`, {
        apiVersion: 'eventing.herald.dev/v1alpha1',
        kind: 'Broker',
        metadata: { name },
        spec: { channel: name },
      });
    }
    const login = await runPod('login');
    await storesAnEvent(login, 'k8s-login-1');
    const signed = await runPod('signed');
    await storesAnEvent(signed, 'k8s-nkey-1');
  });
});
