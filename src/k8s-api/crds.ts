import { z } from 'zod';
import type { ZodType } from 'zod';
import {
  GROUP,
  VERSION,
  brokerSpecSchema,
  brokerStatusSchema,
  channelSpecSchema,
  channelStatusSchema,
  eventTypeSpecSchema,
  eventTypeStatusSchema,
  eventPolicySpecSchema,
  eventPolicyStatusSchema,
  subscriptionSpecSchema,
  subscriptionStatusSchema,
} from './schemas.js';

type JsonSchema = Record<string, unknown>;

/**
 * Turns a JSON Schema produced from a zod schema into a Kubernetes structural schema: every node typed,
 * no `additionalProperties: false` (the API server prunes unknown fields instead), and nodes that are
 * one of several types (or anything at all) preserved as they are, for Herald to validate.
 */
export function toStructural(node: JsonSchema): JsonSchema {
  if (Array.isArray(node['anyOf']) || Array.isArray(node['oneOf']) || node['type'] === undefined) {
    const variants = (node['anyOf'] ?? node['oneOf'] ?? []) as JsonSchema[];
    const types = new Set(variants.map((v) => v['type']));
    if (variants.length > 0 && types.size === 1 && types.has('string')) {
      return {
        type: 'string',
        ...(node['description'] === undefined ? {} : { description: node['description'] }),
      };
    }
    return { 'x-kubernetes-preserve-unknown-fields': true };
  }
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'additionalProperties') {
      if (typeof value === 'object' && value !== null) out[key] = toStructural(value as JsonSchema);
      continue;
    }
    if (key === '$schema' || key === 'pattern') continue;
    if ((key === 'maximum' || key === 'minimum') && Math.abs(value as number) > 2 ** 31) continue;
    if (key === 'properties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Record<string, JsonSchema>).map(([name, child]) => [
          name,
          toStructural(child),
        ]),
      );
    } else if (key === 'items') {
      const items = value as JsonSchema;
      out[key] =
        Object.keys(items).length === 0
          ? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }
          : toStructural(items);
    } else {
      out[key] = value;
    }
  }
  // Kubernetes treats a map (additionalProperties) and fixed properties as exclusive.
  if (out['additionalProperties'] !== undefined) delete out['properties'];
  return out;
}

function schemaOf(type: ZodType): JsonSchema {
  return toStructural(
    z.toJSONSchema(type, { target: 'openapi-3.0', unrepresentable: 'any', io: 'input' }) as JsonSchema,
  );
}

interface CrdInput {
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly spec: ZodType;
  readonly status: ZodType;
  readonly columns: ReadonlyArray<{ name: string; type: string; jsonPath: string }>;
  /** CEL rules on the spec: the API server rejects these before any controller sees the object. */
  readonly rules?: ReadonlyArray<{ rule: string; message: string }>;
}

function crd(input: CrdInput): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${input.plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'herald' } },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: input.kind,
        listKind: `${input.kind}List`,
        plural: input.plural,
        singular: input.singular,
        shortNames: [...input.shortNames],
        categories: ['herald', 'eventing'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            ...input.columns,
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: {
                  ...schemaOf(input.spec),
                  ...(input.rules === undefined ? {} : { 'x-kubernetes-validations': [...input.rules] }),
                },
                status: schemaOf(input.status),
              },
            },
          },
        },
      ],
    },
  };
}

const READY = '.status.conditions[?(@.type=="Ready")].status';

/** Herald's CustomResourceDefinitions, generated from the zod schemas the code validates with. */
export function customResourceDefinitions(): Record<string, unknown>[] {
  const brokerCrd = crd({
    kind: 'Broker',
    plural: 'brokers',
    singular: 'broker',
    shortNames: ['hbroker'],
    spec: brokerSpecSchema,
    status: brokerStatusSchema,
    columns: [
      { name: 'Ready', type: 'string', jsonPath: READY },
      { name: 'URL', type: 'string', jsonPath: '.status.url' },
      { name: 'Channel', type: 'string', jsonPath: '.spec.channel' },
    ],
  });
  const channelCrd = crd({
    kind: 'Channel',
    plural: 'channels',
    singular: 'channel',
    shortNames: ['hchannel'],
    spec: channelSpecSchema,
    status: channelStatusSchema,
    columns: [
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'Ready', type: 'string', jsonPath: READY },
    ],
    rules: [
      {
        rule: "self.type != 'jetstream' || has(self.jetstream)",
        message: 'a jetstream Channel needs spec.jetstream.url',
      },
      {
        rule: "self.type != 'kafka' || has(self.kafka)",
        message: 'a kafka Channel needs spec.kafka.brokers',
      },
      {
        rule: "self.type == 'jetstream' || !has(self.jetstream)",
        message: 'spec.jetstream is only for a jetstream Channel',
      },
      {
        rule: "self.type == 'kafka' || !has(self.kafka)",
        message: 'spec.kafka is only for a kafka Channel',
      },
    ],
  });
  const subscriptionCrd = crd({
    kind: 'Subscription',
    plural: 'subscriptions',
    singular: 'subscription',
    shortNames: ['hsub'],
    spec: subscriptionSpecSchema,
    status: subscriptionStatusSchema,
    columns: [
      { name: 'Broker', type: 'string', jsonPath: '.spec.broker' },
      { name: 'Sink', type: 'string', jsonPath: '.status.sinkUri' },
      { name: 'Ready', type: 'string', jsonPath: READY },
      { name: 'Lag', type: 'integer', jsonPath: '.status.lag' },
    ],
    // No CEL rule for "sink or subscriber": CEL cannot see `sink`, which is a string or an object and so
    // left untyped; the broker reports a missing sink as the Ready condition instead.
  });
  const eventTypeCrd = crd({
    kind: 'EventType',
    plural: 'eventtypes',
    singular: 'eventtype',
    shortNames: ['heventtype'],
    spec: eventTypeSpecSchema,
    status: eventTypeStatusSchema,
    columns: [
      { name: 'Broker', type: 'string', jsonPath: '.spec.broker' },
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'Source', type: 'string', jsonPath: '.spec.source' },
      { name: 'Validation', type: 'string', jsonPath: '.spec.validation' },
      { name: 'Count', type: 'integer', jsonPath: '.status.count' },
    ],
  });
  const eventPolicyCrd = crd({
    kind: 'EventPolicy',
    plural: 'eventpolicies',
    singular: 'eventpolicy',
    shortNames: ['hpolicy'],
    spec: eventPolicySpecSchema,
    status: eventPolicyStatusSchema,
    columns: [
      { name: 'Broker', type: 'string', jsonPath: '.spec.broker' },
      { name: 'Ready', type: 'string', jsonPath: READY },
    ],
  });
  return [brokerCrd, channelCrd, subscriptionCrd, eventTypeCrd, eventPolicyCrd];
}
