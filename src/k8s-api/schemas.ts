import { z } from 'zod';
import { declaredEventTypeSchema } from '../eventtypes/index.js';
import { policyRuleSchema } from '../auth/index.js';
import { deliverySchema, subscriptionRequestSchema } from '../subscriptions/validate.js';

/** The API group and version of Herald's custom resources. */
export const GROUP = 'eventing.herald.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
  .max(63);
/** A Kubernetes quantity as the broker's requests and limits take them: `250m`, `1.5`, `512Mi`, `2G`. */
const quantity = z.string().regex(/^\d+(\.\d+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/);
const computeResources = z.strictObject({ cpu: quantity.optional(), memory: quantity.optional() });
const duration = z.string().regex(/^P(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?$/);

export const conditionSchema = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
  observedGeneration: z.number().int().optional(),
});

export const brokerSpecSchema = z.object({
  /** A `Channel` in the same namespace; absent = the embedded store on a volume. */
  channel: dnsLabel.optional(),
  /** Broker processes (only with a distributed channel; the embedded store runs one). */
  replicas: z.number().int().min(1).max(100).optional(),
  /** Defaults for the delivery settings of this broker's subscriptions. */
  delivery: deliverySchema.optional(),
  /** Size of the embedded store's volume. */
  storage: z
    .string()
    .regex(/^\d+(Ki|Mi|Gi|Ti)?$/)
    .optional(),
  /**
   * How the broker authenticates requests: `kubernetes` = ServiceAccount tokens (audience `herald`)
   * checked with TokenReviews, authorized by the namespace's EventPolicy resources. Default `none`.
   */
  auth: z.enum(['none', 'kubernetes']).optional(),
  /**
   * The broker container's CPU and memory requests and limits. Absent: requests of 100m CPU and 256Mi
   * memory and no limits (a pod with no requests is the first evicted under memory pressure).
   */
  resources: z
    .strictObject({ requests: computeResources.optional(), limits: computeResources.optional() })
    .optional(),
});

export const brokerStatusSchema = z.object({
  url: z.string().optional(),
  observedGeneration: z.number().int().optional(),
  conditions: z.array(conditionSchema).optional(),
});

export const channelSpecSchema = z.object({
  type: z.enum(['embedded', 'jetstream', 'kafka']),
  jetstream: z
    .object({
      /** NATS server URL(s), comma-separated: nats://host:port, or tls://host:port for TLS only. */
      url: z.string().min(1),
      /** Replicas of the stream and buckets: 1, 3 or 5, at most the JetStream servers in the cluster. */
      replicas: z.literal([1, 3, 5]).optional(),
      /**
       * A Secret in the Channel's namespace holding how the broker authenticates to NATS, one of: a
       * `creds` key (credentials file), an `nkey` key (NKey seed), a `token` key, or `user` and `password`.
       */
      credentialsSecret: dnsLabel.optional(),
      /** TLS to NATS: required whenever this is set. */
      tls: z
        .object({
          /** A Secret with a `ca.crt` key: the CA(s) that sign the NATS server certificates. */
          caSecret: dnsLabel.optional(),
          /** A `kubernetes.io/tls` Secret (`tls.crt`, `tls.key`): the client certificate NATS may require. */
          clientSecret: dnsLabel.optional(),
        })
        .optional(),
    })
    .optional(),
  kafka: z
    .object({
      /** Bootstrap brokers, `host:port` comma-separated. */
      brokers: z.string().min(1),
      /** Replication factor of the topics Herald creates (default 1; 3 on a production cluster). */
      replicationFactor: z.number().int().min(1).max(32).optional(),
      sasl: z
        .object({
          mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
          username: z.string().min(1),
          /** A Secret in the Channel's namespace with a `password` key. */
          passwordSecret: dnsLabel,
        })
        .optional(),
      tls: z
        .object({
          /** A Secret with a `ca.crt` key: the CA(s) that sign the Kafka certificates. */
          caSecret: dnsLabel.optional(),
        })
        .optional(),
    })
    .optional(),
  retention: z
    .object({
      maxAge: duration.optional(),
      maxEvents: z.number().int().min(0).optional(),
      maxBytes: z.number().int().min(0).optional(),
    })
    .optional(),
});

export const channelStatusSchema = z.object({
  observedGeneration: z.number().int().optional(),
  conditions: z.array(conditionSchema).optional(),
});

/** A sink given as a Service reference, resolved to `http://name.namespace.svc.cluster.local:port`. */
export const sinkReferenceSchema = z.object({
  ref: z
    .object({
      kind: z.literal('Service'),
      name: dnsLabel,
      namespace: dnsLabel.optional(),
      port: z.number().int().min(1).max(65535).optional(),
    })
    .optional(),
  uri: z.string().min(1).optional(),
});

/**
 * A Subscription resource's spec: `broker` plus the Subscriptions API fields (the same schema the HTTP
 * API validates, so the two cannot drift), `sink` also as a reference, and the original project's
 * fields as shorthand.
 */
export const subscriptionSpecSchema = subscriptionRequestSchema
  .omit({ id: true, status: true, sink: true, protocol: true })
  .extend({
    broker: dnsLabel,
    sink: z.union([z.string(), sinkReferenceSchema]).optional(),
    protocol: z.literal('HTTP').optional(),
    // The original project's Subscription fields.
    channel: z.string().optional(),
    subject: z.string().min(1).optional(),
    type: z.string().min(1).optional(),
    subscriber: z.array(z.object({ uri: z.string().min(1) })).optional(),
    durable: z.boolean().optional(),
    position: z.number().int().min(-1).optional(),
  });

export const subscriptionStatusSchema = z.object({
  observedGeneration: z.number().int().optional(),
  conditions: z.array(conditionSchema).optional(),
  sinkUri: z.string().optional(),
  state: z.string().optional(),
  cursor: z.number().int().optional(),
  lag: z.number().int().optional(),
  deadLettered: z.number().int().optional(),
});

/**
 * An EventType resource's spec: a declared type (description, JSON Schema, `validation`) of one
 * broker, or one the broker registered because it saw it published (labelled `origin: discovered`).
 */
export const eventTypeSpecSchema = declaredEventTypeSchema.extend({ broker: dnsLabel });

export const eventTypeStatusSchema = z.object({
  firstSeen: z.string().optional(),
  lastSeen: z.string().optional(),
  /** Events of this type accepted by the broker (as counted by the replica that wrote last). */
  count: z.number().int().min(0).optional(),
  observedGeneration: z.number().int().optional(),
  conditions: z.array(conditionSchema).optional(),
});

/**
 * An EventPolicy: who may do what on a broker, in the rules of `--policy` (principals are names or globs,
 * a ServiceAccount is `system:serviceaccount:<namespace>:<name>`). `broker` absent = every broker of the
 * namespace.
 */
export const eventPolicySpecSchema = z.object({
  broker: dnsLabel.optional(),
  rules: z.array(policyRuleSchema).min(1),
});

export const eventPolicyStatusSchema = z.object({
  observedGeneration: z.number().int().optional(),
  conditions: z.array(conditionSchema).optional(),
});

export type Condition = z.infer<typeof conditionSchema>;
export type EventPolicySpec = z.infer<typeof eventPolicySpecSchema>;
export type BrokerSpec = z.infer<typeof brokerSpecSchema>;
export type BrokerStatus = z.infer<typeof brokerStatusSchema>;
export type ChannelSpec = z.infer<typeof channelSpecSchema>;
export type ChannelStatus = z.infer<typeof channelStatusSchema>;
export type SubscriptionSpec = z.infer<typeof subscriptionSpecSchema>;
export type SubscriptionResourceStatus = z.infer<typeof subscriptionStatusSchema>;
export type EventTypeSpec = z.infer<typeof eventTypeSpecSchema>;
export type EventTypeStatus = z.infer<typeof eventTypeStatusSchema>;

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly generation?: number;
  readonly resourceVersion?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  readonly finalizers?: string[];
  readonly deletionTimestamp?: string;
  readonly creationTimestamp?: string;
}

export interface Resource<Spec, Status> {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly spec: Spec;
  readonly status?: Status;
}

export type Broker = Resource<BrokerSpec, BrokerStatus>;
export type Channel = Resource<ChannelSpec, ChannelStatus>;
export type SubscriptionResource = Resource<SubscriptionSpec, SubscriptionResourceStatus>;
export type EventTypeResource = Resource<EventTypeSpec, EventTypeStatus>;
export type EventPolicyResource = Resource<EventPolicySpec, z.infer<typeof eventPolicyStatusSchema>>;

/** The `Ready` condition every Herald resource reports. */
export function readyCondition(
  status: Condition['status'],
  reason: string,
  message: string,
  generation: number | undefined,
): Condition {
  return {
    type: 'Ready',
    status,
    reason,
    message,
    lastTransitionTime: new Date().toISOString(),
    ...(generation === undefined ? {} : { observedGeneration: generation }),
  };
}
