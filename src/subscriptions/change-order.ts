// The order in which the changes of a subscription are applied on one replica: those made here and those
// heard from the registry. Kept apart from what the changes do (service.ts), which only says when a
// change begins, writes, or is heard.
import { KeyedSerial } from '../store/index.js';
import type { SubscriptionDefinition } from './types.js';

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
export class ChangeOrder {
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
  readonly lastHeard = new Map<string, SubscriptionDefinition | undefined>();

  /**
   * Queues the change of `id` heard from the registry (`definition`, undefined when deleted): `apply`
   * runs in its turn, unless a write of this replica begun after it was heard replaced it meanwhile.
   */
  heard(
    id: string,
    definition: SubscriptionDefinition | undefined,
    apply: () => Promise<void>,
  ): Promise<void> {
    const heardAt = ++this.clock;
    this.unapplied.set(id, (this.unapplied.get(id) ?? 0) + 1);
    this.lastHeard.set(id, definition);
    return this.changes.run(id, async () => {
      try {
        if ((this.wroteAt.get(id) ?? 0) < heardAt) await apply();
      } finally {
        this.applied(id);
      }
    });
  }

  /**
   * Runs `task` as the change under way of every subscription in `ids`: what it reads of them is current
   * until it ends.
   */
  changing<T>(ids: readonly string[], task: () => Promise<T>): Promise<T> {
    // Entered in id order, so two changes with ids in common never each hold one the other waits for.
    const sorted = [...new Set(ids)].sort();
    const enter = (i: number): Promise<T> => {
      const id = sorted[i];
      return id === undefined ? task() : this.changes.run(id, () => enter(i + 1));
    };
    return enter(0);
  }

  /**
   * Writes the definitions of `ids` in the registry, within their change (see `wroteAt`). One that
   * `changed` nothing of what this replica held leaves no mark: the registry may hold a change heard
   * before it still (a Kubernetes patch of Herald's state keeps the spec another writer changed, and
   * no echo follows a patch that changed nothing).
   */
  async write<T>(ids: readonly string[], write: () => Promise<T>, changed = true): Promise<T> {
    const began = ++this.clock;
    const result = await write();
    // A replacement the registry refused (false) wrote nothing.
    if (changed && result !== false)
      for (const id of ids) if (this.unapplied.has(id)) this.wroteAt.set(id, began);
    return result;
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
}
