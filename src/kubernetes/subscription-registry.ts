import { isDeepStrictEqual } from 'node:util';
import type { Informer, KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Condition, SubscriptionResource } from '../k8s-api/index.js';
import {
  definitionToResource,
  incarnationOf,
  resourceToDefinition,
  readyCondition,
  ANNOTATION_STATE,
} from '../k8s-api/index.js';
import { HeraldError } from '../errors/index.js';
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
import {
  HeraldResourceClient,
  makeDeadlineInformer,
  replacingMergePatch,
  restartWatchOnError,
  statusOf,
} from './client.js';
import { OwnWrites } from './own-writes.js';
import type { Echo, HeardChange } from './own-writes.js';

type Listener = RegistryListener;

/** What the API server answers a delete: a Status, or the resource when a finalizer holds it. */
interface DeleteAnswer {
  readonly kind?: string;
  readonly details?: { readonly uid?: string };
  readonly metadata?: { readonly resourceVersion?: string };
}

/** How often a write is tried when other writers keep changing the resource under it. */
const WRITE_ATTEMPTS = 5;

/** A change's base is stored no more: another replica changed the subscription since (see `replace`). */
class ChangedMeanwhile extends Error {
  constructor(readonly stored: SubscriptionDefinition) {
    super(`subscription '${stored.id}' was changed meanwhile`);
  }
}

/** The merge patch that takes `existing` to `desired`, valid only while `existing` is what is stored. */
function patchTo(
  definition: SubscriptionDefinition,
  desired: SubscriptionResource,
  existing: SubscriptionResource,
  compared: boolean,
): object {
  const precondition =
    existing.metadata.resourceVersion === undefined
      ? {}
      : { resourceVersion: existing.metadata.resourceVersion };
  // A resource written by a person or GitOps keeps its spec; Herald only records its own state, one
  // annotation it alone writes. Made from a base (a pause, a seek), the state is computed from the
  // stored one, and is written only over it: over another replica's pause it would undo it.
  if (definition.origin === 'kubernetes') {
    return {
      metadata: {
        annotations: { [ANNOTATION_STATE]: desired.metadata.annotations?.[ANNOTATION_STATE] ?? '{}' },
        ...(compared ? precondition : {}),
      },
    };
  }
  return {
    metadata: {
      annotations: desired.metadata.annotations,
      labels: desired.metadata.labels,
      // A precondition: the API server refuses the patch (409) if the resource changed since.
      ...precondition,
    },
    // The whole spec, as a PUT means: a member the new definition leaves out is removed.
    spec: replacingMergePatch(existing.spec, desired.spec as unknown as Record<string, unknown>),
  };
}

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
  /** How long a watch lasts at most before it is ended and resumed (default `WATCH_TIMEOUT_MS`). */
  readonly watchTimeoutMs?: number;
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
  /** What the watch hears goes through here: the late echoes of this replica's own writes stop there. */
  private readonly own = new OwnWrites<SubscriptionResource>((change) => this.heard(change));
  private readonly listeners = new Set<Listener>();
  private readonly reported = new Map<string, string>();
  /** The Ready condition's status last written per resource, and since when it holds. */
  private readonly transitions = new Map<string, { status: Condition['status']; at: string }>();
  private informer: Informer<KubernetesObject> | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private markStopped: () => void = () => undefined;
  private readonly stopSignal = new Promise<void>((resolve) => (this.markStopped = resolve));
  synced = false;

  constructor(private readonly options: KubernetesRegistryOptions) {
    this.client = HeraldResourceClient.for<SubscriptionResource>(
      options.config,
      options.namespace,
      'subscriptions',
    );
  }

  /**
   * Ends once the resources were listed: a first list the apiserver refuses (still starting, overloaded,
   * a permission granted a moment later) is tried again with the watch (`restartWatchOnError`), and
   * until one succeeds the broker must not start as if the namespace had none — it would answer
   * `/readyz` ready and `GET /subscriptions` empty while delivering nothing. Rejects if stopped first.
   */
  async start(): Promise<void> {
    let listed: () => void = () => undefined;
    const firstList = new Promise<void>((resolve) => (listed = resolve));
    const informer = makeDeadlineInformer(
      this.options.config,
      this.client.path,
      async () => {
        const list = await this.client.list();
        // Told before the informer reports the list's items, which it does as soon as this resolves.
        this.own.relisted();
        listed();
        return list as unknown as KubernetesListObject<KubernetesObject>;
      },
      this.options.watchTimeoutMs,
    );
    const hear = (deleted: boolean) => (object: KubernetesObject) =>
      this.own.heard({ deleted, object: object as unknown as SubscriptionResource });
    informer.on('add', hear(false));
    informer.on('update', hear(false));
    informer.on('delete', hear(true));
    restartWatchOnError(informer, 'subscription', this.options.logger, () => this.stopped);
    this.informer = informer;
    await informer.start();
    // The informer reports the list's items as soon as its list function returns, before this goes on.
    await Promise.race([firstList, this.stopSignal]);
    if (this.stopped) throw new Error('stopped before the Subscription resources were listed');
    this.synced = true;
  }

  stop(): void {
    this.stopped = true;
    this.markStopped();
    if (this.statusTimer !== undefined) clearInterval(this.statusTimer);
    void this.informer?.stop();
  }

  private emit(id: string, definition: SubscriptionDefinition | undefined, withheld = false): void {
    for (const listener of this.listeners) listener(id, definition, withheld);
  }

  private heard(change: HeardChange<SubscriptionResource>): void {
    // A resource marked for deletion is deleted: the delete answered 200, and a finalizer (another
    // controller's, a foreground deletion's) only keeps it stored, for as long as it likes. Delivering
    // meanwhile would go on after `kubectl delete`, and the echo of the HTTP API's own delete would
    // bring back the subscription it just removed.
    if (change.deleted || change.object.metadata.deletionTimestamp !== undefined)
      this.forget(change.object.metadata.name);
    else this.observe(change.object);
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

  /**
   * Writes through `own`: from the call on, the caller holds the definition as written, so what the
   * watch hears of it meanwhile waits, and its changes from before this write are not reported.
   */
  put(definition: SubscriptionDefinition): Promise<void> {
    return this.save(definition, false);
  }

  /**
   * A change of an existing resource: one that is gone (deleted meanwhile) is never created again. With
   * `base`, written only over the resource that declares `base`: another replica's change since is
   * answered instead (see `SubscriptionRegistry.replace`).
   */
  async replace(
    definition: SubscriptionDefinition,
    base?: SubscriptionDefinition,
  ): Promise<boolean | SubscriptionDefinition> {
    try {
      await this.save(definition, true, base);
      return true;
    } catch (error) {
      if (error instanceof ChangedMeanwhile) return error.stored;
      if (error instanceof HeraldError && error.code === 'HERALD_NOT_FOUND') return false;
      throw error;
    }
  }

  /** Throws `ChangedMeanwhile` when `existing` no longer declares `base` (one it cannot read is left to the write). */
  private checkBase(existing: SubscriptionResource, base: SubscriptionDefinition | undefined): void {
    if (base === undefined) return;
    let stored: SubscriptionDefinition;
    try {
      stored = resourceToDefinition(existing, this.options.deliveryDefaults);
    } catch {
      return;
    }
    // Compared as stored: a round trip through JSON leaves out what is undefined.
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(stored)), JSON.parse(JSON.stringify(base))))
      throw new ChangedMeanwhile(stored);
  }

  private async save(
    definition: SubscriptionDefinition,
    replacing: boolean,
    base?: SubscriptionDefinition,
  ): Promise<void> {
    const write = this.own.begin(definition.id);
    let echo: Echo | undefined;
    try {
      const written = await this.write(definition, replacing, base);
      // Before `end`, which may report later changes held meanwhile: they must not be overwritten.
      this.resources.set(definition.id, written);
      if (written.metadata.resourceVersion !== undefined)
        echo = { resourceVersion: written.metadata.resourceVersion };
    } finally {
      this.own.end(write, echo);
    }
  }

  /**
   * Creates the resource or patches it to `definition`. A PUT replaces the whole spec, and a merge patch
   * removes only the members it names: computed from the resource as this replica last heard it, it
   * would leave in place what another replica added since (a spec neither wrote). So the patch carries
   * the resourceVersion it was computed from, and when the API server answers 409 (changed since, or
   * created meanwhile) it is computed again from what is stored now.
   */
  private async write(
    definition: SubscriptionDefinition,
    replacing: boolean,
    base?: SubscriptionDefinition,
  ): Promise<SubscriptionResource> {
    const { namespace, broker } = this.options;
    const desired = definitionToResource(definition, namespace, broker);
    let existing = this.resources.get(definition.id) ?? (await this.client.get(definition.id));
    // A change of a resource that another replica deleted meanwhile is refused, never a create that
    // would bring the deleted subscription back (to every replica), nor a patch of the resource created
    // again in its place (another incarnation). A replacement never creates: gone here and on the API
    // server is gone.
    const creating = existing === undefined && !replacing;
    const gone = () =>
      new HeraldError('HERALD_NOT_FOUND', `subscription '${definition.id}' was deleted meanwhile`);
    for (let attempt = 1; ; attempt++) {
      try {
        if (existing === undefined) {
          if (!creating) throw gone();
          return await this.client.create(desired);
        }
        if (replacing && incarnationOf(existing) !== definition.incarnation) throw gone();
        this.checkBase(existing, base);
        return await this.client.patch(
          definition.id,
          patchTo(definition, desired, existing, base !== undefined),
        );
      } catch (error) {
        if (statusOf(error) === 404 && !creating) throw gone();
        if (statusOf(error) !== 409 || attempt >= WRITE_ATTEMPTS) throw error;
        existing = await this.client.get(definition.id);
      }
    }
  }

  /** The API server has no multi-object transaction: one resource per request, a few at a time. */
  async putMany(definitions: readonly SubscriptionDefinition[]): Promise<void> {
    for (let i = 0; i < definitions.length; i += 8) {
      // Every write of the batch settled before a failure is reported: the caller takes back what a
      // failed call stored, and a write still in flight then would land after that and stay.
      const settled = await Promise.allSettled(
        definitions.slice(i, i + 8).map((definition) => this.put(definition)),
      );
      const failed = settled.find((result) => result.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    }
  }

  async delete(id: string): Promise<boolean> {
    const write = this.own.begin(id);
    let echo: Echo | undefined;
    try {
      const deleted = await this.client.delete(id);
      this.resources.delete(id);
      const answer = deleted?.answer as DeleteAnswer | undefined;
      // Deleted at once: a Status naming the incarnation's uid. With a finalizer the resource is only
      // marked for deletion, and the answer is the resource with its new resourceVersion.
      if (answer?.kind === 'Status' && answer.details?.uid !== undefined)
        echo = { deletedUid: answer.details.uid };
      else if (answer?.metadata?.resourceVersion !== undefined)
        echo = { resourceVersion: answer.metadata.resourceVersion };
      return deleted !== undefined;
    } finally {
      this.own.end(write, echo);
    }
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
