import type { ZodType } from 'zod';
import { GROUP } from '../k8s-api/index.js';
import type { Broker } from '../k8s-api/index.js';

/**
 * Why a Broker's name cannot be used, or undefined. The CRD admits any DNS subdomain of up to 253
 * characters, but the Broker's Service is named like it (a DNS-1035 label: a letter first, no dots, at
 * most 63 characters), the name is the value of the children's broker label (at most 63 characters) and
 * the broker's `--broker-name` (a DNS label). Applying children for such a name half-made them and then
 * failed at every retry, with no reason in the Broker's status.
 */
export function brokerNameProblem(name: string): string | undefined {
  if (name.length <= 63 && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name)) return undefined;
  return `the name '${name}' names the Broker's Service and labels: it must be a DNS-1035 label (at most 63 lower-case letters, digits and '-', starting with a letter)`;
}

/**
 * Why a StatefulSet cannot be named `name`, or undefined. The API server accepts any such name, but the
 * StatefulSet controller labels each pod with `controller-revision-hash: <name>-<hash of up to 10
 * characters>`, a label value of at most 63: with a longer name no pod is ever created, and the Broker
 * (embedded store: a StatefulSet `herald-broker-<name>`) would wait for a workload that never starts.
 */
export function statefulSetNameProblem(name: string, brokerName: string): string | undefined {
  const most = 63 - 11;
  if (name.length <= most) return undefined;
  return `the name '${brokerName}' is too long for a Broker on the embedded store: its StatefulSet '${name}' must have at most ${most} characters (the pods' controller-revision-hash label), so the Broker's name at most ${most - (name.length - brokerName.length)}; use a shorter name or a jetstream or kafka Channel`;
}

/**
 * Why `spec` does not satisfy `schema`, or undefined. The CRDs cannot hold the zod schemas' patterns and
 * refinements (durations, quantities), so the API server admits specs that the API server then refuses
 * in a child (a volume size) or that `herald broker` refuses at start (a delivery default, a retention):
 * the operator checks them before it writes anything.
 */
export function specProblem(schema: ZodType, spec: unknown): string | undefined {
  const parsed = schema.safeParse(spec);
  if (parsed.success) return undefined;
  return parsed.error.issues
    .map((issue) => `${['spec', ...issue.path.map(String)].join('.')}: ${issue.message}`)
    .join('; ');
}

interface Owned {
  metadata?: {
    ownerReferences?: ReadonlyArray<{
      apiVersion?: string;
      kind?: string;
      name?: string;
      controller?: boolean;
    }>;
  };
}

/**
 * Whether `object` is controlled by a Broker of this name (in its namespace). Names are unique in a
 * namespace, so a controller of this name and another uid is an earlier Broker of the same name: its
 * children are taken over. Anything else (a Service someone made, named like the Broker) is not the
 * operator's to change or delete: server-side apply with force took it over, and deleting the Broker
 * deleted it.
 */
export function controlledBy(object: Owned, broker: Broker): boolean {
  return (object.metadata?.ownerReferences ?? []).some(
    (ref) =>
      ref.controller === true &&
      ref.kind === 'Broker' &&
      ref.apiVersion?.split('/')[0] === GROUP &&
      ref.name === broker.metadata.name,
  );
}
