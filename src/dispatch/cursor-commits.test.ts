import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedEventStore } from '../store/embedded/sqlite-store.js';
import { sampleEvent } from '../store/testing/conformance.js';
import type { EventStore } from '../store/types.js';
import { cursorKeyOf } from '../subscriptions/index.js';
import { until } from '../testing/until.js';
import { startManualDispatcher, startRecordingSink, testSubscription } from './testing/manual-dispatcher.js';
import type { Cleanups } from './testing/manual-dispatcher.js';

// The dispatcher commits the cursors that moved since its last commit. Every subscription made since
// incarnations exist keeps its cursor under `id~incarnation`; the bookkeeping of what was committed must
// follow that key, or every cursor that ever moved is written again on every round for ever (an idle
// broker with 10,000 subscriptions rewrote and synced all of them every two seconds).

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** The real embedded store, with the cursors each `commitCursors` call wrote recorded. */
function recordingStore(): { store: EventStore; commits: Array<Array<readonly [string, number]>> } {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-cursor-commits-'));
  const embedded = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
  cleanups.push(async () => {
    await embedded.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const commits: Array<Array<readonly [string, number]>> = [];
  const store = new Proxy(embedded, {
    get(target, property, receiver) {
      if (property !== 'commitCursors') return Reflect.get(target, property, receiver) as unknown;
      return (cursors: ReadonlyArray<readonly [string, number]>) => {
        commits.push([...cursors]);
        return target.commitCursors(cursors);
      };
    },
  }) as EventStore;
  return { store, commits };
}

describe('cursor commits', () => {
  it('a cursor committed once is not written again while it does not move (subscriptions with an incarnation)', async () => {
    const { store, commits } = recordingStore();
    const { url, received } = await startRecordingSink(cleanups);
    const dispatcher = await startManualDispatcher(store, cleanups);
    const compiled = testSubscription('moves-once', url, 'incarnation-1');
    const key = cursorKeyOf(compiled.definition);
    await dispatcher.add(compiled, 1);
    await store.append([{ event: sampleEvent('e1') }, { event: sampleEvent('e2') }]);
    await until('both events delivered', () => received.length === 2);
    await until('the cursor to pass both', () => dispatcher.worker('moves-once')?.position() === 3);

    await dispatcher.commitCursors(true);
    expect(commits.flat()).toEqual([[key, 3]]);
    expect(await store.getCursor(key)).toBe(3);

    // Nothing delivered, nothing appended: nothing to write, however many rounds pass.
    commits.length = 0;
    for (let round = 0; round < 12; round++) await dispatcher.commitCursors(round % 3 === 0);
    expect(commits.flat()).toEqual([]);

    // It moves again: written once more, then quiet again.
    await store.append([{ event: sampleEvent('e3') }]);
    await until('event 3 delivered', () => received.length === 3);
    await until('the cursor to pass it', () => dispatcher.worker('moves-once')?.position() === 4);
    await dispatcher.commitCursors(true);
    await dispatcher.commitCursors(true);
    expect(commits.flat()).toEqual([[key, 4]]);
  });
});
