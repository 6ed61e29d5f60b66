// An event that retention deleted while it was still inside the dedupe window must be acknowledged as a
// duplicate when it is sent again, not stored a second time: a duplicate stored is a duplicate delivered.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppendInput, RetentionPolicy } from '../types.js';
import { sampleEvent } from '../testing/conformance.js';
import { DedupeIndex } from './dedupe-index.js';
import { EmbeddedEventStore } from './sqlite-store.js';

const WINDOW_MS = 60_000;
const dirs: string[] = [];
const stores: EmbeddedEventStore[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A store over `dir` whose clock is `clock.now`; maintenance runs only when the test calls it. */
function open(dir: string, clock: { now: number }, retention: Partial<RetentionPolicy>): EmbeddedEventStore {
  const store = new EmbeddedEventStore({
    dataDir: dir,
    maintenanceIntervalMs: 0,
    dedupeWindowMs: WINDOW_MS,
    retention,
    now: () => clock.now,
  });
  stores.push(store);
  return store;
}

function newDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-dedupe-retention-'));
  dirs.push(dir);
  return dir;
}

async function reopen(
  store: EmbeddedEventStore,
  dir: string,
  clock: { now: number },
  retention: Partial<RetentionPolicy>,
): Promise<EmbeddedEventStore> {
  await store.close();
  stores.splice(stores.indexOf(store), 1);
  return open(dir, clock, retention);
}

const input = (id: string, principal = '', source = '/conformance'): AppendInput => ({
  event: sampleEvent(id, { source }),
  principal,
});

/** The ids the log holds, in order. */
async function ids(store: EmbeddedEventStore): Promise<string[]> {
  return (await store.read(1, 100)).map((stored) => stored.event.attributes['id'] as string);
}

/** Rows of the database's table of keys retention deleted inside the window. */
function retiredRows(dir: string): number {
  const db = new Database(path.join(dir, 'default.db'), { readonly: true });
  try {
    return db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM dedupe_retired').get()?.n ?? 0;
  } finally {
    db.close();
  }
}

/** Two ids whose dedupe hashes under `source` and `principal` are equal, found by search (deterministic). */
function collidingIds(source: string, principal: string): [string, string] {
  const seen = new Map<number, string>();
  for (let i = 0; ; i++) {
    const id = `c-${i}`;
    const hash = DedupeIndex.hashOf(source, id, principal);
    const other = seen.get(hash);
    if (other !== undefined) return [other, id];
    seen.set(hash, id);
  }
}

describe('embedded store: dedupe after retention', () => {
  it('acknowledges an event retention deleted inside the dedupe window as a duplicate, also after a reopen', async () => {
    const dir = newDir();
    const clock = { now: 1_000_000 };
    const retention = { maxEvents: 2 };
    let store = open(dir, clock, retention);
    // One append each: their blocks are deleted whole.
    for (const id of ['e0', 'e1', 'e2', 'e3']) {
      expect(await store.append([input(id)])).toEqual([expect.objectContaining({ duplicate: false })]);
      clock.now += 10;
    }
    store.runMaintenance();
    expect(await ids(store)).toEqual(['e2', 'e3']);

    expect(await store.append([input('e0')])).toEqual([{ sequence: 1, duplicate: true }]);
    expect(await store.append([input('e1'), input('e4')])).toEqual([
      { sequence: 2, duplicate: true },
      { sequence: 5, duplicate: false },
    ]);

    store = await reopen(store, dir, clock, retention);
    expect(await store.append([input('e0')])).toEqual([{ sequence: 1, duplicate: true }]);
    expect(await store.append([input('e1')])).toEqual([{ sequence: 2, duplicate: true }]);
    expect(await ids(store)).toEqual(['e2', 'e3', 'e4']);
    expect((await store.stats()).last).toBe(5);
  });

  it('acknowledges as duplicates the events retention cut out of a block it rewrote, also after a reopen', async () => {
    const dir = newDir();
    const clock = { now: 1_000_000 };
    const retention = { maxEvents: 2 };
    let store = open(dir, clock, retention);
    // One request: one block, which retention rewrites without its first three events.
    await store.append(['b0', 'b1', 'b2', 'b3', 'b4'].map((id) => input(id)));
    store.runMaintenance();
    expect(await ids(store)).toEqual(['b3', 'b4']);

    expect(await store.append([input('b0'), input('b2')])).toEqual([
      { sequence: 1, duplicate: true },
      { sequence: 3, duplicate: true },
    ]);
    store = await reopen(store, dir, clock, retention);
    expect(await store.append([input('b1')])).toEqual([{ sequence: 2, duplicate: true }]);
    expect(await ids(store)).toEqual(['b3', 'b4']);
  });

  it("stores another principal's event and a hash-colliding (source, id) after retention deleted the first copy", async () => {
    const dir = newDir();
    const clock = { now: 1_000_000 };
    const retention = { maxEvents: 1 };
    const source = '/collide';
    const [first, colliding] = collidingIds(source, 'alice');
    let store = open(dir, clock, retention);
    await store.append([input(first, 'alice', source)]);
    await store.append([input('filler', 'alice')]);
    store.runMaintenance();
    expect(await ids(store)).toEqual(['filler']);

    expect(await store.append([input(first, 'alice', source)])).toEqual([{ sequence: 1, duplicate: true }]);
    expect(await store.append([input(first, 'bob', source)])).toEqual([{ sequence: 3, duplicate: false }]);
    store.runMaintenance();
    store = await reopen(store, dir, clock, retention);
    // Same 32-bit hash, same principal, another id: the hash alone must not make it a duplicate.
    expect(await store.append([input(colliding, 'alice', source)])).toEqual([
      { sequence: 4, duplicate: false },
    ]);
    expect(await store.append([input(first, 'alice', source)])).toEqual([{ sequence: 1, duplicate: true }]);
  });

  it('keeps what retention deleted only while the window lasts: then forgets it, and the event is new again', async () => {
    const dir = newDir();
    const clock = { now: 1_000_000 };
    const retention = { maxEvents: 2 };
    let store = open(dir, clock, retention);
    for (const id of ['w0', 'w1', 'w2', 'w3']) await store.append([input(id)]);
    store.runMaintenance();
    expect(retiredRows(dir)).toBe(2);
    // Retention far above the window: nothing is kept.
    clock.now += WINDOW_MS + 1;
    store.runMaintenance();
    expect(retiredRows(dir)).toBe(0);
    store = await reopen(store, dir, clock, retention);
    expect(await store.append([input('w0')])).toEqual([{ sequence: 5, duplicate: false }]);
    expect(retiredRows(dir)).toBe(0);
  });
});
