import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrokerConfig } from '../../src/config/index.js';
import { CLI } from '../harness/processes.js';
import type { TestCluster } from './cluster.js';
import { GROUP_PATH, startCluster } from './cluster.js';

interface Obj {
  metadata: {
    name: string;
    resourceVersion: string;
    generation?: number;
    ownerReferences?: Array<{ kind: string; name: string; controller: boolean }>;
    finalizers?: string[];
    annotations?: Record<string, string>;
  };
  spec?: Record<string, unknown>;
  status?: {
    url?: string;
    observedGeneration?: number;
    conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
  };
  data?: Record<string, string>;
  rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
}

/** The operator's config hash: the first 16 hex digits of the SHA-256 of the broker's herald.yaml. */
const configHash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);
const templateHash = (workload: Record<string, unknown>) =>
  (workload['spec'] as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata
    .annotations['eventing.herald.dev/config-hash'];

describe('herald operator against a real API server', () => {
  let cluster: TestCluster;
  let operator: ChildProcess;
  const ns = 'shop';
  const brokers = `${GROUP_PATH}/namespaces/${ns}/brokers`;
  const ready = (body: Record<string, unknown>) =>
    ((body as unknown as Obj).status?.conditions ?? []).find((c) => c.type === 'Ready');
  const get = async (path: string) => (await cluster.request('GET', path)).body as Obj;

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.createNamespace(ns);
    operator = spawn(process.execPath, [CLI, 'operator', '--image', 'herald:test'], {
      env: { ...process.env, KUBECONFIG: cluster.apiserver.kubeconfigPath, HERALD_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }, 180_000);
  afterAll(async () => {
    operator?.kill('SIGTERM');
    await cluster?.stop();
  });

  it('creates what a Broker needs, owned by it, and reports its URL and readiness', async () => {
    const created = await cluster.request('POST', brokers, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name: 'orders' },
      spec: {},
    });
    expect(created.status, created.text).toBe(201);
    const status = await cluster.waitFor(`${brokers}/orders`, (b) => ready(b)?.reason === 'WorkloadNotReady');
    expect((status as unknown as Obj).status).toMatchObject({
      url: 'http://orders.shop.svc.cluster.local',
      observedGeneration: 1,
    });
    expect((status as unknown as Obj).metadata.finalizers).toContain('eventing.herald.dev/cleanup');

    const statefulSet = await get(`/apis/apps/v1/namespaces/${ns}/statefulsets/herald-broker-orders`);
    expect(statefulSet.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Broker', name: 'orders', controller: true }),
    ]);
    expect(statefulSet.spec).toMatchObject({ replicas: 1, serviceName: 'orders' });
    const container = (
      statefulSet.spec as {
        template: {
          spec: { containers: Array<{ image: string; args: string[] }>; serviceAccountName: string };
        };
      }
    ).template.spec;
    expect(container.containers[0]).toMatchObject({
      image: 'herald:test',
      args: ['broker', '--config', '/etc/herald/herald.yaml'],
    });
    expect(container.serviceAccountName).toBe('herald-broker-orders');

    const service = await get(`/api/v1/namespaces/${ns}/services/orders`);
    expect((service.spec as { ports: Array<{ name: string; port: number }> }).ports).toEqual([
      expect.objectContaining({ name: 'http', port: 80 }),
    ]);
    expect((service.spec as { type: string }).type).toBe('ClusterIP');
    const config = await get(`/api/v1/namespaces/${ns}/configmaps/herald-broker-orders`);
    expect(config.data?.['herald.yaml']).toContain('broker-name: orders');
    expect(config.data?.['herald.yaml']).toContain('kubernetes: true');
    const role = await get(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/herald-broker-orders`);
    expect(role.rules).toEqual([
      {
        apiGroups: ['eventing.herald.dev'],
        resources: ['subscriptions'],
        verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
      },
      { apiGroups: ['eventing.herald.dev'], resources: ['subscriptions/status'], verbs: ['get', 'patch'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
      {
        apiGroups: ['eventing.herald.dev'],
        resources: ['eventtypes'],
        verbs: ['get', 'list', 'watch', 'create'],
      },
      { apiGroups: ['eventing.herald.dev'], resources: ['eventtypes/status'], verbs: ['get', 'patch'] },
      {
        apiGroups: ['eventing.herald.dev'],
        resources: ['brokers'],
        verbs: ['get'],
        resourceNames: ['orders'],
      },
      { apiGroups: ['eventing.herald.dev'], resources: ['eventpolicies'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['eventing.herald.dev'], resources: ['eventpolicies/status'], verbs: ['get', 'patch'] },
    ]);
    expect(
      (
        await cluster.request(
          'GET',
          `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/herald-broker-orders`,
        )
      ).status,
    ).toBe(200);
    expect(
      (await cluster.request('GET', `/api/v1/namespaces/${ns}/serviceaccounts/herald-broker-orders`)).status,
    ).toBe(200);

    // There is no StatefulSet controller here: report a ready pod as it would.
    const patched = await cluster.request(
      'PATCH',
      `/apis/apps/v1/namespaces/${ns}/statefulsets/herald-broker-orders/status`,
      { status: { replicas: 1, readyReplicas: 1, availableReplicas: 1 } },
      'application/merge-patch+json',
    );
    expect(patched.status, patched.text).toBe(200);
    const readyBroker = await cluster.waitFor(`${brokers}/orders`, (b) => ready(b)?.status === 'True');
    expect(ready(readyBroker)?.reason).toBe('Ready');
  });

  it('reconciles idempotently: a no-op pass changes nothing', async () => {
    const before = await get(`/apis/apps/v1/namespaces/${ns}/statefulsets/herald-broker-orders`);
    // A metadata-only change makes the operator reconcile without changing the desired state.
    await cluster.request(
      'PATCH',
      `${brokers}/orders`,
      { metadata: { annotations: { touched: 'yes' } } },
      'application/merge-patch+json',
    );
    // Proof that the operator is alive and has handled that change: a Broker created after it gets its
    // status (a dead or stuck operator fails here instead of passing on an unchanged object).
    const probe = await cluster.request('POST', brokers, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name: 'idempotence-probe' },
      spec: {},
    });
    expect(probe.status, probe.text).toBe(201);
    await cluster.waitFor(`${brokers}/idempotence-probe`, (b) => ready(b) !== undefined);
    expect(operator.exitCode).toBeNull();
    const after = await get(`/apis/apps/v1/namespaces/${ns}/statefulsets/herald-broker-orders`);
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    expect((await cluster.request('DELETE', `${brokers}/idempotence-probe`)).status).toBe(200);
  });

  it('reports a missing Channel as a condition and an Event', async () => {
    await cluster.request('POST', brokers, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name: 'lonely' },
      spec: { channel: 'missing' },
    });
    const status = await cluster.waitFor(`${brokers}/lonely`, (b) => ready(b)?.reason === 'ChannelNotFound');
    expect(ready(status)?.message).toContain("Channel 'missing' does not exist");
    const events = await cluster.waitFor(`/api/v1/namespaces/${ns}/events`, (body) =>
      ((body['items'] as Array<{ reason: string; involvedObject: { name: string } }>) ?? []).some(
        (e) => e.reason === 'ChannelNotFound' && e.involvedObject.name === 'lonely',
      ),
    );
    expect(events).toBeDefined();
    expect(
      (await cluster.request('GET', `/apis/apps/v1/namespaces/${ns}/statefulsets/herald-broker-lonely`))
        .status,
    ).toBe(404);
  });

  it('rolls out a change: a JetStream channel with replicas becomes a Deployment', async () => {
    await cluster.request('POST', `${GROUP_PATH}/namespaces/${ns}/channels`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Channel',
      metadata: { name: 'js' },
      spec: { type: 'jetstream', jetstream: { url: 'nats://nats.shop:4222' }, retention: { maxAge: 'P7D' } },
    });
    await cluster.waitFor(`${GROUP_PATH}/namespaces/${ns}/channels/js`, (b) => ready(b)?.status === 'True');
    const before = await get(`/api/v1/namespaces/${ns}/configmaps/herald-broker-orders`);
    await cluster.request(
      'PATCH',
      `${brokers}/orders`,
      { spec: { channel: 'js', replicas: 2, delivery: { retry: 4 } } },
      'application/merge-patch+json',
    );
    const deployment = await cluster.waitFor(
      `/apis/apps/v1/namespaces/${ns}/deployments/herald-broker-orders`,
      () => true,
    );
    expect((deployment['spec'] as { replicas: number }).replicas).toBe(2);
    const hash = templateHash(deployment);
    const config = await get(`/api/v1/namespaces/${ns}/configmaps/herald-broker-orders`);
    // The pod template carries the hash of the very configuration it runs with.
    expect(hash).toBe(configHash(config.data?.['herald.yaml'] ?? ''));
    expect(config.data?.['herald.yaml']).toContain('store: jetstream');
    expect(config.data?.['herald.yaml']).toContain('nats-url: nats://nats.shop:4222');
    // The Broker's delivery settings become its subscriptions' defaults.
    expect(config.data?.['herald.yaml']).toMatch(/delivery-defaults:\n\s+retry: 4/);
    expect(config.data?.['herald.yaml']).not.toBe(before.data?.['herald.yaml']);
    await cluster.waitFor(
      `/apis/apps/v1/namespaces/${ns}/statefulsets`,
      (body) => (body['items'] as unknown[]).length === 0,
    );
    const broker = await cluster.waitFor(
      `${brokers}/orders`,
      (b) => (b as unknown as Obj).status?.observedGeneration === 2,
    );
    expect(ready(broker)?.reason).toBe('WorkloadNotReady');
    // Scaling: a changed spec.replicas changes the workload.
    await cluster.request(
      'PATCH',
      `${brokers}/orders`,
      { spec: { replicas: 3 } },
      'application/merge-patch+json',
    );
    await cluster.waitFor(
      `/apis/apps/v1/namespaces/${ns}/deployments/herald-broker-orders`,
      (d) => (d['spec'] as { replicas: number }).replicas === 3,
    );
    // A configuration change changes the template's hash, so the pods roll onto the new configuration.
    await cluster.request(
      'PATCH',
      `${brokers}/orders`,
      { spec: { delivery: { retry: 5 } } },
      'application/merge-patch+json',
    );
    const rolled = await cluster.waitFor(
      `/apis/apps/v1/namespaces/${ns}/deployments/herald-broker-orders`,
      (d) => templateHash(d) !== hash,
    );
    const changed = await get(`/api/v1/namespaces/${ns}/configmaps/herald-broker-orders`);
    expect(changed.data?.['herald.yaml']).toMatch(/delivery-defaults:\n\s+retry: 5/);
    expect(templateHash(rolled)).toBe(configHash(changed.data?.['herald.yaml'] ?? ''));
  });

  it('turns a kafka Channel into the store settings of its brokers, secrets mounted as files', async () => {
    await cluster.request('POST', `${GROUP_PATH}/namespaces/${ns}/channels`, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Channel',
      metadata: { name: 'kafka' },
      spec: {
        type: 'kafka',
        kafka: {
          brokers: 'kafka-0.kafka:9093,kafka-1.kafka:9093',
          replicationFactor: 3,
          sasl: { mechanism: 'scram-sha-512', username: 'herald', passwordSecret: 'kafka-password' },
          tls: { caSecret: 'kafka-ca' },
        },
      },
    });
    const channel = await cluster.waitFor(
      `${GROUP_PATH}/namespaces/${ns}/channels/kafka`,
      (b) => ready(b)?.status === 'True',
    );
    expect(ready(channel)?.message).toBe('kafka channel');
    const created = await cluster.request('POST', brokers, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name: 'ledger' },
      spec: { channel: 'kafka', replicas: 2 },
    });
    expect(created.status, created.text).toBe(201);
    const deployment = await cluster.waitFor(
      `/apis/apps/v1/namespaces/${ns}/deployments/herald-broker-ledger`,
      () => true,
    );
    const config = (await get(`/api/v1/namespaces/${ns}/configmaps/herald-broker-ledger`)).data?.[
      'herald.yaml'
    ];
    expect(config).toContain('store: kafka');
    expect(config).toContain('kafka-brokers: kafka-0.kafka:9093,kafka-1.kafka:9093');
    expect(config).toContain('kafka-replication-factor: 3');
    expect(config).toContain('kafka-sasl-mechanism: scram-sha-512');
    expect(config).toContain('kafka-sasl-username: herald');
    expect(config).toContain('kafka-sasl-password-file: /var/run/herald/kafka-sasl/password');
    expect(config).toContain('kafka-tls: true');
    expect(config).toContain('kafka-ca: /var/run/herald/kafka-ca/ca.crt');
    const pod = (
      deployment['spec'] as {
        replicas: number;
        template: {
          spec: {
            volumes: Array<{ name: string; secret?: { secretName: string } }>;
            containers: Array<{
              volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
            }>;
          };
        };
      }
    ).template.spec;
    expect(pod.volumes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          name: 'kafka-sasl',
          secret: expect.objectContaining({ secretName: 'kafka-password' }),
        }),
        expect.objectContaining({
          name: 'kafka-ca',
          secret: expect.objectContaining({ secretName: 'kafka-ca' }),
        }),
      ]),
    );
    expect(pod.containers[0]?.volumeMounts).toEqual(
      expect.arrayContaining([
        { name: 'kafka-sasl', mountPath: '/var/run/herald/kafka-sasl', readOnly: true },
        { name: 'kafka-ca', mountPath: '/var/run/herald/kafka-ca', readOnly: true },
      ]),
    );
    expect((deployment['spec'] as { replicas: number }).replicas).toBe(2);
    expect((await cluster.request('DELETE', `${brokers}/ledger`)).status).toBe(200);
  });

  it('turns a jetstream Channel into the store settings of its brokers: replicas, credentials, TLS', async () => {
    const channels = `${GROUP_PATH}/namespaces/${ns}/channels`;
    const secret = (name: string, data: Record<string, string>, type = 'Opaque') =>
      cluster.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name },
        type,
        stringData: data,
      });
    expect((await secret('nats-login', { user: 'herald', password: 'pw-never-in-configmap' })).status).toBe(
      201,
    );
    expect((await secret('nats-ca', { 'ca.crt': 'CA' })).status).toBe(201);
    expect(
      (await secret('nats-client', { 'tls.crt': 'CERT', 'tls.key': 'KEY' }, 'kubernetes.io/tls')).status,
    ).toBe(201);
    const channel = await cluster.request('POST', channels, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Channel',
      metadata: { name: 'js3' },
      spec: {
        type: 'jetstream',
        jetstream: {
          url: 'nats://nats.nats:4222',
          replicas: 3,
          credentialsSecret: 'nats-login',
          tls: { caSecret: 'nats-ca', clientSecret: 'nats-client' },
        },
      },
    });
    expect(channel.status, channel.text).toBe(201);
    const created = await cluster.request('POST', brokers, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name: 'payments' },
      spec: { channel: 'js3', replicas: 3 },
    });
    expect(created.status, created.text).toBe(201);
    const deployment = await cluster.waitFor(
      `/apis/apps/v1/namespaces/${ns}/deployments/herald-broker-payments`,
      () => true,
    );
    const text = (await get(`/api/v1/namespaces/${ns}/configmaps/herald-broker-payments`)).data?.[
      'herald.yaml'
    ];
    expect(text).toContain('stream-replicas: 3');
    expect(text).toContain('nats-tls: true');
    expect(text).toContain('nats-ca: /var/run/herald/nats-ca/ca.crt');
    expect(text).toContain('nats-cert: /var/run/herald/nats-client/tls.crt');
    expect(text).toContain('nats-key: /var/run/herald/nats-client/tls.key');
    expect(text).not.toContain('pw-never-in-configmap');
    // The file is a valid `herald broker --config`: every key is a real option, and replicas arrive.
    const configFile = path.join(mkdtempSync(path.join(tmpdir(), 'herald-operator-')), 'herald.yaml');
    writeFileSync(configFile, text ?? '');
    const loaded = loadBrokerConfig(['--config', configFile], {
      HERALD_NATS_USER: 'herald',
      HERALD_NATS_PASSWORD: 'pw',
    });
    expect(loaded.streamReplicas).toBe(3);
    expect(loaded.nats.user).toEqual({ name: 'herald', password: 'pw' });
    expect(loaded.nats.tls).toEqual({
      ca: '/var/run/herald/nats-ca/ca.crt',
      cert: '/var/run/herald/nats-client/tls.crt',
      key: '/var/run/herald/nats-client/tls.key',
    });
    rmSync(path.dirname(configFile), { recursive: true, force: true });
    const pod = (
      deployment['spec'] as {
        template: {
          spec: {
            volumes: Array<{ name: string; secret?: { secretName: string; items?: unknown[] } }>;
            containers: Array<{
              env?: Array<{ name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
              volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
            }>;
          };
        };
      }
    ).template.spec;
    // User and password come from the Secret as environment variables, never through the ConfigMap.
    expect(pod.containers[0]?.env).toEqual([
      { name: 'HERALD_NATS_USER', valueFrom: { secretKeyRef: { name: 'nats-login', key: 'user' } } },
      { name: 'HERALD_NATS_PASSWORD', valueFrom: { secretKeyRef: { name: 'nats-login', key: 'password' } } },
    ]);
    expect(pod.volumes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          name: 'nats-ca',
          secret: expect.objectContaining({
            secretName: 'nats-ca',
            items: [{ key: 'ca.crt', path: 'ca.crt' }],
          }),
        }),
        expect.objectContaining({
          name: 'nats-client',
          secret: expect.objectContaining({ secretName: 'nats-client' }),
        }),
      ]),
    );
    expect(pod.containers[0]?.volumeMounts).toEqual(
      expect.arrayContaining([
        { name: 'nats-ca', mountPath: '/var/run/herald/nats-ca', readOnly: true },
        { name: 'nats-client', mountPath: '/var/run/herald/nats-client', readOnly: true },
      ]),
    );

    // A credentials file: mounted, and named by --nats-creds-file.
    expect((await secret('nats-creds', { creds: '-----BEGIN NATS USER JWT-----' })).status).toBe(201);
    await cluster.request('POST', channels, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Channel',
      metadata: { name: 'js-creds' },
      spec: {
        type: 'jetstream',
        jetstream: { url: 'nats://nats.nats:4222', credentialsSecret: 'nats-creds' },
      },
    });
    await cluster.request('POST', brokers, {
      apiVersion: 'eventing.herald.dev/v1alpha1',
      kind: 'Broker',
      metadata: { name: 'audit' },
      spec: { channel: 'js-creds' },
    });
    const auditDeployment = await cluster.waitFor(
      `/apis/apps/v1/namespaces/${ns}/deployments/herald-broker-audit`,
      () => true,
    );
    const auditConfig = (await get(`/api/v1/namespaces/${ns}/configmaps/herald-broker-audit`)).data?.[
      'herald.yaml'
    ];
    expect(auditConfig).toContain('nats-creds-file: /var/run/herald/nats-credentials/creds');
    expect(auditConfig).not.toContain('stream-replicas');
    expect(JSON.stringify(auditDeployment)).toContain('"secretName":"nats-creds"');

    // A Secret that is missing, or whose keys say nothing usable: the Broker says so.
    await cluster.request(
      'PATCH',
      `${channels}/js-creds`,
      { spec: { jetstream: { credentialsSecret: 'nats-nothing' } } },
      'application/merge-patch+json',
    );
    const missing = await cluster.waitFor(
      `${brokers}/audit`,
      (b) => ready(b)?.reason === 'CredentialsSecretNotFound',
    );
    expect(ready(missing)?.message).toContain("Secret 'nats-nothing'");
    expect((await secret('nats-half', { user: 'herald' })).status).toBe(201);
    await cluster.request(
      'PATCH',
      `${channels}/js-creds`,
      { spec: { jetstream: { credentialsSecret: 'nats-half' } } },
      'application/merge-patch+json',
    );
    const invalid = await cluster.waitFor(
      `${brokers}/audit`,
      (b) => ready(b)?.reason === 'CredentialsSecretInvalid',
    );
    expect(ready(invalid)?.message).toContain('`user` and `password`');

    // spec.storage sizes the embedded store's volume only: with a jetstream Channel it is refused.
    await cluster.request(
      'PATCH',
      `${brokers}/payments`,
      { spec: { storage: '5Gi' } },
      'application/merge-patch+json',
    );
    await cluster.waitFor(`${brokers}/payments`, (b) => ready(b)?.reason === 'StorageNeedsEmbeddedChannel');

    // The API server refuses replicas other than 1, 3 or 5, and settings of another channel type.
    const refused = async (spec: Record<string, unknown>) =>
      (
        await cluster.request('POST', channels, {
          apiVersion: 'eventing.herald.dev/v1alpha1',
          kind: 'Channel',
          metadata: { name: 'refused' },
          spec,
        })
      ).status;
    expect(await refused({ type: 'jetstream', jetstream: { url: 'nats://n:4222', replicas: 2 } })).toBe(422);
    expect(await refused({ type: 'jetstream', jetstream: { url: 'nats://n:4222', replicas: 4 } })).toBe(422);
    expect(
      await refused({ type: 'kafka', kafka: { brokers: 'k:9092' }, jetstream: { url: 'nats://n:4222' } }),
    ).toBe(422);
    expect(await refused({ type: 'embedded', jetstream: { url: 'nats://n:4222' } })).toBe(422);
    for (const name of ['payments', 'audit'])
      expect((await cluster.request('DELETE', `${brokers}/${name}`)).status).toBe(200);
  });

  it('deletes what a Broker owns when the Broker is deleted', async () => {
    expect((await cluster.request('DELETE', `${brokers}/orders`)).status).toBe(200);
    await cluster.waitFor(
      `${brokers}`,
      (body) => !(body['items'] as Obj[]).some((b) => b.metadata.name === 'orders'),
    );
    for (const path of [
      `/apis/apps/v1/namespaces/${ns}/deployments/herald-broker-orders`,
      `/api/v1/namespaces/${ns}/services/orders`,
      `/api/v1/namespaces/${ns}/configmaps/herald-broker-orders`,
      `/api/v1/namespaces/${ns}/serviceaccounts/herald-broker-orders`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/herald-broker-orders`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/herald-broker-orders`,
    ]) {
      expect((await cluster.request('GET', path)).status, path).toBe(404);
    }
  });
});
