import { isDeepStrictEqual } from 'node:util';
import type { DefinitionSecrets } from '../sink-credentials/index.js';
import type { EventStore } from '../store/index.js';
import type { SubscriptionDefinition } from './types.js';

/** See `SubscriptionRegistry.watch`. */
export type RegistryListener = (
  id: string,
  definition: SubscriptionDefinition | undefined,
  withheld?: boolean,
) => void;

/**
 * Where subscription definitions live. Standalone brokers keep them in the event store; in
 * Kubernetes mode they are `Subscription` resources. One small contract for both.
 */
export interface SubscriptionRegistry {
  list(): Promise<SubscriptionDefinition[]>;
  put(definition: SubscriptionDefinition): Promise<void>;
  /**
   * Changes a stored definition: false, and nothing written, when none is stored under its id (another
   * replica deleted it, maybe before this one heard of it), or one of another incarnation is (deleted and
   * created again meanwhile). Never creates one, as `put` may. With `base`, the definition the change was
   * made from, it is written only over `base`: when another replica changed the subscription meanwhile
   * (this one has not heard it yet), nothing is written and the stored definition is the answer, for the
   * change to be made again from it (a registry that cannot tell writes over it, answering true).
   */
  replace(
    definition: SubscriptionDefinition,
    base?: SubscriptionDefinition,
  ): Promise<boolean | SubscriptionDefinition>;
  /** Stores several definitions, in one transaction where the backing store has them. */
  putMany(definitions: readonly SubscriptionDefinition[]): Promise<void>;
  /**
   * Registries kept in the event store also commit the new subscriptions' initial cursors in the
   * same transaction. Others leave this out, and the caller commits the cursors first.
   */
  putManyWithCursors?(
    definitions: readonly SubscriptionDefinition[],
    cursors: ReadonlyArray<readonly [string, number]>,
  ): Promise<void>;
  delete(id: string): Promise<boolean>;
  /**
   * Names where a subscription declared outside Herald's API is kept (Kubernetes: the `Subscription`
   * resource `namespace/name`), so a refusal to change it can tell the user what to change instead.
   */
  declaredAt?(id: string): string;
  /**
   * Reports definitions changed by other processes (undefined = gone); returns a stop function. A
   * definition withheld because its declaration became invalid is `undefined` with `withheld` true: its
   * delivery stops, its cursor stays, and it resumes there once the declaration is valid again.
   */
  watch(listener: RegistryListener): () => void;
  /**
   * Resolves once `watch` has reported every change stored, by any replica, before the call (see
   * `EventStore.syncSubscriptions`). Registries kept in the event store have it; the subscription limits
   * then hold for all replicas together.
   */
  sync?(): Promise<void>;
}

/**
 * The standalone registry: definitions as JSON documents in the store, so they survive restarts.
 * With `secrets`, credentials and sensitive header values are sealed in the stored documents.
 */
export class StoreSubscriptionRegistry implements SubscriptionRegistry {
  constructor(
    private readonly store: EventStore,
    private readonly secrets?: DefinitionSecrets,
  ) {}

  private decode(document: string): SubscriptionDefinition {
    const definition = JSON.parse(document) as SubscriptionDefinition;
    return this.secrets === undefined ? definition : this.secrets.open(definition);
  }

  async list(): Promise<SubscriptionDefinition[]> {
    return (await this.store.listSubscriptions()).map((record) => this.decode(record.document));
  }

  /** The document stored for a definition: secrets sealed when a key is configured. */
  private encode(definition: SubscriptionDefinition): string {
    return JSON.stringify(this.secrets === undefined ? definition : this.secrets.seal(definition));
  }

  put(definition: SubscriptionDefinition): Promise<void> {
    return this.store.putSubscription({ id: definition.id, document: this.encode(definition) });
  }

  async replace(
    definition: SubscriptionDefinition,
    base?: SubscriptionDefinition,
  ): Promise<boolean | SubscriptionDefinition> {
    // Compared as stored: a round trip through JSON leaves out what is undefined.
    const expected = base === undefined ? undefined : (JSON.parse(JSON.stringify(base)) as unknown);
    let changed: SubscriptionDefinition | undefined;
    const stillThis = (document: string) => {
      // The incarnation is never sealed: the stored document is read as it is.
      const { incarnation } = JSON.parse(document) as Pick<SubscriptionDefinition, 'incarnation'>;
      if (incarnation !== definition.incarnation) return false;
      if (expected === undefined) return true;
      const stored = this.decode(document);
      // Another replica's change of this subscription, made since `base` (a store may ask again).
      changed = isDeepStrictEqual(stored, expected) ? undefined : stored;
      return changed === undefined;
    };
    const replaced = await this.store.replaceSubscription(
      { id: definition.id, document: this.encode(definition) },
      stillThis,
    );
    return replaced || (changed ?? false);
  }

  putMany(definitions: readonly SubscriptionDefinition[]): Promise<void> {
    return this.putManyWithCursors(definitions, []);
  }

  putManyWithCursors(
    definitions: readonly SubscriptionDefinition[],
    cursors: ReadonlyArray<readonly [string, number]>,
  ): Promise<void> {
    return this.store.putSubscriptions(
      definitions.map((definition) => ({ id: definition.id, document: this.encode(definition) })),
      cursors,
    );
  }

  delete(id: string): Promise<boolean> {
    return this.store.deleteSubscription(id);
  }

  sync(): Promise<void> {
    return this.store.syncSubscriptions();
  }

  watch(listener: RegistryListener): () => void {
    return this.store.watchSubscriptions((id, record) =>
      listener(id, record === undefined ? undefined : this.decode(record.document)),
    );
  }
}
