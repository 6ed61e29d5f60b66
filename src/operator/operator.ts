import { CoreV1Api, CustomObjectsApi, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import type { Informer, KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { GROUP, VERSION, brokerSpecSchema, channelSpecSchema, readyCondition } from '../k8s-api/index.js';
import type { Broker, Channel, Condition } from '../k8s-api/index.js';
import {
  HeraldResourceClient,
  makeDeadlineInformer,
  restartWatchOnError,
  statusOf,
} from '../kubernetes/index.js';
import type { Logger } from '../observability/index.js';
import type { KubeObject, NatsCredentials, OperatorSettings } from './resources.js';
import {
  BROKER_LABEL,
  BROKER_NAMESPACE_LABEL,
  MANAGED_BY,
  authDelegatorBindingName,
  brokerChildren,
  brokerUrl,
  childName,
  legacyAuthDelegatorBindingName,
  natsCredentialsOf,
  otherWorkloadKind,
} from './resources.js';
import {
  brokerNameProblem,
  controlledBy,
  specProblem,
  statefulSetNameProblem,
  storageChangeProblem,
} from './checks.js';
import { channelProblem, keepTransitionTime, sameReady } from './conditions.js';
import { childLists } from './watches.js';

export const FINALIZER = 'eventing.herald.dev/cleanup';
const FIELD_MANAGER = 'herald-operator';

export interface OperatorOptions extends OperatorSettings {
  readonly config: KubeConfig;
  readonly logger: Logger;
  /** Every cached object is reconciled again this often, repairing drift nobody reported. */
  readonly resyncMs?: number;
  /**
   * How long a watch lasts at most before it is ended and resumed from the last change heard (default
   * `WATCH_TIMEOUT_MS`): a watch whose connection died silently ends nothing by itself, and the resync
   * only reconciles what the watches last delivered.
   */
  readonly watchTimeoutMs?: number;
}

type Key = `${string}/${string}`;

function keyOf(object: { metadata?: { namespace?: string; name?: string } }): Key {
  return `${object.metadata?.namespace ?? 'default'}/${object.metadata?.name ?? ''}`;
}

/**
 * `herald operator`: turns `Broker` and `Channel` resources into running brokers. Watches with
 * informers, reconciles one key at a time from a de-duplicated queue, applies children with
 * server-side apply (idempotent; changed specs roll out), reports through the `Ready` condition and
 * Kubernetes Events, and cleans up through a finalizer when a Broker is deleted.
 */
export class Operator {
  private readonly objects: KubernetesObjectApi;
  private readonly core: CoreV1Api;
  private readonly brokers = new Map<Key, Broker>();
  private readonly channels = new Map<Key, Channel>();
  private readonly informers: Array<Informer<KubernetesObject>> = [];
  private readonly queue = new Set<Key>();
  private readonly retries = new Map<Key, number>();
  private draining = false;
  private stopped = false;
  /**
   * False until every informer has listed once. Reconciling a Broker before the Channels are listed
   * reported `ChannelNotFound` (a Warning Event and a flapping condition) at every operator start.
   */
  private synced = false;
  private resyncTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: OperatorOptions) {
    this.objects = KubernetesObjectApi.makeApiClient(options.config);
    this.core = options.config.makeApiClient(CoreV1Api);
  }

  private informer(
    path: string,
    list: () => Promise<unknown>,
    on: (verb: string, object: KubernetesObject) => void,
    labelSelector?: string,
  ) {
    const informer = makeDeadlineInformer(
      this.options.config,
      path,
      list as () => Promise<KubernetesListObject<KubernetesObject>>,
      this.options.watchTimeoutMs,
      labelSelector,
    );
    for (const verb of ['add', 'update', 'delete']) informer.on(verb, (object) => on(verb, object));
    restartWatchOnError(informer, path, this.options.logger, () => this.stopped);
    this.informers.push(informer);
    return informer;
  }

  async start(): Promise<void> {
    const { config } = this.options;
    const customObjects = config.makeApiClient(CustomObjectsApi);
    const custom = (plural: string) => ({
      path: `/apis/${GROUP}/${VERSION}/${plural}`,
      list: () => customObjects.listClusterCustomObject({ group: GROUP, version: VERSION, plural }),
    });
    const brokers = custom('brokers');
    this.informer(brokers.path, brokers.list, (verb, object) => {
      const key = keyOf(object);
      if (verb === 'delete') this.brokers.delete(key);
      else this.brokers.set(key, object as unknown as Broker);
      this.enqueue(key);
    });
    const channels = custom('channels');
    this.informer(channels.path, channels.list, (verb, object) => {
      const key = keyOf(object);
      if (verb === 'delete') this.channels.delete(key);
      else this.channels.set(key, object as unknown as Channel);
      this.enqueue(`channel:${key}` as Key);
      // Brokers on this channel must follow it.
      for (const [brokerKey, broker] of this.brokers) {
        if (
          broker.spec.channel === object.metadata?.name &&
          broker.metadata.namespace === object.metadata?.namespace
        )
          this.enqueue(brokerKey);
      }
    });
    // A workload becoming ready, or any child changed or deleted by someone, re-reconciles its Broker. The
    // workloads alone were watched: a Service or ConfigMap deleted by hand stayed gone until the resync,
    // minutes later (the broker unreachable, or its pods unable to start, meanwhile).
    const selector = Object.entries(MANAGED_BY)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const children = childLists(config, selector);
    for (const [path, list] of Object.entries(children)) {
      this.informer(
        path,
        list,
        (_verb, object) => {
          const labels = object.metadata?.labels ?? {};
          const broker = labels[BROKER_LABEL];
          // The ClusterRoleBinding is cluster-scoped: its label names the Broker's namespace.
          const namespace = object.metadata?.namespace ?? labels[BROKER_NAMESPACE_LABEL];
          if (broker !== undefined && namespace !== undefined) this.enqueue(`${namespace}/${broker}`);
        },
        selector,
      );
    }
    for (const informer of this.informers) await informer.start();
    this.synced = true;
    void this.drain();
    this.resyncTimer = setInterval(() => {
      for (const key of this.brokers.keys()) this.enqueue(key);
      for (const key of this.channels.keys()) this.enqueue(`channel:${key}` as Key);
    }, this.options.resyncMs ?? 300_000);
    this.resyncTimer.unref();
    this.options.logger.info('herald operator started');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer !== undefined) clearInterval(this.resyncTimer);
    await Promise.all(this.informers.map((informer) => informer.stop()));
  }

  private enqueue(key: Key): void {
    if (this.stopped) return;
    this.queue.add(key);
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.draining || !this.synced) return;
    this.draining = true;
    try {
      while (this.queue.size > 0 && !this.stopped) {
        const key = this.queue.values().next().value as Key;
        this.queue.delete(key);
        try {
          if (key.startsWith('channel:')) await this.reconcileChannel(key.slice('channel:'.length) as Key);
          else await this.reconcileBroker(key);
          this.retries.delete(key);
        } catch (error) {
          // The object went away while we worked on it: nothing left to do.
          if (statusOf(error) === 404) continue;
          // Transient API errors: retry with backoff; the Ready condition already tells the user.
          const attempt = (this.retries.get(key) ?? 0) + 1;
          this.retries.set(key, attempt);
          const delay = Math.min(60_000, 250 * 2 ** attempt);
          this.options.logger.warn({ err: error, key, attempt, delay }, 'reconcile failed; will retry');
          setTimeout(() => this.enqueue(key), delay).unref();
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private brokerClient(namespace: string) {
    return HeraldResourceClient.for<Broker>(this.options.config, namespace, 'brokers');
  }

  private async reconcileChannel(key: Key): Promise<void> {
    const channel = this.channels.get(key);
    if (channel === undefined) return;
    const invalid = specProblem(channelSpecSchema, channel.spec);
    const problem =
      invalid ??
      (channel.spec.type === 'kafka' && channel.spec.kafka === undefined
        ? 'spec.kafka.brokers is required'
        : channel.spec.type === 'jetstream' && channel.spec.jetstream === undefined
          ? 'spec.jetstream.url is required'
          : undefined);
    const reason = invalid === undefined ? 'Unsupported' : 'InvalidSpec';
    const ready =
      problem === undefined
        ? readyCondition('True', 'Ready', `${channel.spec.type} channel`, channel.metadata.generation)
        : readyCondition('False', reason, problem, channel.metadata.generation);
    if (
      sameReady(channel.status?.conditions, ready) &&
      channel.status?.observedGeneration === channel.metadata.generation
    )
      return;
    const status = {
      observedGeneration: channel.metadata.generation,
      conditions: [keepTransitionTime(channel.status?.conditions, ready)],
    };
    await HeraldResourceClient.for<Channel>(
      this.options.config,
      channel.metadata.namespace ?? 'default',
      'channels',
    ).patchStatus(channel.metadata.name, status);
    if (problem !== undefined) await this.event(channel, 'Warning', reason, problem);
  }

  async reconcileBroker(key: Key): Promise<void> {
    const broker = this.brokers.get(key);
    if (broker === undefined) return;
    const namespace = broker.metadata.namespace ?? 'default';
    const client = this.brokerClient(namespace);
    if (broker.metadata.deletionTimestamp !== undefined) {
      await this.cleanUp(broker);
      if (broker.metadata.finalizers?.includes(FINALIZER)) {
        await client.patch(
          broker.metadata.name,
          finalizersPatch(
            broker,
            broker.metadata.finalizers.filter((f) => f !== FINALIZER),
          ),
        );
      }
      return;
    }
    if (!(broker.metadata.finalizers ?? []).includes(FINALIZER)) {
      await client.patch(
        broker.metadata.name,
        finalizersPatch(broker, [...(broker.metadata.finalizers ?? []), FINALIZER]),
      );
    }
    const generation = broker.metadata.generation;
    // Checked before anything is written: the API server would refuse a child half-way through, or the
    // broker process its configuration, and the Broker would say nothing about why.
    const nameProblem = brokerNameProblem(broker.metadata.name);
    if (nameProblem !== undefined) {
      await this.setStatus(broker, readyCondition('False', 'InvalidName', nameProblem, generation));
      return;
    }
    const invalid = specProblem(brokerSpecSchema, broker.spec);
    if (invalid !== undefined) {
      await this.setStatus(broker, readyCondition('False', 'InvalidSpec', invalid, generation));
      return;
    }
    let channel: Channel | undefined;
    if (broker.spec.channel !== undefined) {
      // The Channel's watch may deliver it after the Broker's, even when it was created first: ask the
      // API server before reporting it missing.
      channel =
        this.channels.get(`${namespace}/${broker.spec.channel}`) ??
        (await HeraldResourceClient.for<Channel>(this.options.config, namespace, 'channels').get(
          broker.spec.channel,
        ));
      const reason = channel === undefined ? 'ChannelNotFound' : channelProblem(channel);
      if (reason !== undefined) {
        const message =
          channel === undefined
            ? `Channel '${broker.spec.channel}' does not exist in namespace ${namespace}`
            : `Channel '${broker.spec.channel}' is not usable: ${reason}`;
        await this.setStatus(
          broker,
          readyCondition(
            'False',
            channel === undefined ? 'ChannelNotFound' : 'ChannelNotReady',
            message,
            generation,
          ),
        );
        return;
      }
    }
    if (broker.spec.storage !== undefined && channel !== undefined && channel.spec.type !== 'embedded') {
      await this.setStatus(
        broker,
        readyCondition(
          'False',
          'StorageNeedsEmbeddedChannel',
          `spec.storage sizes the embedded store's volume; a ${channel.spec.type} Channel keeps events in ${channel.spec.type === 'kafka' ? 'Kafka' : 'NATS JetStream'}: remove spec.storage`,
          generation,
        ),
      );
      return;
    }
    const credentials = await this.natsCredentials(channel, namespace);
    if (credentials !== undefined && typeof credentials !== 'string') {
      await this.setStatus(
        broker,
        readyCondition('False', credentials.reason, credentials.message, generation),
      );
      return;
    }
    if (
      broker.spec.replicas !== undefined &&
      broker.spec.replicas > 1 &&
      (channel === undefined || channel.spec.type === 'embedded')
    ) {
      await this.setStatus(
        broker,
        readyCondition(
          'False',
          'ReplicasNeedDistributedChannel',
          'the embedded store runs one broker process; use a jetstream or kafka Channel for replicas',
          generation,
        ),
      );
      return;
    }
    const children = brokerChildren(broker, channel, this.options, credentials);
    const statefulSet = children.find((c) => c.kind === 'StatefulSet');
    const tooLong =
      statefulSet === undefined
        ? undefined
        : statefulSetNameProblem(statefulSet.metadata.name, broker.metadata.name);
    if (tooLong !== undefined) {
      await this.setStatus(broker, readyCondition('False', 'InvalidName', tooLong, generation));
      return;
    }
    const conflict = await this.unownedChild(broker, children);
    if (conflict !== undefined) {
      await this.setStatus(
        broker,
        readyCondition(
          'False',
          'ResourceConflict',
          `${conflict.kind} '${conflict.metadata.name}' exists and is not owned by Broker '${broker.metadata.name}': rename or remove it, or name the Broker otherwise`,
          generation,
        ),
      );
      return;
    }
    const storage =
      statefulSet === undefined ? undefined : storageChangeProblem(statefulSet, await this.read(statefulSet));
    if (storage !== undefined) {
      await this.setStatus(broker, readyCondition('False', 'StorageUnchangeable', storage, generation));
      return;
    }
    for (const child of children) await this.apply(child);
    await this.deleteOwned(broker, {
      apiVersion: 'apps/v1',
      kind: otherWorkloadKind(channel),
      metadata: { name: childName(broker), namespace },
    });
    await this.deleteLegacyBinding(broker);
    const workload = children.find((c) => c.kind === 'StatefulSet' || c.kind === 'Deployment') as KubeObject;
    const current = (await this.objects.read({
      apiVersion: 'apps/v1',
      kind: workload.kind,
      metadata: { name: workload.metadata.name, namespace },
    })) as {
      status?: { readyReplicas?: number };
    };
    const readyReplicas = current.status?.readyReplicas ?? 0;
    await this.setStatus(
      broker,
      readyReplicas > 0
        ? readyCondition('True', 'Ready', `${readyReplicas} broker process(es) ready`, generation)
        : readyCondition(
            'False',
            'WorkloadNotReady',
            `waiting for the ${workload.kind} ${workload.metadata.name} to become ready`,
            generation,
          ),
    );
  }

  /**
   * The kind of a jetstream Channel's credentials Secret, from its key names (values are not kept), or
   * the condition to report when it is missing or unusable. A changed Secret is seen at the next resync.
   */
  private async natsCredentials(
    channel: Channel | undefined,
    namespace: string,
  ): Promise<NatsCredentials | { reason: string; message: string } | undefined> {
    const name = channel?.spec.type === 'jetstream' ? channel.spec.jetstream?.credentialsSecret : undefined;
    if (name === undefined) return undefined;
    let keys: string[];
    try {
      const secret = await this.core.readNamespacedSecret({ name, namespace });
      keys = [...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})];
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      return {
        reason: 'CredentialsSecretNotFound',
        message: `Secret '${name}' (spec.jetstream.credentialsSecret of Channel '${channel?.metadata.name ?? ''}') does not exist in namespace ${namespace}`,
      };
    }
    const kind = natsCredentialsOf(keys);
    return typeof kind === 'string'
      ? kind
      : { reason: 'CredentialsSecretInvalid', message: `Secret '${name}' ${kind.problem}` };
  }

  private async apply(object: KubeObject): Promise<void> {
    await this.objects.patch(
      object as KubernetesObject,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
  }

  /** The object as stored, or undefined when there is none. */
  private async read(object: KubeObject): Promise<KubernetesObject | undefined> {
    try {
      return await this.objects.read({
        apiVersion: object.apiVersion,
        kind: object.kind,
        metadata: { name: object.metadata.name, namespace: object.metadata.namespace ?? 'default' },
      });
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** The first namespaced child whose name is taken by an object this Broker does not control. */
  private async unownedChild(
    broker: Broker,
    children: readonly KubeObject[],
  ): Promise<KubeObject | undefined> {
    for (const child of children) {
      // The ClusterRoleBinding's name holds the namespace and the Broker's name: only this Broker's.
      if (child.metadata.namespace === undefined) continue;
      const current = await this.read(child);
      if (current !== undefined && !controlledBy(current, broker)) return child;
    }
    return undefined;
  }

  /**
   * Deletes `object` if this Broker controls it (namespaced) or, cluster-scoped, if it is there: an object
   * of the same name made by someone else is left. The uid precondition keeps a delete from reaching an
   * object that replaced the one read.
   */
  private async deleteOwned(broker: Broker, object: KubeObject): Promise<void> {
    const current = await this.read(object);
    if (current === undefined) return;
    if (object.metadata.namespace !== undefined && !controlledBy(current, broker)) return;
    await this.deleteRead(current);
  }

  /** `unchanged`: only if it is still as read (its resourceVersion), not only the same object (its uid). */
  private async deleteRead(current: KubernetesObject, unchanged = false): Promise<void> {
    const { uid, resourceVersion } = current.metadata ?? {};
    try {
      await this.objects.delete(current, undefined, undefined, undefined, undefined, undefined, {
        preconditions: {
          ...(uid === undefined ? {} : { uid }),
          ...(unchanged && resourceVersion !== undefined ? { resourceVersion } : {}),
        },
      });
    } catch (error) {
      if (statusOf(error) !== 404 && statusOf(error) !== 409) throw error;
    }
  }

  /**
   * Deletes the binding under the name earlier versions gave it, when it binds exactly this Broker's
   * ServiceAccount (that name could be another Broker's, see `authDelegatorBindingName`).
   */
  private async deleteLegacyBinding(broker: Broker): Promise<void> {
    const name = legacyAuthDelegatorBindingName(broker);
    if (name === authDelegatorBindingName(broker)) return;
    const current = (await this.read({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
    })) as
      | (KubernetesObject & { subjects?: Array<{ kind?: string; name?: string; namespace?: string }> })
      | undefined;
    const subjects = current?.subjects ?? [];
    const only = subjects[0];
    if (
      current === undefined ||
      subjects.length !== 1 ||
      only?.kind !== 'ServiceAccount' ||
      only.name !== childName(broker) ||
      only.namespace !== (broker.metadata.namespace ?? 'default')
    )
      return;
    // Another Broker may take this name over (apply) between the read and the delete.
    await this.deleteRead(current, true);
  }

  /** Deletes what a Broker owns (owner references alone need a garbage collector to act). */
  private async cleanUp(broker: Broker): Promise<void> {
    for (const child of brokerChildren(broker, undefined, this.options).reverse())
      await this.deleteOwned(broker, child);
    await this.deleteOwned(broker, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: childName(broker), namespace: broker.metadata.namespace ?? 'default' },
    });
    await this.deleteLegacyBinding(broker);
    this.options.logger.info({ broker: keyOf(broker) }, 'broker resources deleted');
  }

  private async setStatus(broker: Broker, ready: Condition): Promise<void> {
    const previous = broker.status?.conditions?.find((c) => c.type === 'Ready');
    const unchanged =
      sameReady(broker.status?.conditions, ready) &&
      broker.status?.observedGeneration === broker.metadata.generation &&
      broker.status?.url === brokerUrl(broker);
    if (unchanged) return;
    const conditionToWrite = keepTransitionTime(broker.status?.conditions, ready);
    await this.brokerClient(broker.metadata.namespace ?? 'default').patchStatus(broker.metadata.name, {
      url: brokerUrl(broker),
      observedGeneration: broker.metadata.generation,
      conditions: [conditionToWrite],
    });
    if (ready.status === 'False' && previous?.reason !== ready.reason) {
      // Waiting for a new or changed workload is progress, not a problem; a ready one failing is.
      const progressing = ready.reason === 'WorkloadNotReady' && previous?.status !== 'True';
      await this.event(
        broker,
        progressing ? 'Normal' : 'Warning',
        ready.reason ?? 'NotReady',
        ready.message ?? '',
      );
    }
    if (ready.status === 'True' && previous?.status !== 'True')
      await this.event(broker, 'Normal', 'Ready', ready.message ?? '');
  }

  /** A Kubernetes Event on the object, so `kubectl describe` shows what happened. */
  private async event(
    object: Broker | Channel,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const namespace = object.metadata.namespace ?? 'default';
    const now = new Date();
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${object.metadata.name}.`, namespace },
          involvedObject: {
            apiVersion: object.apiVersion,
            kind: object.kind,
            name: object.metadata.name,
            namespace,
            ...(object.metadata.uid === undefined ? {} : { uid: object.metadata.uid }),
          },
          type,
          reason,
          message,
          source: { component: FIELD_MANAGER },
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (error) {
      this.options.logger.warn({ err: error, reason }, 'recording an Event failed');
    }
  }
}

/**
 * A merge patch replacing the Broker's finalizers with `finalizers`, made from the Broker as cached: it
 * carries that resourceVersion, so it is refused (409, reconciled again) when the Broker has changed since.
 * Without it, a finalizer another controller had added that the cache did not hold yet was dropped.
 */
function finalizersPatch(broker: Broker, finalizers: string[]): object {
  const { resourceVersion } = broker.metadata;
  return { metadata: { finalizers, ...(resourceVersion === undefined ? {} : { resourceVersion }) } };
}
