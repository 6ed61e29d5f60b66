import { createHash } from 'node:crypto';
import { stringify as toYaml } from 'yaml';
import { API_VERSION, GROUP } from '../k8s-api/index.js';
import type { Broker, Channel } from '../k8s-api/index.js';

/** Labels on everything the operator creates; the selector of its watches. */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'herald-operator' } as const;
export const BROKER_LABEL = 'eventing.herald.dev/broker';
const HTTP_PORT = 8080;

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

/** The Secret volumes a kafka Channel needs in the broker pod. */
function kafkaSecrets(
  channel: Channel | undefined,
): Array<{ name: string; secret: string; mountPath: string }> {
  const kafka = channel?.spec.type === 'kafka' ? channel.spec.kafka : undefined;
  const volumes: Array<{ name: string; secret: string; mountPath: string }> = [];
  if (kafka?.sasl !== undefined) {
    volumes.push({ name: 'kafka-sasl', secret: kafka.sasl.passwordSecret, mountPath: KAFKA_SASL_DIR });
  }
  if (kafka?.tls?.caSecret !== undefined) {
    volumes.push({ name: 'kafka-ca', secret: kafka.tls.caSecret, mountPath: KAFKA_CA_DIR });
  }
  return volumes;
}

/** The cluster-wide name of a broker's system:auth-delegator binding (namespace-qualified). */
export function authDelegatorBindingName(broker: Broker): string {
  return `herald-broker-${broker.metadata.namespace ?? 'default'}-${broker.metadata.name}-auth-delegator`;
}

/** The broker process's configuration file (the keys are `herald broker` flags). */
export function brokerConfigFile(broker: Broker, channel: Channel | undefined): string {
  const config: Record<string, unknown> = {
    port: HTTP_PORT,
    'broker-name': broker.metadata.name,
    kubernetes: true,
    'data-dir': '/data',
  };
  if (channel?.spec.type === 'jetstream' && channel.spec.jetstream !== undefined) {
    config['store'] = 'jetstream';
    config['nats-url'] = channel.spec.jetstream.url;
  }
  if (channel?.spec.type === 'kafka' && channel.spec.kafka !== undefined) {
    Object.assign(config, kafkaConfig(channel.spec.kafka));
  }
  if (broker.spec.delivery !== undefined) config['delivery-defaults'] = broker.spec.delivery;
  if (broker.spec.auth === 'kubernetes') config['auth'] = 'kubernetes';
  const retention = channel?.spec.retention;
  if (retention?.maxAge !== undefined) config['retention-max-age'] = retention.maxAge;
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
): KubeObject[] {
  const name = childName(broker);
  const namespace = broker.metadata.namespace ?? 'default';
  const distributed = channel !== undefined && channel.spec.type !== 'embedded';
  const configText = brokerConfigFile(broker, channel);
  const configHash = createHash('sha256').update(configText).digest('hex').slice(0, 16);
  const selector = { 'app.kubernetes.io/name': 'herald-broker', [BROKER_LABEL]: broker.metadata.name };
  const podSpec = {
    serviceAccountName: name,
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
        ports: [{ name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' }],
        readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5 },
        livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10 },
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        },
        volumeMounts: [
          { name: 'config', mountPath: '/etc/herald', readOnly: true },
          { name: 'data', mountPath: '/data' },
          ...kafkaSecrets(channel).map(({ name: volume, mountPath }) => ({
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
      ...kafkaSecrets(channel).map(({ name: volume, secret }) => ({
        name: volume,
        secret: { secretName: secret, defaultMode: 0o440 },
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
        // Sink credentials: a Subscription's sinkcredential.secretRef names a Secret (read-only, one by one).
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
