/**
 * Where a subscription's worker starts delivering: the cursor it resumes from and a `startAt: {time}` still
 * ahead. Apart from worker.ts, which delivers from there on; both are read once, when a worker starts.
 */
import type { EventStore } from '../store/index.js';
import type { CompiledSubscription } from '../subscriptions/types.js';

/** A subscription's `startAt: {time}` in ms when it is still ahead and no seek replaced it; else undefined. */
export function startTimeAhead(definition: CompiledSubscription['definition']): number | undefined {
  const start = definition.startAt;
  if (typeof start !== 'object' || !('time' in start) || definition.seek !== undefined) return undefined;
  const time = Date.parse(start.time);
  return time > Date.now() ? time : undefined;
}

/**
 * The cursor a worker resumes from: the one committed under `key` (or by an older version under the bare
 * `id`, copied to `key`), else `initialCursor`, committed under `key` at once.
 */
export async function startCursor(
  store: EventStore,
  key: string,
  id: string,
  initialCursor: number,
): Promise<number> {
  let stored = await store.getCursor(key);
  if (stored === undefined && key !== id) {
    // Stored by a version without incarnations under the bare id: copied to this incarnation's key. The
    // bare one stays until the subscription is deleted (the dispatcher forgets both): a replica of that
    // version, during a rolling update, may still take the subscription over and resume from it.
    stored = await store.getCursor(id);
    if (stored !== undefined) await store.commitCursor(key, stored);
  }
  const cursor = stored ?? initialCursor;
  if (stored === undefined) await store.commitCursor(key, cursor);
  return cursor;
}
