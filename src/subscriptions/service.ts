import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { HeraldError } from '../errors/index.js';
import type { SqlCompiler } from '../filters/index.js';
import type { Logger } from '../observability/index.js';
import { SensitiveHeaders } from '../sink-credentials/index.js';
import { KeyedSerial } from '../store/index.js';
import type { DeadLetter, EventStore } from '../store/index.js';
import { cursorKeyOf } from './cursor-key.js';
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

/** Dead letters a redrive looks over at a time, each with its event: the most it holds at once. */
const REDRIVE_PAGE = 100;
/** Unknown ids a refused redrive names (the rest are counted). */
const UNKNOWN_NAMED = 20;

/** Creates, changes and controls subscriptions, keeping the registry and the dispatcher in step. */
export class SubscriptionService {
  private readonly definitions = new Map<string, SubscriptionDefinition>();
  /**
   * The changes of one subscription, made here (start, create, PUT, pause, seek, delete) or heard from the
   * registry (other replicas' writes, this one's echoes), are applied one at a time, in the order begun
   * or heard. Applying one waits (for the registry's write, a start position, the dispatcher), and one
   * begun or heard meanwhile must not overtake it: a delete reaching the dispatcher before a change's
   * `add` would leave the deleted subscription delivered here, unlisted, until the process restarts; a
   * pause reaching it before a PUT's `add` is undone by the worker the PUT starts (the registry says
   * paused, this replica delivers); two seeks reading the same epoch write the same one, and a replica
   * delivering the subscription applies only the first. A change never waits for one queued behind it
   * (this replica's own writes are heard later, queued, never awaited), so changes cannot deadlock.
   */
  private readonly changes = new KeyedSerial();
  /** Ticks at every change heard and every write begun: which came first. */
  private clock = 0;
  /** Per subscription: the heard changes not applied yet. */
  private readonly unapplied = new Map<string, number>();
  /**
   * Per subscription with heard changes waiting: when (`clock`) this replica began its last write of it
   * that succeeded. A change heard before that write was in the registry before it, and the write
   * replaced it: applied after it (waiting behind the change that wrote), it would undo the write here
   * until the write's own echo is heard — the echo of a PUT would bring back the subscription deleted
   * since, undo a pause.
   */
  private readonly wroteAt = new Map<string, number>();
  /** Per subscription with heard changes waiting: the definition last heard (undefined: deleted). */
  private readonly lastHeard = new Map<string, SubscriptionDefinition | undefined>();
  private unwatch: (() => void) | undefined;
  private readonly sensitive: SensitiveHeaders;
  private readonly limits: SubscriptionLimits;

  constructor(private readonly options: SubscriptionServiceOptions) {
    this.sensitive = options.sensitiveHeaders ?? new SensitiveHeaders();
    this.limits = new SubscriptionLimits(this.definitions, this.lastHeard, options);
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
      const heardAt = ++this.clock;
      this.unapplied.set(id, (this.unapplied.get(id) ?? 0) + 1);
      this.lastHeard.set(id, definition);
      this.changes
        .run(id, async () => {
          try {
            if ((this.wroteAt.get(id) ?? 0) < heardAt)
              await this.applyRemote(id, definition, withheld === true);
          } finally {
            this.applied(id);
          }
        })
        .catch((error: unknown) => {
          this.options.logger.error(
            { err: error, subscription: id },
            'applying a subscription change failed',
          );
        });
    });
    try {
      for (const definition of await this.options.registry.list()) {
        // A change of the subscription like any other (see `changes`): one heard while it waits for its
        // start position is applied after its `add`, not before.
        await this.changing([definition.id], async () => {
          if (heard?.has(definition.id) === true) return;
          try {
            const compiled = compileSubscription(definition, this.options.sql);
            this.definitions.set(definition.id, definition);
            await this.options.dispatcher.add(compiled, await this.resolvePosition(definition.startAt));
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
   * Applies a definition written by another process. Our own writes come back too; they match what we
   * hold already and change nothing.
   */
  private async applyRemote(
    id: string,
    definition: SubscriptionDefinition | undefined,
    withheld: boolean,
  ): Promise<void> {
    const { dispatcher, sql } = this.options;
    const current = this.definitions.get(id);
    if (definition === undefined) {
      if (current === undefined) {
        // Deleted while withheld (or withheld since start): the cursor kept for it goes now, or a new
        // subscription of the same name would start from it instead of its startAt.
        if (!withheld) await dispatcher.remove(id, true);
        return;
      }
      this.definitions.delete(id);
      // A withheld definition keeps its cursor: it resumes there when it is valid again.
      await dispatcher.remove(id, !withheld);
      // The replica that deleted it removed its dead letters at once, while this one (delivering it, or
      // redriving) still let its attempt in flight end, and a refusal that ended it was stored after that:
      // left, it was listed by no one and handed to a subscription made again under the id as its own.
      if (!withheld) await this.dropDeadLetters(id);
      return;
    }
    if (current !== undefined && JSON.stringify(current) === JSON.stringify(definition)) return;
    if (current === undefined || essenceOf(current) !== essenceOf(definition)) {
      let compiled;
      try {
        compiled = compileSubscription(definition, sql);
      } catch (error) {
        // Written by a replica whose limits allowed it, beyond this one's: neither listed nor delivered here
        // (the old definition's filters must not go on delivering), its cursor kept.
        if (current !== undefined) {
          this.definitions.delete(id);
          await dispatcher.remove(id, false);
        }
        throw error;
      }
      this.definitions.set(id, definition);
      await dispatcher.add(compiled, await this.resolvePosition(definition.startAt));
      return;
    }
    this.definitions.set(id, definition);
    if (current.paused !== definition.paused) await dispatcher.setPaused(id, definition.paused);
    if (definition.seek !== undefined && definition.seek.epoch !== current.seek?.epoch) {
      await dispatcher.seek(id, definition.seek.next, definition.seek.epoch);
    }
  }

  /**
   * Runs `task` as the change under way of every subscription in `ids` (see `changes`): what it reads
   * of them (`get`) is current until it ends.
   */
  private changing<T>(ids: readonly string[], task: () => Promise<T>): Promise<T> {
    // Entered in id order, so two changes with ids in common never each hold one the other waits for.
    const sorted = [...new Set(ids)].sort();
    const enter = (i: number): Promise<T> => {
      const id = sorted[i];
      return id === undefined ? task() : this.changes.run(id, () => enter(i + 1));
    };
    return enter(0);
  }

  /** A heard change of `id` is done with. */
  private applied(id: string): void {
    const left = (this.unapplied.get(id) ?? 1) - 1;
    if (left > 0) {
      this.unapplied.set(id, left);
      return;
    }
    // Nothing heard before a write of ours is left to skip.
    this.unapplied.delete(id);
    this.wroteAt.delete(id);
    this.lastHeard.delete(id);
  }

  /**
   * Writes the definitions of `ids` in the registry, within their change (see `wroteAt`). One that
   * `changed` nothing of what this replica held leaves no mark: the registry may hold a change heard
   * before it still (a Kubernetes patch of Herald's state keeps the spec another writer changed, and
   * no echo follows a patch that changed nothing).
   */
  private async write<T>(ids: readonly string[], write: () => Promise<T>, changed = true): Promise<T> {
    const began = ++this.clock;
    const result = await write();
    // A replacement the registry refused (false) wrote nothing.
    if (changed && result !== false)
      for (const id of ids) if (this.unapplied.has(id)) this.wroteAt.set(id, began);
    return result;
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
        replaced = await this.write([id], () => this.options.registry.replace(definition, base), changed);
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
    return viewOf(definition, this.sensitive, this.options.dispatcher);
  }

  list(): SubscriptionDefinition[] {
    return [...this.definitions.values()];
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
    return this.changing(created, async () => {
      for (const definition of definitions) this.definitions.set(definition.id, definition);
      // Counted by `definitions` now (and again not, should the write fail).
      release();
      try {
        // Cursors are durable no later than definitions, so a crash in between never starts a
        // subscription from a later "latest". In the store: one transaction for all of them.
        await this.write(created, async () => {
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
        await this.write([definition.id], () => this.options.registry.delete(definition.id));
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
    return this.changing([id], async () => {
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
    return this.changing([id], async () => {
      const definition = this.get(id);
      this.assertApiManaged(definition, 'delete');
      // The store first: a delete it refuses changes nothing. Stopped and forgotten here first, the
      // subscription answered 404 from then on while the store kept it, and it came back at the next start.
      await this.write([id], () => this.options.registry.delete(id));
      this.definitions.delete(id);
      await this.options.dispatcher.remove(id, true);
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
    return this.changing([id], async () => {
      const current = this.get(id);
      const written = await this.replace(current, (base) => ({ ...base, paused }), current.paused !== paused);
      if (essenceOf(written) === essenceOf(current) && written.seek?.epoch === current.seek?.epoch)
        await this.options.dispatcher.setPaused(id, paused);
      // Made from another replica's change not heard here yet.
      else await this.deliverAs(current, written);
      return written;
    });
  }

  seek(id: string, to: StartPosition): Promise<SubscriptionDefinition> {
    return this.changing([id], async () => {
      const current = this.get(id);
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
   * Starts re-delivering dead letters (all, or the given ids); answers how many were taken. Looked over a
   * page at a time and handed on by id (all: up to the last one now): listed at once, every letter was in
   * memory with its event until the last was delivered. Ids are found in a set: compared with every
   * letter (ids × letters), a long list held the event loop for seconds to minutes.
   */
  async redrive(id: string, ids: readonly string[] | undefined): Promise<number> {
    this.get(id);
    const wanted = ids === undefined ? undefined : new Set(ids);
    const found: string[] = [];
    let taken = 0;
    let through: string | undefined;
    for (let after: string | undefined; ;) {
      const page = await this.options.store.listDeadLetters(id, REDRIVE_PAGE, after);
      for (const letter of page) {
        if (wanted === undefined) taken++;
        else if (wanted.has(letter.id)) found.push(letter.id);
      }
      const last = page[page.length - 1];
      if (last === undefined) break;
      through = after = last.id;
      if (page.length < REDRIVE_PAGE || (wanted !== undefined && found.length === wanted.size)) break;
      // The store may read a page synchronously (the embedded one does): requests go on between pages.
      await yieldToEventLoop();
    }
    if (wanted !== undefined && found.length < wanted.size) {
      const known = new Set(found);
      const unknown = [...wanted].filter((i) => !known.has(i));
      // Named up to a few: a body of a million unknown ids made a detail of megabytes.
      const named = unknown.slice(0, UNKNOWN_NAMED).map((u) => `'${u}'`);
      const more = unknown.length > UNKNOWN_NAMED ? ` and ${unknown.length - UNKNOWN_NAMED} more` : '';
      const detail = `no dead letter with id ${named.join(', ')}${more}`;
      throw new HeraldError('HERALD_NOT_FOUND', detail, { pointer: '/ids' });
    }
    const selection = wanted === undefined ? { through } : { ids: found };
    const compiled = compileSubscription(this.get(id), this.options.sql);
    void this.options.dispatcher.redrive(compiled, selection).catch((error: unknown) => {
      this.options.logger.error({ err: error, subscription: id }, 'redrive failed');
    });
    return wanted === undefined ? taken : found.length;
  }
}
