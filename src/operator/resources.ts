import { createHash } from 'node:crypto';
import { stringify as toYaml } from 'yaml';
import { BROKER_OPTIONS, parseDuration } from '../config/index.js';
import { API_VERSION, GROUP } from '../k8s-api/index.js';
import type { Broker, Channel } from '../k8s-api/index.js';

/** Labels on everything the operator creates; the selector of its watches. */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'herald-operator' } as const;
export const BROKER_LABEL = 'eventing.herald.dev/broker';
export const BROKER_NAMESPACE_LABEL = 'eventing.herald.dev/broker-namespace';
const HTTP_PORT = 8080;
/** A broker container's requests when its Broker names none (`spec.resources`). */
const DEFAULT_BROKER_RESOURCES = { requests: { cpu: '100m', memory: '256Mi' } };

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: unknown[];
  };
  [field: string]: unknown;
}

export interface OperatorSettings {
  /** The image broker workloads run (the operator's own image by default). */
  readonly image: string;
  readonly imagePullPolicy: string;
}

/** Names of a broker's children: one place, so creation and clean-up agree. */
export function childName(broker: Broker): string {
  return `herald-broker-${broker.metadata.name}`;
}

function meta(broker: Broker, name: string): KubeObject['metadata'] {
  return {
    name,
    namespace: broker.metadata.namespace ?? 'default',
    labels: {
      ...MANAGED_BY,
      'app.kubernetes.io/name': 'herald-broker',
      [BROKER_LABEL]: broker.metadata.name,
    },
    ownerReferences: [
      {
        apiVersion: API_VERSION,
        kind: 'Broker',
        name: broker.metadata.name,
        uid: broker.metadata.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  };
}

type KafkaChannelSpec = NonNullable<Channel['spec']['kafka']>;

/** Where a kafka Channel's Secrets are mounted in the broker pod. */
const KAFKA_SASL_DIR = '/var/run/herald/kafka-sasl';
const KAFKA_CA_DIR = '/var/run/herald/kafka-ca';
/** Where a jetstream Channel's Secrets are mounted in the broker pod. */
const NATS_CREDENTIALS_DIR = '/var/run/herald/nats-credentials';
const NATS_CA_DIR = '/var/run/herald/nats-ca';
const NATS_CLIENT_DIR = '/var/run/herald/nats-client';

type JetStreamChannelSpec = NonNullable<Channel['spec']['jetstream']>;

/** The `herald broker` settings of a jetstream Channel; secrets are files or variables, never values here. */
function jetstreamConfig(
  jetstream: JetStreamChannelSpec,
  credentials: NatsCredentials | undefined,
): Record<string, unknown> {
  return {
    store: 'jetstream',
    'nats-url': jetstream.url,
    ...(jetstream.replicas === undefined ? {} : { 'stream-replicas': jetstream.replicas }),
    ...(credentials === 'creds' ? { 'nats-creds-file': `${NATS_CREDENTIALS_DIR}/creds` } : {}),
    ...(credentials === 'nkey' ? { 'nats-nkey-seed-file': `${NATS_CREDENTIALS_DIR}/nkey` } : {}),
    ...(jetstream.tls === undefined ? {} : { 'nats-tls': true }),
    ...(jetstream.tls?.caSecret === undefined ? {} : { 'nats-ca': `${NATS_CA_DIR}/ca.crt` }),
    ...(jetstream.tls?.clientSecret === undefined
      ? {}
      : { 'nats-cert': `${NATS_CLIENT_DIR}/tls.crt`, 'nats-key': `${NATS_CLIENT_DIR}/tls.key` }),
  };
}

/** The `herald broker` settings of a kafka Channel; secrets are files, never values in the ConfigMap. */
function kafkaConfig(kafka: KafkaChannelSpec): Record<string, unknown> {
  return {
    store: 'kafka',
    'kafka-brokers': kafka.brokers,
    ...(kafka.replicationFactor === undefined ? {} : { 'kafka-replication-factor': kafka.replicationFactor }),
    ...(kafka.sasl === undefined
      ? {}
      : {
          'kafka-sasl-mechanism': kafka.sasl.mechanism,
          'kafka-sasl-username': kafka.sasl.username,
          'kafka-sasl-password-file': `${KAFKA_SASL_DIR}/password`,
        }),
    ...(kafka.tls === undefined ? {} : { 'kafka-tls': true }),
    ...(kafka.tls?.caSecret === undefined ? {} : { 'kafka-ca': `${KAFKA_CA_DIR}/ca.crt` }),
  };
}

interface SecretVolume {
  readonly name: string;
  readonly secret: string;
  readonly mountPath: string;
  /** Only these keys (each mounted under its own name); all of them when absent. */
  readonly keys?: readonly string[];
}

/** The Secret volumes a Channel needs in the broker pod. */
function channelSecrets(
  channel: Channel | undefined,
  credentials: NatsCredentials | undefined,
): SecretVolume[] {
  const volumes: SecretVolume[] = [];
  const kafka = channel?.spec.type === 'kafka' ? channel.spec.kafka : undefined;
  if (kafka?.sasl !== undefined) {
    volumes.push({ name: 'kafka-sasl', secret: kafka.sasl.passwordSecret, mountPath: KAFKA_SASL_DIR });
  }
  if (kafka?.tls?.caSecret !== undefined) {
    volumes.push({ name: 'kafka-ca', secret: kafka.tls.caSecret, mountPath: KAFKA_CA_DIR });
  }
  const jetstream = channel?.spec.type === 'jetstream' ? channel.spec.jetstream : undefined;
  if (jetstream?.credentialsSecret !== undefined && (credentials === 'creds' || credentials === 'nkey')) {
    volumes.push({
      name: 'nats-credentials',
      secret: jetstream.credentialsSecret,
      mountPath: NATS_CREDENTIALS_DIR,
      keys: [credentials],
    });
  }
  if (jetstream?.tls?.caSecret !== undefined) {
    volumes.push({
      name: 'nats-ca',
      secret: jetstream.tls.caSecret,
      mountPath: NATS_CA_DIR,
      keys: ['ca.crt'],
    });
  }
  if (jetstream?.tls?.clientSecret !== undefined) {
    volumes.push({
      name: 'nats-client',
      secret: jetstream.tls.clientSecret,
      mountPath: NATS_CLIENT_DIR,
      keys: ['tls.crt', 'tls.key'],
    });
  }
  return volumes;
}

/**
 * How a jetstream Channel's `credentialsSecret` authenticates, from the keys the Secret holds: a
 * credentials file (`creds`), an NKey seed (`nkey`), a `token`, or `user` and `password`.
 */
export type NatsCredentials = 'creds' | 'nkey' | 'token' | 'user-password';

/** The kind of credentials a Secret's keys make, or why they make none. */
export function natsCredentialsOf(keys: readonly string[]): NatsCredentials | { problem: string } {
  const has = new Set(keys);
  const kinds: NatsCredentials[] = [];
  if (has.has('creds')) kinds.push('creds');
  if (has.has('nkey')) kinds.push('nkey');
  if (has.has('token')) kinds.push('token');
  if (has.has('user') || has.has('password')) {
    if (!has.has('user') || !has.has('password'))
      return { problem: 'has one of `user` and `password` but not both' };
    kinds.push('user-password');
  }
  if (kinds.length === 0)
    return { problem: 'has none of the keys `creds`, `nkey`, `token`, or `user` and `password`' };
  if (kinds.length > 1)
    return { problem: `has keys for more than one way to authenticate (${kinds.join(', ')}); keep one` };
  return kinds[0] as NatsCredentials;
}

/** Environment variables read from a jetstream Channel's credentials Secret (never written to the ConfigMap). */
function natsCredentialEnv(
  channel: Channel | undefined,
  credentials: NatsCredentials | undefined,
): unknown[] {
  const secret = channel?.spec.type === 'jetstream' ? channel.spec.jetstream?.credentialsSecret : undefined;
  if (secret === undefined) return [];
  const fromSecret = (name: string, key: string) => ({
    name,
    valueFrom: { secretKeyRef: { name: secret, key } },
  });
  if (credentials === 'token') return [fromSecret('HERALD_NATS_TOKEN', 'token')];
  if (credentials === 'user-password') {
    return [fromSecret('HERALD_NATS_USER', 'user'), fromSecret('HERALD_NATS_PASSWORD', 'password')];
  }
  return [];
}

/** The name earlier versions gave a broker's system:auth-delegator binding. */
export function legacyAuthDelegatorBindingName(broker: Broker): string {
  return `herald-broker-${broker.metadata.namespace ?? 'default'}-${broker.metadata.name}-auth-delegator`;
}

/**
 * The cluster-wide name of a broker's system:auth-delegator binding: one per namespace and Broker. Joined
 * with '-', `x-y`/`z` and `x`/`y-z` made the same name: the second Broker's apply took the binding over
 * (the first lost TokenReviews) and deleting either deleted it. A namespace without '-' keeps that name
 * (it ends at the first '-' after the prefix, so the name is unambiguous, and existing bindings stay);
 * others are joined with ':', which neither a namespace nor a Broker name may hold.
 */
export function authDelegatorBindingName(broker: Broker): string {
  const namespace = broker.metadata.namespace ?? 'default';
  return namespace.includes('-')
    ? `herald-broker:${namespace}:${broker.metadata.name}:auth-delegator`
    : legacyAuthDelegatorBindingName(broker);
}

/** `--dedupe-window`'s default, which the broker keeps unless the Channel's age limit is shorter. */
const DEDUPE_WINDOW_MS = parseDuration(
  BROKER_OPTIONS.find((option) => option.name === 'dedupe-window')?.default ?? '',
);

/**
 * The `dedupe-window` a jetstream or kafka Channel's broker runs with, when not the default: at most
 * `retention.maxAge`. `herald broker` refuses an age limit below the window on those stores (an event
 * the limit deleted inside the window would be stored again after a restart), so with the default
 * window a Channel with `maxAge: 1m` would make every pod exit at start.
 */
function dedupeWindowFor(channel: Channel | undefined): string | undefined {
  const maxAge = channel?.spec.retention?.maxAge;
  if (channel === undefined || channel.spec.type === 'embedded' || maxAge === undefined) return undefined;
  const maxAgeMs = parseDuration(maxAge);
  if (maxAgeMs === undefined || maxAgeMs <= 0 || DEDUPE_WINDOW_MS === undefined) return undefined;
  return maxAgeMs < DEDUPE_WINDOW_MS ? maxAge : undefined;
}

/**
 * The broker process's configuration file (the keys are `herald broker` flags). `credentials` is the
 * kind of the jetstream Channel's credentials Secret (the operator reads its key names).
 */
export function brokerConfigFile(
  broker: Broker,
  channel: Channel | undefined,
  credentials?: NatsCredentials,
): string {
  const config: Record<string, unknown> = {
    port: HTTP_PORT,
    'broker-name': broker.metadata.name,
    kubernetes: true,
    'data-dir': '/data',
    // Unready at SIGTERM but serving for 5 s, while the Service's endpoints drop the pod on every node;
    // with --shutdown-timeout's 30 s it stays within terminationGracePeriodSeconds (45).
    'shutdown-delay': '5s',
  };
  if (channel?.spec.type === 'jetstream' && channel.spec.jetstream !== undefined) {
    Object.assign(config, jetstreamConfig(channel.spec.jetstream, credentials));
  }
  if (channel?.spec.type === 'kafka' && channel.spec.kafka !== undefined) {
    Object.assign(config, kafkaConfig(channel.spec.kafka));
  }
  if (broker.spec.delivery !== undefined) config['delivery-defaults'] = broker.spec.delivery;
  if (broker.spec.auth === 'kubernetes') config['auth'] = 'kubernetes';
  const retention = channel?.spec.retention;
  if (retention?.maxAge !== undefined) config['retention-max-age'] = retention.maxAge;
  const dedupeWindow = dedupeWindowFor(channel);
  if (dedupeWindow !== undefined) config['dedupe-window'] = dedupeWindow;
  if (retention?.maxEvents !== undefined) config['retention-max-events'] = retention.maxEvents;
  if (retention?.maxBytes !== undefined) config['retention-max-bytes'] = retention.maxBytes;
  return toYaml(config);
}

/**
 * Every object a Broker owns, in creation order. Pure: the reconciler applies them with server-side
 * apply, so running it again changes nothing and a changed spec rolls out.
 */
export function brokerChildren(
  broker: Broker,
  channel: Channel | undefined,
  settings: OperatorSettings,
  credentials?: NatsCredentials,
): KubeObject[] {
  const name = childName(broker);
  const namespace = broker.metadata.namespace ?? 'default';
  const distributed = channel !== undefined && channel.spec.type !== 'embedded';
  const configText = brokerConfigFile(broker, channel, credentials);
  const secrets = channelSecrets(channel, credentials);
  const env = natsCredentialEnv(channel, credentials);
  const configHash = createHash('sha256').update(configText).digest('hex').slice(0, 16);
  const selector = { 'app.kubernetes.io/name': 'herald-broker', [BROKER_LABEL]: broker.metadata.name };
  const podSpec = {
    serviceAccountName: name,
    // Replicas on one node all go when it does: spread them over nodes where there are several, but
    // ScheduleAnyway, so a one-node cluster (or a full one) still runs every replica.
    topologySpreadConstraints: [
      {
        maxSkew: 1,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: selector },
      },
    ],
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 10001,
      fsGroup: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    terminationGracePeriodSeconds: 45,
    containers: [
      {
        name: 'broker',
        image: settings.image,
        imagePullPolicy: settings.imagePullPolicy,
        args: ['broker', '--config', '/etc/herald/herald.yaml'],
        ...(env.length === 0 ? {} : { env }),
        ports: [{ name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' }],
        readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
        // The broker listens only once its store is open, and the embedded store first indexes what a crash
        // left unindexed: liveness alone (3 failures 10 s apart) killed a recovery longer than ~30 s and
        // started it again from the beginning, for ever. Liveness waits until /healthz has answered once,
        // for up to 10 minutes.
        startupProbe: {
          httpGet: { path: '/healthz', port: 'http' },
          periodSeconds: 10,
          timeoutSeconds: 5,
          failureThreshold: 60,
        },
        // /healthz is answered on the event loop, which a group commit's in-place fdatasync holds on a slow
        // disk: a restart does not make the disk faster and cuts every delivery in flight, so only a
        // minute without an answer (not three 1 s timeouts) counts as hung.
        livenessProbe: {
          httpGet: { path: '/healthz', port: 'http' },
          periodSeconds: 10,
          timeoutSeconds: 5,
          failureThreshold: 6,
        },
        // Requests, so the scheduler places the pod where it fits and the kubelet does not evict it first
        // (a pod without any is BestEffort); no default limit: a memory limit kills a broker mid-burst.
        resources: broker.spec.resources ?? DEFAULT_BROKER_RESOURCES,
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        },
        volumeMounts: [
          { name: 'config', mountPath: '/etc/herald', readOnly: true },
          { name: 'data', mountPath: '/data' },
          ...secrets.map(({ name: volume, mountPath }) => ({
            name: volume,
            mountPath,
            readOnly: true,
          })),
        ],
      },
    ],
    volumes: [
      { name: 'config', configMap: { name } },
      ...(distributed ? [{ name: 'data', emptyDir: {} }] : []),
      ...secrets.map(({ name: volume, secret, keys }) => ({
        name: volume,
        secret: {
          secretName: secret,
          defaultMode: 0o440,
          ...(keys === undefined ? {} : { items: keys.map((key) => ({ key, path: key })) }),
        },
      })),
    ],
  };
  const template = {
    metadata: {
      labels: { ...MANAGED_BY, ...selector },
      annotations: { 'eventing.herald.dev/config-hash': configHash },
    },
    spec: podSpec,
  };
  const workload: KubeObject = distributed
    ? {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta(broker, name),
        spec: { replicas: broker.spec.replicas ?? 1, selector: { matchLabels: selector }, template },
      }
    : {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: meta(broker, name),
        spec: {
          // The embedded store is one SQLite file: exactly one process may own it.
          replicas: 1,
          serviceName: broker.metadata.name,
          selector: { matchLabels: selector },
          template,
          volumeClaimTemplates: [
            {
              metadata: { name: 'data' },
              spec: {
                accessModes: ['ReadWriteOnce'],
                resources: { requests: { storage: broker.spec.storage ?? '1Gi' } },
              },
            },
          ],
        },
      };
  return [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: meta(broker, name),
      automountServiceAccountToken: true,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(broker, name),
      // Least privilege: a broker reads and manages Subscriptions and EventTypes, writes their status, and
      // reads the Secrets their sink credentials name; nothing else.
      rules: [
        {
          apiGroups: [GROUP],
          resources: ['subscriptions'],
          verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'],
        },
        { apiGroups: [GROUP], resources: ['subscriptions/status'], verbs: ['get', 'patch'] },
        // Sink credentials: a Subscription's sinkcredential.secretRef names a Secret (read-only, one by one;
        // RBAC cannot narrow get by label, so the broker itself reads only those labelled sink-credential).
        { apiGroups: [''], resources: ['secrets'], verbs: ['get'] },
        // The event type registry: EventType resources owned by the Broker (read to set the owner).
        { apiGroups: [GROUP], resources: ['eventtypes'], verbs: ['get', 'list', 'watch', 'create'] },
        { apiGroups: [GROUP], resources: ['eventtypes/status'], verbs: ['get', 'patch'] },
        { apiGroups: [GROUP], resources: ['brokers'], verbs: ['get'], resourceNames: [broker.metadata.name] },
        // EventPolicy resources are the broker's authorization rules; it reports on them.
        { apiGroups: [GROUP], resources: ['eventpolicies'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [GROUP], resources: ['eventpolicies/status'], verbs: ['get', 'patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(broker, name),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
    {
      // TokenReviews (to authenticate ServiceAccount tokens) are cluster-scoped: the built-in
      // system:auth-delegator role grants exactly tokenreviews and subjectaccessreviews create.
      // Cluster-scoped, so no owner reference: the operator deletes it with the Broker.
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: {
        name: authDelegatorBindingName(broker),
        labels: {
          ...MANAGED_BY,
          'app.kubernetes.io/name': 'herald-broker',
          [BROKER_LABEL]: broker.metadata.name,
          // Cluster-scoped: the Broker's name alone does not say whose binding it is.
          [BROKER_NAMESPACE_LABEL]: namespace,
        },
      },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta(broker, name),
      data: { 'herald.yaml': configText },
    },
    workload,
    {
      // Without a budget, `kubectl drain` (a node upgrade) evicted every replica at once and the broker
      // answered nothing until they were rescheduled; one at a time, the others keep serving. With one
      // replica (the embedded store) it still lets a drain proceed.
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: meta(broker, name),
      spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(broker, broker.metadata.name),
      spec: {
        type: 'ClusterIP',
        selector,
        // Named `http` so Istio treats the traffic as HTTP and can route on ce-* headers.
        ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' }],
      },
    },
  ];
}

/** The workload kind a broker does NOT use, to delete after a channel change. */
export function otherWorkloadKind(channel: Channel | undefined): 'Deployment' | 'StatefulSet' {
  return channel !== undefined && channel.spec.type !== 'embedded' ? 'StatefulSet' : 'Deployment';
}

export function brokerUrl(broker: Broker): string {
  return `http://${broker.metadata.name}.${broker.metadata.namespace ?? 'default'}.svc.cluster.local`;
}
