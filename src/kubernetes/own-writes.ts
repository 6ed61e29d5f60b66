/** The parts of a Kubernetes object the echo bookkeeping reads. */
export interface Named {
  readonly metadata: { readonly name: string; readonly resourceVersion?: string; readonly uid?: string };
}

/** A change the informer heard: an object added or updated, or deleted (as it was when deleted). */
export interface HeardChange<T extends Named> {
  readonly deleted: boolean;
  readonly object: T;
}

/**
 * What names the watch event that echoes one write of this process: the resourceVersion a create or
 * patch answered (each stored state of an object has its own), or the uid of the incarnation a delete
 * removed (the API server answers a delete with a Status naming the uid, not a resourceVersion, and
 * one incarnation is deleted once).
 */
export type Echo = { readonly resourceVersion: string } | { readonly deletedUid: string };

/** One write of this process under way, from `begin` to `end`. */
export interface OwnWrite {
  readonly name: string;
  /** How many relists had completed when the write began (see `relisted`). */
  readonly relistsAtStart: number;
}

interface Pending<T extends Named> {
  /** Writes of the name under way. */
  writes: number;
  /** The echoes of this process's finished writes of the name that the watch has not delivered yet. */
  readonly unechoed: Set<string>;
  /** Changes of the name heard while a write was under way, judged once none is. */
  readonly held: Array<HeardChange<T>>;
}

const echoKey = (echo: Echo): string =>
  'resourceVersion' in echo ? `rv:${echo.resourceVersion}` : `deleted:${echo.deletedUid}`;

/** The echo keys a change can be: its resourceVersion, and a deletion's uid. */
function keysOf(change: HeardChange<Named>): string[] {
  const { resourceVersion, uid } = change.object.metadata;
  const keys: string[] = [];
  if (resourceVersion !== undefined) keys.push(`rv:${resourceVersion}`);
  if (change.deleted && uid !== undefined) keys.push(`deleted:${uid}`);
  return keys;
}

/**
 * Keeps a watch from undoing this process's own later writes. The watch reports each change some time
 * after it was made, this process's own writes included: the echo of an earlier write arriving after a
 * later one (v1 heard after v2 was written) would put the subscription back to v1 here — its filter,
 * its paused state — until v2's echo arrives; a delete heard after the subscription was created again
 * under its name would remove the new one.
 *
 * Without reading resourceVersions as numbers (Kubernetes says they are opaque): a watch delivers the
 * changes of an object in the order they were stored, so a change heard while a write of this process
 * is still unechoed was stored before that write, and that write supersedes it: it is not reported. The
 * echo of the last write is reported, and what follows it (other writers' later changes, deletes
 * included) is reported as ever. Changes heard while a write is under way are held until it answers,
 * for its echo can come before its answer.
 *
 * A write whose echo will not come must leave no mark, or the name's changes would be dropped for good:
 *  - a write that changed nothing answers the resourceVersion the object already had: when that state
 *    was heard already (the last change heard of the name), it has no echo still to come;
 *  - a relist (after `410 Gone`) reports a snapshot, not the changes before it, so see `relisted`.
 */
export class OwnWrites<T extends Named> {
  private readonly pending = new Map<string, Pending<T>>();
  /** Per name, the resourceVersion of the last change heard (what the informer's cache holds). */
  private readonly lastHeard = new Map<string, string>();
  private relists = 0;

  /** `report` is told the changes that are not superseded, in the order they were heard. */
  constructor(private readonly report: (change: HeardChange<T>) => void) {}

  /** A write of `name` begins: from now on the changes heard of it wait for its answer. */
  begin(name: string): OwnWrite {
    const pending = this.pending.get(name) ?? { writes: 0, unechoed: new Set<string>(), held: [] };
    pending.writes++;
    this.pending.set(name, pending);
    return { name, relistsAtStart: this.relists };
  }

  /**
   * A write ended: stored, with the echo to wait for, or `undefined` (it failed, or changed nothing
   * the watch will report). Once no write of the name is under way, what was held is judged in order.
   */
  end(write: OwnWrite, echo: Echo | undefined): void {
    const pending = this.pending.get(write.name);
    if (pending === undefined) return;
    pending.writes--;
    if (echo !== undefined) {
      const key = echoKey(echo);
      if (pending.held.some((change) => keysOf(change).includes(key))) pending.unechoed.add(key);
      else if ('resourceVersion' in echo && this.lastHeard.get(write.name) === echo.resourceVersion) {
        // Changed nothing, and the state it answered was heard before it began: no echo is to come.
      } else if (write.relistsAtStart !== this.relists) {
        // A relist answered while the write was under way, and its snapshot may hold the write already
        // (then no echo comes) or not: no mark, the later changes are reported (see `relisted`).
      } else pending.unechoed.add(key);
    }
    // One at a time: a listener told of one may begin another write of the name, which holds the rest.
    for (let change = pending.held.shift(); change !== undefined; change = pending.held.shift()) {
      if (pending.writes > 0) {
        pending.held.unshift(change);
        break;
      }
      this.judge(pending, change);
    }
    this.settle(write.name, pending);
  }

  /** The informer heard a change (watch or relist). */
  heard(change: HeardChange<T>): void {
    const { name, resourceVersion } = change.object.metadata;
    if (change.deleted || resourceVersion === undefined) this.lastHeard.delete(name);
    else this.lastHeard.set(name, resourceVersion);
    const pending = this.pending.get(name);
    if (pending === undefined) {
      this.report(change);
      return;
    }
    if (pending.writes > 0) {
      pending.held.push(change);
      return;
    }
    this.judge(pending, change);
    this.settle(name, pending);
  }

  /**
   * A relist's answer is in, and the informer is about to report its items (adds and updates for what
   * differs from what it heard, deletes for what is gone). A list is a snapshot of the current state,
   * not the changes that led to it, and the watch resumes after the snapshot: a write that answered
   * before the list was asked for is in the snapshot (or something later is), and its echo will never
   * come. So the marks of the finished writes go — a mark kept past a relist that does not have its
   * write would drop the name's changes until this process writes it again. A write that answered
   * while the list was under way may or may not be in the snapshot (its echo may follow on the new
   * watch): its mark goes too, so a snapshot from just before it may be reported for a moment before
   * the echo corrects it — a relist is rare, and a change lost would not be corrected. Writes still
   * under way keep holding their name's changes, the relist's included, and what was held before it is
   * kept too (the informer reports no item the list has as it last heard it, so a change held from the
   * old watch may be the state): their echo is then looked for among what was held (`end`), and when
   * it is not there the write leaves no mark, for the snapshot may have had it.
   */
  relisted(): void {
    this.relists++;
    for (const [name, pending] of this.pending) {
      pending.unechoed.clear();
      this.settle(name, pending);
    }
  }

  /** Reports `change` unless a write of this process still to be echoed supersedes it. */
  private judge(pending: Pending<T>, change: HeardChange<T>): void {
    // A write's echo clears its mark; while another write of this process is unechoed, even an echo
    // is superseded (that write came after it).
    for (const key of keysOf(change)) if (pending.unechoed.delete(key)) break;
    if (pending.unechoed.size === 0) this.report(change);
  }

  /** Forgets a name whose writes are all echoed and that holds nothing. */
  private settle(name: string, pending: Pending<T>): void {
    if (pending.writes > 0 || pending.unechoed.size > 0 || pending.held.length > 0) return;
    if (this.pending.get(name) === pending) this.pending.delete(name);
  }
}
