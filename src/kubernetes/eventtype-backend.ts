import { createHash } from 'node:crypto';
import type { Informer, KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { BackendReceiver, EventTypeBackend, SeenEventType } from '../eventtypes/index.js';
import { API_VERSION } from '../k8s-api/index.js';
import type { Broker, EventTypeResource } from '../k8s-api/index.js';
import type { Logger } from '../observability/index.js';
import { HeraldResourceClient, makeDeadlineInformer, restartWatchOnError, statusOf } from './client.js';

export const LABEL_EVENTTYPE_BROKER = 'eventing.herald.dev/broker';
export const LABEL_EVENTTYPE_ORIGIN = 'eventing.herald.dev/origin';

export interface KubernetesEventTypeOptions {
  readonly config: KubeConfig;
  readonly namespace: string;
  readonly broker: string;
  readonly logger: Logger;
}

/**
 * A stable resource name for a (type, source) pair: a readable slug of the type plus a hash of the
 * pair (types and sources are not DNS names and may be long).
 */
export function eventTypeResourceName(type: string, source: string): string {
  const hash = createHash('sha256').update(`${type}\u0000${source}`).digest('hex').slice(0, 12);
  const slug = type
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 60)
    .replace(/[^a-z0-9]+$/, '');
  return slug === '' ? `type-${hash}` : `${slug}-${hash}`;
}

/**
 * Kubernetes mode: every seen (type, source) pair becomes an `EventType` resource owned by the
 * Broker (so deleting the Broker deletes them), counts in its status; every EventType resource of
 * this broker is a declaration (description, schema, validation), followed with a watch.
 */
export class KubernetesEventTypeBackend implements EventTypeBackend {
  readonly paced = true;
  private readonly client: HeraldResourceClient<EventTypeResource>;
  private readonly brokers: HeraldResourceClient<Broker>;
  private informer: Informer<KubernetesObject> | undefined;
  /** Resources known to exist: later writes of their type only patch the status. */
  private readonly existing = new Set<string>();
  private owner: Record<string, unknown> | undefined;
  private stopped = false;
  /** False until the resources were listed once (see `EventTypeBackend.declarationsRead`). */
  declarationsRead = false;

  constructor(private readonly options: KubernetesEventTypeOptions) {
    this.client = HeraldResourceClient.for(options.config, options.namespace, 'eventtypes');
    this.brokers = HeraldResourceClient.for(options.config, options.namespace, 'brokers');
  }

  async start(receiver: BackendReceiver): Promise<void> {
    const broker = await this.brokers.get(this.options.broker).catch((error: unknown) => {
      // A broker run by hand (no Broker resource, or no right to read it) owns its types itself.
      if (statusOf(error) === 403) return undefined;
      throw error;
    });
    if (broker?.metadata.uid !== undefined) {
      this.owner = {
        apiVersion: API_VERSION,
        kind: 'Broker',
        name: broker.metadata.name,
        uid: broker.metadata.uid,
        blockOwnerDeletion: false,
      };
    }
    const initial = await this.client.list().catch((error: unknown) => {
      // No EventType CRD: no resource can declare a schema, so publishes need not wait for one (the
      // start is still retried, and writes with it, until the CRD is installed).
      if (statusOf(error) === 404) this.declarationsRead = true;
      throw error;
    });
    const restored: SeenEventType[] = [];
    // Declared now, not only by the informer below: its own list may be refused (then retried), and
    // until the declarations are known publishes answer 503.
    for (const resource of initial.items) this.observe(resource, receiver);
    this.declarationsRead = true;
    for (const resource of initial.items) {
      if (resource.spec?.broker !== this.options.broker) continue;
      this.existing.add(resource.metadata.name);
      const { status, spec } = resource;
      if (status?.count !== undefined && status.firstSeen !== undefined && spec.source !== undefined) {
        restored.push({
          type: spec.type,
          source: spec.source,
          count: status.count,
          firstSeen: Date.parse(status.firstSeen),
          lastSeen: Date.parse(status.lastSeen ?? status.firstSeen),
        });
      }
    }
    receiver.restore(restored);
    // The informer's first list is the one just read (its resourceVersion the watch's start, so nothing
    // in between is missed); a second list at once only cost the API server a request per start.
    let unused: typeof initial | undefined = initial;
    const informer = makeDeadlineInformer(this.options.config, this.client.path, async () => {
      const list = unused ?? (await this.client.list());
      unused = undefined;
      return list as unknown as KubernetesListObject<KubernetesObject>;
    });
    const observe = (object: KubernetesObject) =>
      this.observe(object as unknown as EventTypeResource, receiver);
    informer.on('add', observe);
    informer.on('update', observe);
    informer.on('delete', (object) => {
      const name = (object as unknown as EventTypeResource).metadata.name;
      this.existing.delete(name); // written again (re-created) on the type's next sighting
      receiver.declare(name, undefined);
    });
    restartWatchOnError(informer, 'EventType', this.options.logger, () => this.stopped);
    this.informer = informer;
    await informer.start();
  }

  private observe(resource: EventTypeResource, receiver: BackendReceiver): void {
    const name = resource.metadata.name;
    if (resource.spec?.broker !== this.options.broker) return receiver.declare(name, undefined);
    const { broker: _broker, ...declared } = resource.spec;
    // A discovered type nobody described declares nothing; `kubectl edit` adding a schema does.
    const describes =
      declared.description !== undefined ||
      declared.schema !== undefined ||
      declared.validation !== undefined;
    receiver.declare(name, describes ? declared : undefined);
  }

  async write(types: readonly SeenEventType[]): Promise<void> {
    for (const seen of types) {
      const name = eventTypeResourceName(seen.type, seen.source);
      if (!this.existing.has(name)) await this.create(name, seen);
      try {
        await this.client.patchStatus(name, {
          firstSeen: new Date(seen.firstSeen).toISOString(),
          lastSeen: new Date(seen.lastSeen).toISOString(),
          count: seen.count,
        });
      } catch (error) {
        if (statusOf(error) === 404) this.existing.delete(name); // deleted meanwhile: create it again
        throw error;
      }
    }
  }

  private async create(name: string, seen: SeenEventType): Promise<void> {
    try {
      await this.client.create({
        apiVersion: API_VERSION,
        kind: 'EventType',
        metadata: {
          name,
          labels: {
            [LABEL_EVENTTYPE_BROKER]: this.options.broker,
            [LABEL_EVENTTYPE_ORIGIN]: 'discovered',
          },
          ...(this.owner === undefined ? {} : { ownerReferences: [this.owner] }),
        } as EventTypeResource['metadata'],
        spec: { broker: this.options.broker, type: seen.type, source: seen.source },
      });
    } catch (error) {
      if (statusOf(error) !== 409) throw error; // already there (declared, or an earlier run)
    }
    this.existing.add(name);
  }

  stop(): void {
    this.stopped = true;
    void this.informer?.stop();
  }
}
