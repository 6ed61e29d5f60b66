import { afterEach, describe, expect, it } from 'vitest';
import type { EventStore } from '../types.js';
import { sampleEvent } from './conformance.js';
import { until } from '../../testing/until.js';

/** How a test opens one of a broker's stores, as one more replica of that broker would. */
export interface SharedStoreOpenOptions {
  /** How long a claim lasts without renewal. */
  readonly claimTtlMs?: number;
  /**
   * Wake readers only when another process announces an append: an adapter that also re-checks its log
   * now and then turns that off, so the wake-up test cannot pass by a periodic check.
   */
  readonly announcedWakeOnly?: boolean;
}

/** One broker name on one server, opened by several processes (replicas of one broker). */
export interface SharedStoreHarness<S extends EventStore> {
  open(options?: SharedStoreOpenOptions): Promise<S>;
  /**
   * Makes `store` stop renewing its claims without releasing them, as a replica that crashed or lost the
   * server does from the server's point of view.
   */
  stopRenewing(store: S): Promise<void>;
  /** Whether a store whose renewals stopped tells the holder it lost its claims (it noticed, e.g. a lost connection). */
  readonly tellsLost: boolean;
  /** Deletes what the broker name left on the server. */
  remove(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The store contract's part that only stores shared by several replicas have (JetStream, Kafka): what one
 * process writes, another one hears, reads and deduplicates against, and a subscription is claimed by one
 * process at a time. Every shared adapter runs it beside `describeStoreConformance`.
 */
export function describeSharedStoreConformance<S extends EventStore>(
  adapter: string,
  factory: () => SharedStoreHarness<S>,
): void {
  describe(`shared store contract: ${adapter}`, () => {
    let harness: SharedStoreHarness<S> | undefined;
    const opened: S[] = [];
    const replicas = (...options: SharedStoreOpenOptions[]): Promise<S[]> => {
      const shared = (harness ??= factory());
      return Promise.all(
        options.map(async (o) => {
          const store = await shared.open(o);
          opened.push(store);
          return store;
        }),
      );
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close().catch(() => undefined)));
      await harness?.remove();
      harness = undefined;
    });

    it('wakes a reader in one process when another process appends, and shares the dedupe window', async () => {
      const [a, b] = (await replicas({ announcedWakeOnly: true }, {})) as [S, S];
      let woken = false;
      const waiting = a.waitForAppend(0).then(() => {
        woken = true;
      });
      await sleep(50);
      // Nothing was appended yet: a waiter that resolved now would wake for nothing.
      expect(woken).toBe(false);
      const [outcome] = await b.append([{ event: sampleEvent('from-b') }]);
      await waiting;
      expect((await a.read(outcome!.sequence, 1))[0]?.event.attributes['id']).toBe('from-b');
      // A batch wakes a reader waiting past its first event.
      const more = await b.append([{ event: sampleEvent('b2') }, { event: sampleEvent('b3') }]);
      await a.waitForAppend(more[0]!.sequence);
      expect((await a.read(more[0]!.sequence, 10)).map((e) => e.event.attributes['id'])).toEqual([
        'b2',
        'b3',
      ]);
      // The same (source, id) sent to the other process is a duplicate of what b stored.
      const [again] = await a.append([{ event: sampleEvent('from-b') }]);
      expect(again).toEqual({ sequence: outcome!.sequence, duplicate: true });
    });

    it('tells other processes about subscription definitions, not about what existed before', async () => {
      const [a] = (await replicas({})) as [S];
      await a.putSubscription({ id: 'old', document: '{"v":0}' });
      const [b] = (await replicas({})) as [S];
      const seen: Array<[string, string | undefined]> = [];
      const stop = b.watchSubscriptions((id, record) => seen.push([id, record?.document]));
      try {
        await a.putSubscription({ id: 'sub/1 é', document: '{"v":1}' });
        await a.deleteSubscription('sub/1 é');
        await until('two changes', () => seen.length >= 2);
        expect(seen).toEqual([
          ['sub/1 é', '{"v":1}'],
          ['sub/1 é', undefined],
        ]);
        expect((await b.listSubscriptions()).map((r) => r.id)).toEqual(['old']);
        // A cursor committed by one process is read by the other.
        await a.commitCursor('old', 42);
        expect(await b.getCursor('old')).toBe(42);
      } finally {
        stop();
      }
    });

    it('has told a process every definition change made before it syncs, by any process', async () => {
      const [a, b] = (await replicas({}, {})) as [S, S];
      const seen = new Map<string, string | undefined>();
      const stop = b.watchSubscriptions((id, record) => seen.set(id, record?.document));
      try {
        // Each time right after the writes, not after waiting for the watch: what the limits count by.
        for (let round = 0; round < 5; round++) {
          const ids = [`r${round}-1`, `r${round}-2`, `r${round}-3`];
          await a.putSubscriptions(ids.map((id) => ({ id, document: `{"r":${round}}` })));
          await a.deleteSubscription(`r${round}-2`);
          await a.putSubscription({ id: `r${round}-3`, document: `{"r":${round},"last":1}` });
          await b.syncSubscriptions();
          expect(ids.map((id) => seen.get(id))).toEqual([
            `{"r":${round}}`,
            undefined,
            `{"r":${round},"last":1}`,
          ]);
          expect(seen.has(`r${round}-2`)).toBe(true);
        }
      } finally {
        stop();
      }
    });

    it('refuses a replacement of a subscription another process deleted, heard or not', async () => {
      const [a, b] = (await replicas({}, {})) as [S, S];
      await a.putSubscription({ id: 's', document: '{"v":0}' });
      await until('b to store s', async () => (await b.listSubscriptions()).length === 1);
      // Another process's change in between is replaced, as a later write would.
      await b.putSubscription({ id: 's', document: '{"v":1}' });
      expect(await a.replaceSubscription({ id: 's', document: '{"v":2}' })).toBe(true);
      expect(await b.listSubscriptions()).toEqual([{ id: 's', document: '{"v":2}' }]);
      // Deleted by b: a's replacement, right after (a has not necessarily heard it), writes nothing.
      expect(await b.deleteSubscription('s')).toBe(true);
      expect(await a.replaceSubscription({ id: 's', document: '{"v":3}' })).toBe(false);
      expect(await a.listSubscriptions()).toEqual([]);
      expect(await b.listSubscriptions()).toEqual([]);
    });

    it('lets two processes delete the same dead letters at once: both succeed, the rest stay', async () => {
      const [a, b] = (await replicas({}, {})) as [S, S];
      const letters = [];
      for (const id of ['l1', 'l2', 'l3', 'l4']) {
        letters.push(
          await a.addDeadLetter({
            subscription: 'dl',
            sequence: letters.length + 1,
            event: sampleEvent(id),
            trace: undefined,
            error: { code: 'HERALD_SINK_REJECTED', message: 'status 400', status: 400 },
            attempts: 1,
            deadLetteredAt: Date.now(),
          }),
        );
      }
      // Two replicas that each redrove the same letters settle them together (docs/subscriptions.md):
      // a letter the other deleted first is "no longer there", which deletes nothing, never an error.
      const settled = letters.slice(0, 3).map((l) => l.id);
      for (const id of settled)
        await Promise.all([a.deleteDeadLetters('dl', [id]), b.deleteDeadLetters('dl', [id])]);
      expect((await b.listDeadLetters('dl', 10)).map((l) => l.event.attributes.id)).toEqual(['l4']);
      expect(await a.countDeadLetters('dl')).toBe(1);
    });

    it('stores a keyed dead letter once whichever process adds it, also two at once', async () => {
      const [a, b] = (await replicas({}, {})) as [S, S];
      const letter = (key: string) => ({
        subscription: 'keyed',
        sequence: 7,
        event: sampleEvent(key),
        trace: undefined,
        error: { code: 'HERALD_SINK_REJECTED', message: 'status 400', status: 400 },
        attempts: 1,
        deadLetteredAt: Date.now(),
        key,
      });
      // A replica that takes over a subscription refuses the event its predecessor dead-lettered.
      const first = await a.addDeadLetter(letter('one'));
      expect(await b.addDeadLetter(letter('one'))).toMatchObject({ id: first.id, existing: true });
      // Many keys at once, each added by both: one add's mark seen before its letter is stored must not
      // make the other store a second one (it did now and then with one key).
      const keys = Array.from({ length: 16 }, (_, i) => `two-${String(i).padStart(2, '0')}`);
      await Promise.all(keys.flatMap((key) => [a.addDeadLetter(letter(key)), b.addDeadLetter(letter(key))]));
      const held = (await a.listDeadLetters('keyed', 100)).map((l) => String(l.event.attributes.id));
      expect(held.sort()).toEqual(['one', ...keys]);
      expect(await b.countDeadLetters('keyed')).toBe(1 + keys.length);
    });

    it('grants a claim to one process at a time; it moves once the holder stops renewing', async () => {
      const [a, b] = (await replicas({ claimTtlMs: 1_500 }, { claimTtlMs: 1_500 })) as [S, S];
      let aLost = 0;
      expect(await a.claim('s1', () => aLost++)).toBe(true);
      expect(await a.claim('s1', () => aLost++)).toBe(true);
      expect(await b.claim('s1', () => undefined)).toBe(false);
      // Renewals keep it held well past the TTL, even against a process that keeps trying.
      for (let i = 0; i < 5; i++) {
        await sleep(500);
        expect(await b.claim('s1', () => undefined)).toBe(false);
      }
      expect(aLost).toBe(0);
      // Released: the other process gets it at once.
      await a.release('s1');
      expect(await b.claim('s1', () => undefined)).toBe(true);
      await b.release('s1');

      expect(await a.claim('s2', () => aLost++)).toBe(true);
      await harness!.stopRenewing(a);
      // Held until its lease runs out on the server, not freed by the holder going quiet.
      expect(await b.claim('s2', () => undefined)).toBe(false);
      if (harness!.tellsLost) await until('the holder notices', () => aLost === 1, 5_000);
      await until('the claim moves', () => b.claim('s2', () => undefined), 10_000);
    });

    it('keeps a cursor commit of a process that lost the claim from moving the new holder’s back', async () => {
      const [a, b] = (await replicas({}, {})) as [S, S];
      // A cursor key is `<id>~<incarnation>`; the claim is the id's.
      const key = 'fenced~1f0c';
      expect(await a.claim('fenced', () => undefined)).toBe(true);
      await a.commitCursors([[key, 5]]);
      // The claim moves to the other process. The store judges a commit by the claim as it stands there,
      // so this is what a process that stalled past its lease, and has not noticed, looks like to it
      // (test/jetstream/stale-cursor-commit.test.ts stalls one for real).
      await a.release('fenced');
      expect(await b.claim('fenced', () => undefined)).toBe(true);
      await b.commitCursors([[key, 9]]);
      // The stale process's next commit round: its position is behind the new holder's.
      await a.commitCursors([[key, 6]]);
      expect(await b.getCursor(key)).toBe(9);
      expect(await a.getCursor(key)).toBe(9);
      // A seek moves it back through any process, the holder's or not (docs: seeking a subscription).
      await a.commitCursor(key, 3);
      expect(await b.getCursor(key)).toBe(3);
      await b.commitCursors([[key, 4]]);
      expect(await a.getCursor(key)).toBe(4);
      // The first cursor of a new incarnation is written by whoever creates it, while the id is claimed.
      await a.commitCursors([['fenced~2b7d', 1]]);
      expect(await b.getCursor('fenced~2b7d')).toBe(1);
    });

    it('gives two processes racing for many subscriptions disjoint claims', async () => {
      const [a, b] = (await replicas({}, {})) as [S, S];
      const ids = Array.from({ length: 20 }, (_, i) => `race-${i}`);
      const results = await Promise.all(
        ids.map((id) => Promise.all([a.claim(id, () => undefined), b.claim(id, () => undefined)])),
      );
      for (const [onA, onB] of results) expect(onA && onB).toBe(false);
      // Each subscription has a holder once the racing records are judged (one of them wins).
      expect(results.every(([onA, onB]) => onA || onB)).toBe(true);
    });
  });
}
