import { randomUUID } from 'node:crypto';
import { HeraldError } from '../errors/index.js';
import type { SqlCompiler } from '../filters/index.js';
import type { Logger } from '../observability/index.js';
import { SensitiveHeaders } from '../sink-credentials/index.js';
import type { DeadLetter, EventStore } from '../store/index.js';
import { ChangeOrder } from './change-order.js';
import { cursorKeyOf } from './cursor-key.js';
import { selectDeadLetters } from './redrive.js';
import { checkDefinitionSinks } from './sink-checks.js';
import type { SinkCheckOptions } from './sink-checks.js';
import type { DeliveryControl } from './delivery-port.js';
import { SubscriptionLimits } from './limits.js';
import type { SubscriptionLimitOptions } from './limits.js';
import type { SubscriptionRegistry } from './registry.js';
import type {
  CompiledSubscription,
  DeliverySpec,
  SeedView,
  StartPosition,
  SubscriptionDefinition,
  SubscriptionOrigin,
  SubscriptionStatus,
} from './types.js';
import type { SubscriptionRequest } from './validate.js';
import { buildDefinition, compileSubscription } from './validate.js';
import { deadLetterPage, definitionPage, viewOf } from './views.js';
import type { SubscriptionView } from './views.js';

export type { DeadLetterView, SubscriptionView } from './views.js';

export interface SubscriptionServiceOptions extends SubscriptionLimitOptions, SinkCheckOptions {
  readonly registry: SubscriptionRegistry;
  readonly dispatcher: DeliveryControl;
  readonly store: EventStore;
  readonly logger: Logger;
  readonly sql: SqlCompiler | undefined;
  /** Applied where a subscription's `delivery` leaves a setting out. */
  readonly deliveryDefaults?: DeliverySpec;
  /** Header names whose values are write-only (never in a view). */
  readonly sensitiveHeaders?: SensitiveHeaders;
}

/** What a definition delivers: all but its operational state (pause, seek). */
const essenceOf = (d: SubscriptionDefinition) => JSON.stringify({ ...d, paused: false, seek: undefined });

/** How often a change is made again from another replica's change it had not heard (see `replace`). */
const CHANGE_ATTEMPTS = 5;

function notFound(id: string): HeraldError {
  return new HeraldError('HERALD_NOT_FOUND', `subscription '${id}' does not exist`);
}

/** Why a stored subscription cannot start here, as its status's `lastError` says. */
type InvalidReason = NonNullable<SubscriptionStatus['lastError']>;

/** Creates, changes and controls subscriptions, keeping the registry and the dispatcher in step. */
export class SubscriptionService {
  private readonly definitions = new Map<string, SubscriptionDefinition>();
  /**
   * Stored subscriptions this replica cannot start, and why: written where a limit was looser (another
   * replica, an earlier version or configuration). Held among `definitions` all the same, so they stay
   * listed, counted by the limits, deletable, and a PUT of a valid definition brings them back from
   * their cursor: dropped, they vanished from this broker with their cursor and dead letters left stored.
   */
  private readonly invalid = new Map<string, InvalidReason>();
  /** In which order the changes of a subscription, made here or heard, are applied (see `ChangeOrder`). */
  private readonly order = new ChangeOrder();
  private unwatch: (() => void) | undefined;
  private readonly sensitive: SensitiveHeaders;
  private readonly limits: SubscriptionLimits;

  constructor(private readonly options: SubscriptionServiceOptions) {
    this.sensitive = options.sensitiveHeaders ?? new SensitiveHeaders();
    this.limits = new SubscriptionLimits(this.definitions, this.order.lastHeard, options);
  }

  /** The sink guard's create-time check of one sink URL (throws `HERALD_SINK_FORBIDDEN`). */
  checkSink(url: string, pointer: string): void {
    this.options.checkSink?.(url, pointer);
  }

  /** The sink guard's create-time check of every address the definition delivers to, and its secrets. */
  private checkSinks(definition: SubscriptionDefinition): void {
    checkDefinitionSinks(definition, this.sensitive, this.options);
  }

  /** Starts delivery for every stored definition, and follows changes made by other replicas. */
  async start(): Promise<void> {
    // The ids the watch reported while the stored definitions start. The watch reports every change made
    // after the list's snapshot, so what it said of an id is at least as current as the snapshot: the
    // listed definition of such an id must not be started over it (a deleted one would be delivered
    // here, unlisted; a pause or PUT heard would be undone).
    let heard: Set<string> | undefined = new Set<string>();
    this.unwatch = this.options.registry.watch((id, definition, withheld) => {
      heard?.add(id);
      this.order
        .heard(id, definition, () => this.applyRemote(id, definition, withheld === true))
        .catch((error: unknown) => {
          this.options.logger.error(
            { err: error, subscription: id },
            'applying a subscription change failed',
          );
        });
    });
    try {
      for (const definition of await this.options.registry.list()) {
        // A change of the subscription like any other (see `ChangeOrder`): one heard while it waits for its
        // start position is applied after its `add`, not before.
        await this.order.changing([definition.id], async () => {
          if (heard?.has(definition.id) === true) return;
          try {
            await this.deliverOrHold(definition);
          } catch (error) {
            this.options.logger.error(
              { err: error, subscription: definition.id },
              'stored subscription cannot start',
            );
          }
        });
      }
    } finally {
      // From now on the watch alone says what changed: nothing to compare with.
      heard = undefined;
    }
  }

  stop(): void {
    this.unwatch?.();
  }

  /**
   * Holds a stored `definition` and starts delivering it; answers false when it cannot start here (it
   * does not compile within this broker's limits): then it is held as invalid (see `invalid`), logged.
   */
  private async deliverOrHold(definition: SubscriptionDefinition): Promise<boolean> {
    const { id } = definition;
    this.definitions.set(id, definition);
    let compiled;
    try {
      compiled = compileSubscription(definition, this.options.sql);
    } catch (error) {
      const { code, message } =
        error instanceof HeraldError ? error : { code: 'HERALD_INVALID_REQUEST', message: String(error) };
      this.invalid.set(id, { code, message, at: new Date().toISOString() });
      this.options.logger.error({ err: error, subscription: id }, 'stored subscription cannot start');
      return false;
    }
    this.invalid.delete(id);
    await this.options.dispatcher.add(compiled, await this.resolvePosition(definition.startAt));
    return true;
  }

  /** Throws for a subscription held as invalid: it has no delivery to pause, seek or redrive. */
  private assertStartable(id: string): void {
    const reason = this.invalid.get(id);
    if (reason === undefined) return;
    throw new HeraldError(
      'HERALD_CONFLICT',
      `subscription '${id}' cannot start on this broker (${reason.code}: ${reason.message}); PUT a valid definition or delete it`,
    );
  }

  /**
   * Applies a definition written by another process. Our own writes come back too; they match what we
   * hold already and change nothing.
   */
  private async applyRemote(
    id: string,
    definition: SubscriptionDefinition | undefined,
    withheld: boolean,
  ): Promise<void> {
    const { dispatcher } = this.options;
    const current = this.definitions.get(id);
    if (definition === undefined) {
      if (current === undefined) {
        // Deleted while withheld (or withheld since start): the cursor kept for it goes now, or a new
        // subscription of the same name would start from it instead of its startAt.
        if (!withheld) await dispatcher.remove(id, true);
        return;
      }
      this.definitions.delete(id);
      const held = this.invalid.delete(id);
      // A withheld definition keeps its cursor: it resumes there when it is valid again.
      await dispatcher.remove(id, !withheld);
      // Never started here, the dispatcher knows only its bare id's cursor, not its incarnation's.
      if (held && !withheld) await this.options.store.deleteCursor(cursorKeyOf(current));
      // The replica that deleted it removed its dead letters at once, while this one (delivering it, or
      // redriving) still let its attempt in flight end, and a refusal that ended it was stored after that:
      // left, it was listed by no one and handed to a subscription made again under the id as its own.
      if (!withheld) await this.dropDeadLetters(id);
      return;
    }
    if (current !== undefined && JSON.stringify(current) === JSON.stringify(definition)) return;
    if (current === undefined || this.invalid.has(id) || essenceOf(current) !== essenceOf(definition)) {
      // Written by a replica whose limits allowed it, beyond this one's: listed here as invalid, not
      // delivered (the old definition's filters must not go on delivering), its cursor kept.
      if (!(await this.deliverOrHold(definition)) && current !== undefined)
        await dispatcher.remove(id, false);
      return;
    }
    this.definitions.set(id, definition);
    if (current.paused !== definition.paused) await dispatcher.setPaused(id, definition.paused);
    if (definition.seek !== undefined && definition.seek.epoch !== current.seek?.epoch) {
      await dispatcher.seek(id, definition.seek.next, definition.seek.epoch);
    }
  }

  /**
   * Writes `change` of an existing subscription, made from `current`; answers the definition written.
   * The registry refuses it when the subscription is stored no more (another replica deleted it, and this
   * one has not heard yet): it is then gone here as well, as the delete says once heard, and the change
   * answers 404. A plain write would bring it back to every replica, its cursor forgotten. When another
   * replica changed it meanwhile, the change is made again from what is stored: written from `current`,
   * a pause undid a PUT made elsewhere a moment before (and a PUT a pause), on every replica.
   */
  private async replace(
    current: SubscriptionDefinition,
    change: (base: SubscriptionDefinition) => SubscriptionDefinition,
    changed = true,
  ): Promise<SubscriptionDefinition> {
    const { id } = current;
    let base = current;
    for (let attempt = 1; ; attempt++) {
      const definition = change(base);
      this.definitions.set(id, definition);
      let replaced: boolean | SubscriptionDefinition;
      try {
        replaced = await this.order.write(
          [id],
          () => this.options.registry.replace(definition, base),
          changed,
        );
      } catch (error) {
        // Not written (a database another process holds locked, a store that is down): the change failed,
        // and the broker goes on listing what it delivers and the store holds. Kept, a failed PUT was
        // listed while the old sink got the events, until a restart brought the stored one back.
        if (this.definitions.get(id) === definition) this.definitions.set(id, current);
        throw error;
      }
      if (replaced === true) return definition;
      if (replaced === false) {
        this.definitions.delete(id);
        await this.options.dispatcher.remove(id, true);
        throw notFound(id);
      }
      if (attempt >= CHANGE_ATTEMPTS) {
        if (this.definitions.get(id) === definition) this.definitions.set(id, current);
        throw new HeraldError(
          'HERALD_CONFLICT',
          `subscription '${id}' kept being changed by other replicas while this change was written; send it again`,
        );
      }
      base = replaced;
      changed = true;
    }
  }

  /**
   * Brings this replica's delivery from `held` to `written`, which a change wrote over another replica's
   * change it had not heard yet (see `replace`): that change's echo comes before the write's, and is not
   * applied after it. Its seek too, unless the change is a seek (which seeks itself).
   */
  private async deliverAs(
    held: SubscriptionDefinition,
    written: SubscriptionDefinition,
    seek = true,
  ): Promise<void> {
    const { dispatcher } = this.options;
    if (essenceOf(held) !== essenceOf(written)) {
      const compiled = compileSubscription(written, this.options.sql);
      await dispatcher.add(compiled, await this.resolvePosition(written.startAt));
    } else if (held.paused !== written.paused) await dispatcher.setPaused(written.id, written.paused);
    if (seek && written.seek !== undefined && written.seek.epoch !== held.seek?.epoch)
      await dispatcher.seek(written.id, written.seek.next, written.seek.epoch);
  }

  /** The sequence a start position designates now. */
  async resolvePosition(position: StartPosition): Promise<number> {
    const { store } = this.options;
    if (position === 'latest') return (await store.stats()).last + 1;
    if (position === 'earliest') return (await store.stats()).first;
    if ('sequence' in position) return Math.max(position.sequence, 1);
    return store.sequenceAt(Date.parse(position.time));
  }

  private get(id: string): SubscriptionDefinition {
    const definition = this.definitions.get(id);
    if (definition === undefined) throw notFound(id);
    return definition;
  }

  view(definition: SubscriptionDefinition): SubscriptionView {
    return viewOf(definition, this.sensitive, this.options.dispatcher, this.invalid.get(definition.id));
  }

  list(): SubscriptionDefinition[] {
    return [...this.definitions.values()];
  }

  /** The stored subscriptions this replica holds as invalid, each with the code that says why. */
  *invalidCodes(): Iterable<readonly [string, string]> {
    for (const [id, reason] of this.invalid) yield [id, reason.code];
  }

  find(id: string): SubscriptionDefinition {
    return this.get(id);
  }

  /** Throws when `owner` may not create `count` more subscriptions (`--max-subscriptions`). */
  assertCapacity(owner: string | undefined, count: number): void {
    this.limits.assertOwnerCapacity(owner, count);
  }

  async create(
    request: SubscriptionRequest,
    origin: SubscriptionOrigin = 'api',
    seed?: SeedView,
    id: string = randomUUID(),
    owner?: string,
  ): Promise<SubscriptionDefinition> {
    const [definition] = await this.createMany([request], origin, seed, [id], owner);
    return definition as SubscriptionDefinition;
  }

  /**
   * Creates several subscriptions as one change: all of them or none are accepted, their cursors are
   * committed in one write and their definitions stored in one more (one transaction each on the
   * embedded store), instead of two commits per subscription.
   */
  async createMany(
    requests: readonly SubscriptionRequest[],
    origin: SubscriptionOrigin,
    seed: SeedView | undefined,
    ids: readonly string[],
    owner?: string,
  ): Promise<SubscriptionDefinition[]> {
    // Made again when it raced creates through other replicas at a limit (see `createReserved`).
    return this.limits.retryRaced(async () => {
      // Shared by replicas: every create stored before this one, on any replica, is heard (counted) first.
      await this.options.registry.sync?.();
      // Counted from here on, and checked with the creates under way (see `SubscriptionLimits`).
      const release = this.limits.reserve(owner, requests.length);
      try {
        return await this.createReserved(requests, origin, seed, ids, owner, release);
      } finally {
        release();
      }
    });
  }

  /** `createMany` once its subscriptions are counted; `release` once `definitions` holds them. */
  private async createReserved(
    requests: readonly SubscriptionRequest[],
    origin: SubscriptionOrigin,
    seed: SeedView | undefined,
    ids: readonly string[],
    owner: string | undefined,
    release: () => void,
  ): Promise<SubscriptionDefinition[]> {
    const createdAt = new Date().toISOString();
    const prepared: Array<{
      definition: SubscriptionDefinition;
      compiled: CompiledSubscription;
      cursor: number;
    }> = [];
    for (const [i, request] of requests.entries()) {
      const id = ids[i] ?? randomUUID();
      const definition = buildDefinition(
        id,
        request,
        // A new incarnation for every create, also of an id that existed before (its cursor is its own).
        { origin, seed, paused: false, createdAt, incarnation: randomUUID(), owner },
        this.options.deliveryDefaults,
      );
      this.checkSinks(definition);
      const compiled = compileSubscription(definition, this.options.sql);
      prepared.push({ definition, compiled, cursor: await this.resolvePosition(definition.startAt) });
    }
    const definitions = prepared.map(({ definition }) => definition);
    const cursors = prepared.map(({ definition, cursor }): [string, number] => [
      cursorKeyOf(definition),
      cursor,
    ]);
    const { registry, store } = this.options;
    // One change of all of them, entered before they are written: another replica may delete one as soon
    // as it hears of it, and that delete is then applied after this batch's `add`, not before.
    const created = definitions.map((d) => d.id);
    return this.order.changing(created, async () => {
      for (const definition of definitions) this.definitions.set(definition.id, definition);
      // Counted by `definitions` now (and again not, should the write fail).
      release();
      try {
        // Cursors are durable no later than definitions, so a crash in between never starts a
        // subscription from a later "latest". In the store: one transaction for all of them.
        await this.order.write(created, async () => {
          if (registry.putManyWithCursors !== undefined)
            await registry.putManyWithCursors(definitions, cursors);
          else {
            await store.commitCursors(cursors);
            await registry.putMany(definitions);
          }
        });
        // Replicas sharing the registry: checked again with every replica's creates stored before these
        // (a create under way on another replica passed its own check meanwhile), before any is delivered.
        if (registry.sync !== undefined) {
          await registry.sync();
          this.limits.assertHeld(owner);
        }
      } catch (error) {
        for (const { definition } of prepared) this.definitions.delete(definition.id);
        await this.undoCreate(definitions);
        throw error;
      }
      for (const { definition, compiled, cursor } of prepared) {
        await this.options.dispatcher.add(compiled, cursor);
        this.options.logger.info(
          { subscription: definition.id, sink: definition.sink, origin, cursor },
          'subscription created',
        );
      }
      return definitions;
    });
  }

  /**
   * Takes back what a failed `createMany` may have stored. Only the embedded store writes several
   * definitions in one transaction; JetStream KV, Kafka and the Kubernetes API server take them one by
   * one, and a failure part-way leaves some stored. The caller was told the create failed and holds no
   * id to delete them by (a seed group's client retries, and each event would reach those sinks twice):
   * left stored, they would be delivered by every replica that hears or lists them. Within the create's
   * change, so the echo of a write taken back here is not applied after it. A store that fails the undo
   * too is logged: what stays behind is listed, and can be deleted.
   */
  private async undoCreate(definitions: readonly SubscriptionDefinition[]): Promise<void> {
    for (const definition of definitions) {
      try {
        await this.order.write([definition.id], () => this.options.registry.delete(definition.id));
        await this.options.store.deleteCursor(cursorKeyOf(definition));
      } catch (error) {
        this.options.logger.error(
          { err: error, subscription: definition.id },
          'a subscription of a failed create could not be taken back; delete it',
        );
      }
    }
  }

  update(id: string, request: SubscriptionRequest): Promise<SubscriptionDefinition> {
    return this.order.changing([id], async () => {
      // Read within the change: deleted meanwhile answers 404, paused meanwhile stays paused.
      const current = this.get(id);
      this.assertApiManaged(current, 'change');
      const build = (base: SubscriptionDefinition) =>
        buildDefinition(id, request, base, this.options.deliveryDefaults);
      const definition = build(current);
      this.checkSinks(definition);
      compileSubscription(definition, this.options.sql);
      const changed = JSON.stringify(definition) !== JSON.stringify(current);
      const written = await this.replace(current, build, changed);
      // The cursor is kept: changing a subscription never skips or replays events (use seek for that).
      const compiled = compileSubscription(written, this.options.sql);
      // Held as invalid until now: delivered again, from the cursor it kept.
      this.invalid.delete(id);
      await this.options.dispatcher.add(compiled, await this.resolvePosition(written.startAt));
      // Made from another replica's seek not heard here yet: this replica may deliver the subscription.
      if (written.seek !== undefined && written.seek.epoch !== current.seek?.epoch)
        await this.options.dispatcher.seek(id, written.seek.next, written.seek.epoch);
      return written;
    });
  }

  /**
   * A subscription declared by a Kubernetes resource belongs to whoever wrote the resource (a person
   * or a GitOps tool that would recreate it): its spec and existence change only through the resource.
   * Pause, resume, seek and redrive stay allowed; they are operational state, not the declared spec.
   */
  private assertApiManaged(definition: SubscriptionDefinition, action: 'change' | 'delete'): void {
    if (definition.origin !== 'kubernetes') return;
    const where =
      this.options.registry.declaredAt?.(definition.id) ?? `its Subscription resource '${definition.id}'`;
    throw new HeraldError(
      'HERALD_CONFLICT',
      `subscription '${definition.id}' is declared by ${where}; ${action} the resource instead`,
    );
  }

  delete(id: string): Promise<SubscriptionDefinition> {
    return this.order.changing([id], async () => {
      const definition = this.get(id);
      this.assertApiManaged(definition, 'delete');
      // The store first: a delete it refuses changes nothing. Stopped and forgotten here first, the
      // subscription answered 404 from then on while the store kept it, and it came back at the next start.
      await this.order.write([id], () => this.options.registry.delete(id));
      this.definitions.delete(id);
      const held = this.invalid.delete(id);
      await this.options.dispatcher.remove(id, true);
      // Never started here, the dispatcher knows only its bare id's cursor, not its incarnation's.
      if (held) await this.options.store.deleteCursor(cursorKeyOf(definition));
      await this.dropDeadLetters(id);
      this.options.logger.info({ subscription: id }, 'subscription deleted');
      return definition;
    });
  }

  /**
   * Removes every dead letter of a deleted subscription, once its delivery here has stopped. The store
   * deletes them without reading them: listed first for their ids, every letter's event was in memory at
   * once (gigabytes for a subscription with hundreds of thousands of letters).
   */
  private async dropDeadLetters(id: string): Promise<void> {
    await this.options.store.deleteAllDeadLetters(id);
  }

  setPaused(id: string, paused: boolean): Promise<SubscriptionDefinition> {
    return this.order.changing([id], async () => {
      const current = this.get(id);
      this.assertStartable(id);
      const written = await this.replace(current, (base) => ({ ...base, paused }), current.paused !== paused);
      if (essenceOf(written) === essenceOf(current) && written.seek?.epoch === current.seek?.epoch)
        await this.options.dispatcher.setPaused(id, paused);
      // Made from another replica's change not heard here yet.
      else await this.deliverAs(current, written);
      return written;
    });
  }

  seek(id: string, to: StartPosition): Promise<SubscriptionDefinition> {
    return this.order.changing([id], async () => {
      const current = this.get(id);
      this.assertStartable(id);
      const next = await this.resolvePosition(to);
      // The epoch read within the change, from what is stored: two seeks never write the same one.
      const written = await this.replace(current, (base) => ({
        ...base,
        seek: { next, epoch: (base.seek?.epoch ?? 0) + 1 },
      }));
      // Another replica may deliver this subscription: it applies the seek from the definition.
      await this.options.store.commitCursor(cursorKeyOf(current), next);
      // Made from another replica's change not heard here yet (its seek is overtaken by this one).
      if (essenceOf(written) !== essenceOf(current) || written.paused !== current.paused)
        await this.deliverAs(current, written, false);
      // Queued behind any change of the subscription under way (a PUT replacing its worker), whose own
      // cursor commit would otherwise overwrite this one.
      await this.options.dispatcher.seek(id, next, written.seek?.epoch ?? 0);
      this.options.logger.info({ subscription: id, next }, 'subscription seeked');
      return written;
    });
  }

  /**
   * One page of a subscription's dead letters, in id order, after the dead letter `after`
   * (`deadLetterPage`): at most `limit` letters and, past the first, `maxBytes` of them.
   */
  async deadLetters(
    id: string,
    limit: number,
    after?: string,
    maxBytes?: number,
  ): Promise<{ letters: DeadLetter[]; last: string | undefined; more: boolean }> {
    // Checked first: an unknown subscription answers 404, not an empty page (a rejection, as ever).
    this.get(id);
    return deadLetterPage(this.options.store, id, limit, after, maxBytes);
  }

  /** One page of subscriptions in id order, after the subscription `after` (only `owner`'s, when given). */
  page(
    limit: number,
    after?: string,
    owner?: string,
  ): { definitions: SubscriptionDefinition[]; more: boolean } {
    return definitionPage(this.definitions, limit, after, owner);
  }

  /**
   * Starts re-delivering dead letters (all, or the given ids, `selectDeadLetters`); answers how many
   * were taken.
   */
  async redrive(id: string, ids: readonly string[] | undefined): Promise<number> {
    this.get(id);
    this.assertStartable(id);
    const { selection, taken } = await selectDeadLetters(this.options.store, id, ids);
    const compiled = compileSubscription(this.get(id), this.options.sql);
    void this.options.dispatcher.redrive(compiled, selection).catch((error: unknown) => {
      this.options.logger.error({ err: error, subscription: id }, 'redrive failed');
    });
    return taken;
  }
}
