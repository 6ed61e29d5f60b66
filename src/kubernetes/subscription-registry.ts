import { makeInformer } from '@kubernetes/client-node';
import type { Informer, KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Condition, SubscriptionResource } from '../k8s-api/index.js';
import {
  definitionToResource,
  resourceToDefinition,
  readyCondition,
  ANNOTATION_STATE,
} from '../k8s-api/index.js';
import { compileSqlFilter } from '../filters/index.js';
import type { SqlCompiler } from '../filters/index.js';
import type { Logger } from '../observability/index.js';
import { compileSubscription } from '../subscriptions/index.js';
import type {
  DeliverySpec,
  RegistryListener,
  SubscriptionDefinition,
  SubscriptionRegistry,
  SubscriptionStatus,
} from '../subscriptions/index.js';
import { HeraldResourceClient, replacingMergePatch, restartWatchOnError } from './client.js';

type Listener = RegistryListener;

export interface KubernetesRegistryOptions {
  readonly config: KubeConfig;
  readonly namespace: string;
  readonly broker: string;
  readonly logger: Logger;
  /** Delivery settings for what a resource's `delivery` leaves out (the Broker's `spec.delivery`). */
  readonly deliveryDefaults?: DeliverySpec;
  /**
   * The broker's CESQL compiler (its `--filter-*` limits): a resource is checked against the limits its
   * broker delivers with, so one over them is InvalidSpec on its Ready condition, not Ready and never started.
   */
  readonly sql?: SqlCompiler;
  /** How often status is written back to the resources (only what changed is written). */
  readonly statusIntervalMs?: number;
}

/**
 * The Kubernetes-mode registry: a broker's subscriptions are the `Subscription` resources in its
 * namespace whose `spec.broker` names it, watched with an informer (which relists after `410 Gone`).
 * Subscriptions created through the HTTP API become resources too, labelled with their origin, so
 * `kubectl` and GitOps tools see every subscription.
 */
export class KubernetesSubscriptionRegistry implements SubscriptionRegistry {
  private readonly client: HeraldResourceClient<SubscriptionResource>;
  private readonly resources = new Map<string, SubscriptionResource>();
  private readonly listeners = new Set<Listener>();
  private readonly reported = new Map<string, string>();
  /** The Ready condition's status last written per resource, and since when it holds. */
  private readonly transitions = new Map<string, { status: Condition['status']; at: string }>();
  private informer: Informer<KubernetesObject> | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  synced = false;

  constructor(private readonly options: KubernetesRegistryOptions) {
    this.client = HeraldResourceClient.for<SubscriptionResource>(
      options.config,
      options.namespace,
      'subscriptions',
    );
  }

  async start(): Promise<void> {
    const informer = makeInformer<KubernetesObject>(
      this.options.config,
      this.client.path,
      () => this.client.list() as unknown as Promise<KubernetesListObject<KubernetesObject>>,
    );
    informer.on('add', (object) => this.observe(object as unknown as SubscriptionResource));
    informer.on('update', (object) => this.observe(object as unknown as SubscriptionResource));
    informer.on('delete', (object) => this.forget((object as unknown as SubscriptionResource).metadata.name));
    restartWatchOnError(informer, 'subscription', this.options.logger, () => this.stopped);
    this.informer = informer;
    await informer.start();
    this.synced = true;
  }

  stop(): void {
    this.stopped = true;
    if (this.statusTimer !== undefined) clearInterval(this.statusTimer);
    void this.informer?.stop();
  }

  private emit(id: string, definition: SubscriptionDefinition | undefined, withheld = false): void {
    for (const listener of this.listeners) listener(id, definition, withheld);
  }

  private observe(resource: SubscriptionResource): void {
    const name = resource.metadata.name;
    if (resource.spec?.broker !== this.options.broker) {
      if (this.resources.has(name)) this.forget(name);
      return;
    }
    this.resources.set(name, resource);
    let definition: SubscriptionDefinition;
    try {
      definition = resourceToDefinition(resource, this.options.deliveryDefaults);
      // Filters (CESQL included) are checked here too, so a bad one is reported on the resource.
      compileSubscription(definition, this.options.sql ?? compileSqlFilter);
    } catch (error) {
      const message = (error as Error).message;
      this.options.logger.warn({ subscription: name, error: message }, 'invalid Subscription resource');
      void this.writeStatus(name, {
        conditions: [readyCondition('False', 'InvalidSpec', message, resource.metadata.generation)],
      });
      // Withheld, not deleted: an invalid edit stops delivery but keeps the cursor, so fixing the
      // resource resumes where delivery stopped instead of at `startAt` (nothing in between skipped).
      this.emit(name, undefined, true);
      return;
    }
    this.emit(name, definition);
  }

  private forget(name: string): void {
    if (!this.resources.delete(name)) return;
    this.reported.delete(name);
    this.transitions.delete(name);
    this.emit(name, undefined);
  }

  async list(): Promise<SubscriptionDefinition[]> {
    const definitions: SubscriptionDefinition[] = [];
    for (const resource of this.resources.values()) {
      try {
        const definition = resourceToDefinition(resource, this.options.deliveryDefaults);
        compileSubscription(definition, this.options.sql ?? compileSqlFilter);
        definitions.push(definition);
      } catch {
        // Reported on the resource's Ready condition when it was observed.
      }
    }
    return Promise.resolve(definitions);
  }

  async put(definition: SubscriptionDefinition): Promise<void> {
    const { namespace, broker } = this.options;
    const desired = definitionToResource(definition, namespace, broker);
    const existing = this.resources.get(definition.id) ?? (await this.client.get(definition.id));
    if (existing === undefined) {
      const created = await this.client.create(desired);
      this.resources.set(definition.id, created);
      return;
    }
    // A resource written by a person or GitOps keeps its spec; Herald only records its own state.
    const patch =
      definition.origin === 'kubernetes'
        ? {
            metadata: {
              annotations: { [ANNOTATION_STATE]: desired.metadata.annotations?.[ANNOTATION_STATE] ?? '{}' },
            },
          }
        : {
            metadata: { annotations: desired.metadata.annotations, labels: desired.metadata.labels },
            // The whole spec, as a PUT means: a member the new definition leaves out is removed.
            spec: replacingMergePatch(existing.spec, desired.spec as unknown as Record<string, unknown>),
          };
    const patched = await this.client.patch(definition.id, patch);
    this.resources.set(definition.id, patched);
  }

  /** The API server has no multi-object transaction: one resource per request, a few at a time. */
  async putMany(definitions: readonly SubscriptionDefinition[]): Promise<void> {
    for (let i = 0; i < definitions.length; i += 8) {
      await Promise.all(definitions.slice(i, i + 8).map((definition) => this.put(definition)));
    }
  }

  async delete(id: string): Promise<boolean> {
    const deleted = await this.client.delete(id);
    this.resources.delete(id);
    return deleted;
  }

  declaredAt(id: string): string {
    return `the Kubernetes Subscription resource ${this.options.namespace}/${id}`;
  }

  watch(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async writeStatus(
    name: string,
    status: { readonly conditions?: Condition[]; readonly [field: string]: unknown },
  ): Promise<void> {
    // A condition's lastTransitionTime moves only when its status does (Kubernetes API conventions):
    // the same status keeps the time it was first reported with, so an unchanged status is not written.
    const previous = this.transitions.get(name);
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    if (ready !== undefined && previous !== undefined && previous.status === ready.status)
      ready.lastTransitionTime = previous.at;
    const text = JSON.stringify(status);
    if (this.reported.get(name) === text) return;
    try {
      await this.client.patchStatus(name, status);
      this.reported.set(name, text);
      if (ready?.lastTransitionTime !== undefined)
        this.transitions.set(name, { status: ready.status, at: ready.lastTransitionTime });
    } catch (error) {
      this.options.logger.warn({ err: error, subscription: name }, 'writing Subscription status failed');
    }
  }

  /**
   * Writes cursor, lag, state and the Ready condition of the subscriptions this replica delivers, at
   * most once per interval and only when they changed, so the API server sees a bounded write rate.
   */
  startStatusReports(statusOf: (id: string) => SubscriptionStatus | undefined): void {
    const interval = this.options.statusIntervalMs ?? 2_000;
    const report = async () => {
      for (const [name, resource] of this.resources) {
        const status = statusOf(name);
        if (status === undefined) continue;
        let sinkUri: string | undefined;
        try {
          sinkUri = resourceToDefinition(resource, this.options.deliveryDefaults).sink;
        } catch {
          continue;
        }
        const unhealthy = status.state === 'failing' || status.state === 'validating';
        const reason =
          status.state === 'paused'
            ? 'Paused'
            : status.state === 'failing'
              ? 'SinkFailing'
              : status.state === 'validating'
                ? 'SinkValidating'
                : 'Delivering';
        const message = unhealthy
          ? (status.lastError?.message ?? `the sink is ${status.state}`)
          : `cursor ${status.cursor}, lag ${status.lag}`;
        await this.writeStatus(name, {
          observedGeneration: resource.metadata.generation,
          sinkUri,
          state: status.state,
          cursor: status.cursor,
          lag: status.lag,
          deadLettered: status.deadLettered,
          conditions: [
            readyCondition(unhealthy ? 'False' : 'True', reason, message, resource.metadata.generation),
          ],
        });
      }
    };
    this.statusTimer = setInterval(() => void report(), interval);
    this.statusTimer.unref();
  }
}
