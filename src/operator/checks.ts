import type { ZodType } from 'zod';
import { GROUP } from '../k8s-api/index.js';
import type { Broker } from '../k8s-api/index.js';
import type { KubeObject } from './resources.js';

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

const QUANTITY_UNITS: Readonly<Record<string, bigint>> = {
  '': 1n,
  k: 10n ** 3n,
  M: 10n ** 6n,
  G: 10n ** 9n,
  T: 10n ** 12n,
  P: 10n ** 15n,
  E: 10n ** 18n,
  Ki: 2n ** 10n,
  Mi: 2n ** 20n,
  Gi: 2n ** 30n,
  Ti: 2n ** 40n,
  Pi: 2n ** 50n,
  Ei: 2n ** 60n,
};

/**
 * Whether two whole-number quantities are the same amount. The API server stores a quantity in its
 * canonical form (`1024Mi` comes back as `1Gi`, `1000` as `1k`), so the strings alone differ for the same
 * size; anything else (a fraction, an exponent) is compared as written.
 */
export function sameQuantity(a: string, b: string): boolean {
  const amount = (quantity: string) => {
    const match = /^(\d+)(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(quantity);
    return match === null ? undefined : BigInt(match[1] ?? '') * (QUANTITY_UNITS[match[2] ?? ''] ?? 1n);
  };
  const [x, y] = [amount(a), amount(b)];
  return x === undefined || y === undefined ? a === b : x === y;
}

type ClaimTemplates = {
  spec?: {
    volumeClaimTemplates?: Array<{
      metadata?: { name?: string };
      spec?: { resources?: { requests?: { storage?: string } } };
    }>;
  };
};

/**
 * Why the StatefulSet as stored (`current`, undefined when there is none) cannot take the volume size of
 * `wanted`, the one the Broker's spec makes, or undefined. A StatefulSet's volumeClaimTemplates cannot
 * change once it is made: the API server refused every apply of a Broker whose `spec.storage` changed,
 * and the operator retried for ever while the Broker's status still said the old generation was fine.
 */
export function storageChangeProblem(wanted: KubeObject, current: unknown): string | undefined {
  const sizeOf = (object: unknown) =>
    (object as ClaimTemplates | undefined)?.spec?.volumeClaimTemplates?.find(
      (t) => t.metadata?.name === 'data',
    )?.spec?.resources?.requests?.storage;
  const size = sizeOf(wanted);
  const made = sizeOf(current);
  if (size === undefined || made === undefined || sameQuantity(made, size)) return undefined;
  const { name } = wanted.metadata;
  return `spec.storage is ${size}, but the volume of StatefulSet '${name}' was made with ${made} and a StatefulSet's volume claim template cannot change: set spec.storage back to ${made}, or resize the claim data-${name}-0 and then delete the StatefulSet with --cascade=orphan so that it is made again (docs/kubernetes.md)`;
}
