import { afterEach, describe, expect, it } from 'vitest';
import type { CloudEvent } from '../../cloudevents/index.js';
import { DataKind } from '../../cloudevents/index.js';
import { deadLetterBytes } from '../dead-letter-limits.js';
import type { EventStore, NewDeadLetter, RetentionPolicy } from '../types.js';

export interface StoreHarnessOptions {
  readonly dedupeWindowMs?: number;
  readonly retention?: Partial<RetentionPolicy>;
}

export interface StoreHarness {
  readonly store: EventStore;
  /** Closes the store and opens it again on the same data. */
  reopen(): Promise<EventStore>;
  /** Applies retention now (adapters that enforce it continuously may do nothing). */
  applyRetention(): Promise<void>;
  cleanup(): Promise<void>;
}

export type StoreFactory = (options: StoreHarnessOptions) => Promise<StoreHarness>;

/** The settings of a harness's options that a distributed store's own options take as they are. */
export type HarnessSettings = Pick<StoreHarnessOptions, 'dedupeWindowMs' | 'retention'>;

/**
 * A harness for a store kept on a server (JetStream, Kafka): `open` opens a store of one broker name with
 * the harness's settings, again on `reopen`; `remove` deletes what the broker name left on the server.
 */
export async function serverStoreHarness<S extends EventStore & { applyRetention(): Promise<void> }>(
  options: StoreHarnessOptions,
  open: (settings: HarnessSettings) => Promise<S>,
  remove: () => Promise<void>,
): Promise<StoreHarness> {
  const settings: HarnessSettings = {
    ...(options.dedupeWindowMs === undefined ? {} : { dedupeWindowMs: options.dedupeWindowMs }),
    ...(options.retention === undefined ? {} : { retention: options.retention }),
  };
  let store = await open(settings);
  return {
    get store() {
      return store;
    },
    async reopen() {
      await store.close();
      store = await open(settings);
      return store;
    },
    applyRetention: () => store.applyRetention(),
    async cleanup() {
      await store.close();
      await remove();
    },
  };
}

const encoder = new TextEncoder();

export function sampleEvent(
  id: string,
  overrides: Record<string, string | number | boolean> = {},
): CloudEvent {
  return {
    attributes: { specversion: '1.0', id, source: '/conformance', type: 'com.example.test', ...overrides },
    data: encoder.encode(JSON.stringify({ id })),
    dataKind: DataKind.Json,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The store contract, as tests. Every adapter runs this suite unchanged; adapter-specific tests cover
 * only what is truly specific to one adapter.
 */
/** A dead letter of `subscription` for the event `<prefix><n>` at sequence `n`, dead-lettered at time `n`. */
export function sampleLetter(subscription: string, n: number, prefix: string): NewDeadLetter {
  return {
    subscription,
    sequence: n,
    event: sampleEvent(`${prefix}${n}`),
    trace: undefined,
    error: { code: 'X', message: 'm' },
    attempts: 1,
    deadLetteredAt: n,
  };
}

export function describeStoreConformance(adapter: string, factory: StoreFactory): void {
  describe(`store contract: ${adapter}`, () => {
    let harness: StoreHarness | undefined;
    const open = async (options: StoreHarnessOptions = {}) => {
      harness = await factory(options);
      return harness;
    };
    afterEach(async () => {
      await harness?.cleanup();
      harness = undefined;
    });

    it('assigns strictly increasing sequences and reads back the same events', async () => {
      const { store } = await open();
      const binary: CloudEvent = {
        attributes: { specversion: '1.0', id: 'b', source: '/s', type: 't', count: 7, flag: false },
        data: new Uint8Array([0, 255, 1, 128]),
        dataKind: DataKind.Binary,
      };
      const first = await store.append([
        { event: sampleEvent('a') },
        { event: binary, trace: { traceparent: 'x' } },
      ]);
      const second = await store.append([{ event: sampleEvent('c') }]);
      const sequences = [...first, ...second].map((o) => o.sequence);
      expect(sequences[0]).toBeGreaterThan(0);
      expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
      expect(new Set(sequences).size).toBe(3);
      const read = await store.read(0, 10);
      expect(read.map((e) => e.sequence)).toEqual(sequences);
      expect(read[1]?.event.attributes).toEqual(binary.attributes);
      expect(Array.from(read[1]?.event.data ?? [])).toEqual([0, 255, 1, 128]);
      expect(read[1]?.event.dataKind).toBe(DataKind.Binary);
      expect(read[1]?.trace).toEqual({ traceparent: 'x' });
      expect(read[0]?.trace).toBeUndefined();
      expect((await store.read(sequences[1] ?? 0, 1)).map((e) => e.sequence)).toEqual([sequences[1]]);
    });

    it('gives concurrent appends distinct sequences, each request contiguous and in order', async () => {
      const { store } = await open();
      const requests = Array.from({ length: 50 }, (_, r) =>
        store.append([0, 1, 2].map((i) => ({ event: sampleEvent(`r${r}-${i}`) }))),
      );
      const outcomes = await Promise.all(requests);
      const all = outcomes.flat().map((o) => o.sequence);
      expect(new Set(all).size).toBe(150);
      for (const request of outcomes) {
        expect(request.map((o) => o.sequence)).toEqual([
          request[0]!.sequence,
          request[0]!.sequence + 1,
          request[0]!.sequence + 2,
        ]);
      }
      const stats = await store.stats();
      expect(stats.events).toBe(150);
    });

    it('stores a duplicate (source, id) once within the dedupe window', async () => {
      // A window far longer than the test: a slow machine must not let the duplicates fall out of it.
      const { store } = await open({ dedupeWindowMs: 60_000 });
      const [a] = await store.append([{ event: sampleEvent('dup') }]);
      const [b, c] = await store.append([
        { event: sampleEvent('dup') },
        { event: sampleEvent('dup', { source: '/other' }) },
      ]);
      expect(a?.duplicate).toBe(false);
      expect(b).toEqual({ sequence: a?.sequence, duplicate: true });
      expect(c?.duplicate).toBe(false);
      const inBatch = await store.append([{ event: sampleEvent('twice') }, { event: sampleEvent('twice') }]);
      expect(inBatch.map((o) => o.duplicate)).toEqual([false, true]);
      expect((await store.stats()).events).toBe(3);
    });

    it('stores a (source, id) again once the dedupe window has passed', async () => {
      const { store } = await open({ dedupeWindowMs: 300 });
      const [a] = await store.append([{ event: sampleEvent('dup') }]);
      expect(a?.duplicate).toBe(false);
      await sleep(400);
      const [d] = await store.append([{ event: sampleEvent('dup') }]);
      expect(d?.duplicate).toBe(false);
      expect(d?.sequence).not.toBe(a?.sequence);
      expect((await store.stats()).events).toBe(2);
    });

    it('remembers the dedupe window across a reopen', async () => {
      const h = await open({ dedupeWindowMs: 60_000 });
      const [first] = await h.store.append([{ event: sampleEvent('again') }]);
      const store = await h.reopen();
      const [second] = await store.append([{ event: sampleEvent('again') }]);
      expect(second).toEqual({ sequence: first?.sequence, duplicate: true });
      expect((await store.stats()).events).toBe(1);
    });

    it('keys the dedupe window by publishing principal, across a reopen too', async () => {
      // The security review's case: a (source, id) one principal published must not make another
      // principal's event with the same pair a duplicate; the same principal's copy still is one.
      const h = await open({ dedupeWindowMs: 60_000 });
      const order = () => sampleEvent('order-1001', { source: '/pub/orders' });
      const [alice] = await h.store.append([{ event: order(), principal: 'alice' }]);
      const [pub] = await h.store.append([{ event: order(), principal: 'pub' }]);
      const [anonymous] = await h.store.append([{ event: order() }]);
      expect([alice, pub, anonymous].map((o) => o?.duplicate)).toEqual([false, false, false]);
      expect(new Set([alice?.sequence, pub?.sequence, anonymous?.sequence]).size).toBe(3);
      const [again] = await h.store.append([{ event: order(), principal: 'pub' }]);
      expect(again).toEqual({ sequence: pub?.sequence, duplicate: true });
      // Within one request, and with ids and principals that `${source} ${id} ${principal}` would blur.
      const inBatch = await h.store.append([
        { event: sampleEvent('x y'), principal: 'p' },
        { event: sampleEvent('x'), principal: 'y p' },
        { event: sampleEvent('x y p'), principal: '' },
        { event: sampleEvent('x y'), principal: 'p' },
      ]);
      expect(inBatch.map((o) => o.duplicate)).toEqual([false, false, false, true]);
      expect((await h.store.stats()).events).toBe(6);
      const stored = await h.store.read(1, 100);
      expect(stored.map((e) => e.event.attributes['type'])).toEqual(Array(6).fill('com.example.test'));
      // The window rebuilt on open keys by principal as well, for named and anonymous publishers.
      const store = await h.reopen();
      const afterReopen = await store.append([
        { event: order(), principal: 'alice' },
        { event: order(), principal: 'pub' },
        { event: order(), principal: undefined },
        { event: order(), principal: 'bob' },
      ]);
      expect(afterReopen.slice(0, 3)).toEqual([
        { sequence: alice?.sequence, duplicate: true },
        { sequence: pub?.sequence, duplicate: true },
        { sequence: anonymous?.sequence, duplicate: true },
      ]);
      expect(afterReopen[3]?.duplicate).toBe(false);
      expect((await store.stats()).events).toBe(7);
    });

    it('wakes a waiter when an event is appended and lets a signal abort the wait', async () => {
      const { store } = await open();
      const { last } = await store.stats();
      let woken = false;
      const waiting = store.waitForAppend(last).then(() => (woken = true));
      await sleep(20);
      expect(woken).toBe(false);
      await store.append([{ event: sampleEvent('wake') }]);
      await waiting;
      expect(woken).toBe(true);
      const controller = new AbortController();
      const aborted = store.waitForAppend(last + 1, controller.signal);
      controller.abort();
      await aborted;
    });

    it('keeps events, cursors, dead letters and subscriptions across a reopen', async () => {
      const h = await open();
      const outcomes = await h.store.append([{ event: sampleEvent('k1') }, { event: sampleEvent('k2') }]);
      await h.store.commitCursor('sub-1', 2);
      const letter = await h.store.addDeadLetter({
        subscription: 'sub-1',
        sequence: outcomes[0]!.sequence,
        event: sampleEvent('k1'),
        trace: undefined,
        error: { code: 'HERALD_SINK_REJECTED', message: '400 Bad Request', status: 400 },
        attempts: 1,
        deadLetteredAt: 1234,
      });
      await h.store.putSubscription({ id: 'sub-1', document: '{"sink":"http://x"}' });
      const store = await h.reopen();
      expect((await store.read(0, 10)).map((e) => e.event.attributes['id'])).toEqual(['k1', 'k2']);
      expect(await store.getCursor('sub-1')).toBe(2);
      expect(await store.getCursor('nobody')).toBeUndefined();
      const letters = await store.listDeadLetters('sub-1', 10);
      expect(letters).toHaveLength(1);
      expect(letters[0]?.id).toBe(letter.id);
      expect(letters[0]?.error.status).toBe(400);
      expect(letters[0]?.event.attributes['id']).toBe('k1');
      expect(await store.countDeadLetters('sub-1')).toBe(1);
      expect(await store.listSubscriptions()).toEqual([{ id: 'sub-1', document: '{"sink":"http://x"}' }]);
      const [next] = await store.append([{ event: sampleEvent('k3') }]);
      expect(next?.sequence).toBeGreaterThan(outcomes[1]!.sequence);
    });

    it('deletes dead letters, cursors and subscriptions', async () => {
      const { store } = await open();
      const add = (n: number) => store.addDeadLetter({ ...sampleLetter('s', n, 'd'), attempts: 3 });
      const [l1, l2] = [await add(1), await add(2)];
      await store.deleteDeadLetters('s', [l1.id]);
      expect((await store.listDeadLetters('s', 10)).map((l) => l.id)).toEqual([l2.id]);
      await store.commitCursors([
        ['s', 5],
        ['t', 9],
      ]);
      expect(await store.getCursor('t')).toBe(9);
      await store.deleteCursor('s');
      expect(await store.getCursor('s')).toBeUndefined();
      await store.putSubscription({ id: 's', document: '{}' });
      expect(await store.deleteSubscription('s')).toBe(true);
      expect(await store.deleteSubscription('s')).toBe(false);
      expect(await store.listSubscriptions()).toEqual([]);
    });

    it("deletes every dead letter of one subscription, and only that subscription's", async () => {
      const h = await open();
      // More than one step of a store that deletes in bounded steps (the embedded store: 128 rows).
      const many = 300;
      await Promise.all(
        Array.from({ length: many }, (_, i) => h.store.addDeadLetter(sampleLetter('all', i, 'a'))),
      );
      // Neighbours by name: a prefix of it, and it as a prefix.
      await h.store.addDeadLetter(sampleLetter('al', 1, 'n'));
      await h.store.addDeadLetter(sampleLetter('all-2', 1, 'm'));
      expect(await h.store.countDeadLetters('all')).toBe(many);
      await h.store.deleteAllDeadLetters('all');
      expect(await h.store.listDeadLetters('all', 10)).toEqual([]);
      expect(await h.store.countDeadLetters('all')).toBe(0);
      expect((await h.store.listDeadLetters('al', 10)).map((l) => l.event.attributes['id'])).toEqual(['n1']);
      expect((await h.store.listDeadLetters('all-2', 10)).map((l) => l.event.attributes['id'])).toEqual([
        'm1',
      ]);
      // None left (or never any) deletes nothing; letters added afterwards are kept, durably.
      await h.store.deleteAllDeadLetters('all');
      await h.store.deleteAllDeadLetters('nobody');
      const later = await h.store.addDeadLetter(sampleLetter('all', 1, 'later'));
      const store = await h.reopen();
      expect((await store.listDeadLetters('all', 10)).map((l) => l.id)).toEqual([later.id]);
      expect(await store.countDeadLetters('al')).toBe(1);
    });

    it('replaces a stored subscription, durably, and refuses (writing nothing) one that is not stored', async () => {
      const h = await open();
      expect(await h.store.replaceSubscription({ id: 'never', document: '{"v":1}' })).toBe(false);
      await h.store.putSubscription({ id: 'gone', document: '{"v":0}' });
      await h.store.deleteSubscription('gone');
      expect(await h.store.replaceSubscription({ id: 'gone', document: '{"v":1}' })).toBe(false);
      await h.store.putSubscription({ id: 'kept', document: '{"v":0}' });
      expect(await h.store.replaceSubscription({ id: 'kept', document: '{"v":1}' })).toBe(true);
      expect(await h.store.listSubscriptions()).toEqual([{ id: 'kept', document: '{"v":1}' }]);
      const store = await h.reopen();
      expect(await store.listSubscriptions()).toEqual([{ id: 'kept', document: '{"v":1}' }]);
    });

    it('syncs subscriptions: resolves, and what was written before is listed', async () => {
      const h = await open();
      await h.store.putSubscriptions([{ id: 'a', document: '{}' }]);
      await h.store.syncSubscriptions();
      expect((await h.store.listSubscriptions()).map((r) => r.id)).toEqual(['a']);
    });

    it('replaces only a stored definition the caller accepts: another one under the id is left as it is', async () => {
      const h = await open();
      const incarnation = (document: string) => (JSON.parse(document) as { i?: number }).i;
      // Deleted and created again: what is stored now is another subscription under the same id.
      await h.store.putSubscription({ id: 'again', document: '{"i":1}' });
      await h.store.deleteSubscription('again');
      await h.store.putSubscription({ id: 'again', document: '{"i":2}' });
      const ofFirst = (stored: string) => incarnation(stored) === 1;
      expect(await h.store.replaceSubscription({ id: 'again', document: '{"i":1,"v":1}' }, ofFirst)).toBe(
        false,
      );
      expect(await h.store.replaceSubscription({ id: 'never', document: '{"i":1}' }, ofFirst)).toBe(false);
      expect(await h.store.listSubscriptions()).toEqual([{ id: 'again', document: '{"i":2}' }]);
      const ofSecond = (stored: string) => incarnation(stored) === 2;
      expect(await h.store.replaceSubscription({ id: 'again', document: '{"i":2,"v":1}' }, ofSecond)).toBe(
        true,
      );
      const store = await h.reopen();
      expect(await store.listSubscriptions()).toEqual([{ id: 'again', document: '{"i":2,"v":1}' }]);
    });

    it('stores many subscriptions and their cursors in one write, durably, replacing existing ones by id', async () => {
      const h = await open();
      await h.store.putSubscriptions([]);
      await h.store.putSubscription({ id: 'many-0', document: '{"old":true}' });
      const records = Array.from({ length: 250 }, (_, i) => ({
        id: `many-${i}`,
        document: JSON.stringify({ n: i }),
      }));
      await h.store.putSubscriptions(
        records,
        records.map((record, i): [string, number] => [record.id, i + 1]),
      );
      const store = await h.reopen();
      expect(await store.getCursor('many-0')).toBe(1);
      expect(await store.getCursor('many-249')).toBe(250);
      const stored = await store.listSubscriptions();
      const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
      expect([...stored].sort(byId)).toEqual([...records].sort(byId));
    });

    it('stores a letter added again with its key once, until it is deleted, trimmed or its subscription cleared', async () => {
      const h = await open();
      const keyed = (n: number, key: string, at = n) => ({
        ...sampleLetter('keyed', n, 'k'),
        deadLetteredAt: at,
        key,
      });
      const first = await h.store.addDeadLetter(keyed(1, 'live:1'));
      expect(first.existing ?? false).toBe(false);
      // The same refusal again (after a crash, say): the held letter, as it was stored.
      const again = await h.store.addDeadLetter(keyed(1, 'live:1', 99));
      expect(again).toMatchObject({ id: first.id, existing: true, deadLetteredAt: 1, sequence: 1 });
      // Two adds of one key at once store one letter; no key, another key or subscription: new letters.
      await Promise.all([
        h.store.addDeadLetter(keyed(2, 'live:2')),
        h.store.addDeadLetter(keyed(2, 'live:2')),
      ]);
      const unkeyed = await h.store.addDeadLetter(sampleLetter('keyed', 1, 'k'));
      const other = await h.store.addDeadLetter({ ...sampleLetter('keyed-2', 1, 'k'), key: 'live:1' });
      expect(other.existing ?? false).toBe(false);
      const sequences = async (store = h.store) =>
        (await store.listDeadLetters('keyed', 10)).map((l) => l.sequence);
      expect(await sequences()).toEqual([1, 2, 1]);
      expect(await h.store.countDeadLetters('keyed')).toBe(3);
      // Durably: after a reopen the key is still held.
      let store = await h.reopen();
      expect(await store.addDeadLetter(keyed(1, 'live:1', 100))).toMatchObject({
        id: first.id,
        existing: true,
      });
      expect(await sequences(store)).toEqual([1, 2, 1]);
      // Deleted (the API, a redrive): the key is free, the same refusal again is a new letter.
      await store.deleteDeadLetters('keyed', [first.id, unkeyed.id]);
      const renewed = await store.addDeadLetter(keyed(1, 'live:1', 101));
      expect(renewed.existing ?? false).toBe(false);
      expect(renewed.id).not.toBe(first.id);
      expect((await store.listDeadLetters('keyed', 10)).map((l) => [l.sequence, l.deadLetteredAt])).toEqual([
        [2, 2],
        [1, 101],
      ]);
      // Trimmed by the bounds: free too (the oldest letter, sequence 2, goes).
      await store.trimDeadLetters({ maxLetters: 1, maxBytes: 0, maxAgeMs: 0 }, Date.now());
      expect(await sequences(store)).toEqual([1]);
      expect((await store.addDeadLetter(keyed(2, 'live:2', 102))).existing ?? false).toBe(false);
      // Every letter of the subscription deleted: every key free.
      await store.deleteAllDeadLetters('keyed');
      expect((await store.addDeadLetter(keyed(1, 'live:1', 103))).existing ?? false).toBe(false);
      store = await h.reopen();
      expect((await store.listDeadLetters('keyed', 10)).map((l) => l.deadLetteredAt)).toEqual([103]);
      expect(await store.countDeadLetters('keyed-2')).toBe(1);
    });

    it('pages through dead letters in id order with after', async () => {
      const { store } = await open();
      const ids: string[] = [];
      for (let n = 1; n <= 7; n++) {
        const letter = await store.addDeadLetter(sampleLetter('paged', n, 'p'));
        ids.push(letter.id);
      }
      // Letters added concurrently (as many failing deliveries do) get distinct ids, in order.
      const concurrent = await Promise.all(
        [8, 9, 10].map((n) => store.addDeadLetter(sampleLetter('paged', n, 'p'))),
      );
      ids.push(...concurrent.map((letter) => letter.id));
      expect(new Set(ids).size).toBe(10);
      // Another subscription's letters in between never show up in this one's pages.
      await store.addDeadLetter(sampleLetter('other', 1, 'o'));
      const pages: string[][] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.listDeadLetters('paged', 3, after);
        if (page.length === 0) break;
        pages.push(page.map((l) => l.id));
        after = page[page.length - 1]?.id;
      }
      expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 1]);
      expect(pages.flat()).toEqual(ids);
      expect((await store.listDeadLetters('paged', 10)).map((l) => l.event.attributes['id'])).toEqual([
        'p1',
        'p2',
        'p3',
        'p4',
        'p5',
        'p6',
        'p7',
        'p8',
        'p9',
        'p10',
      ]);
    });

    it('ends a list of dead letters at the first letter that takes it over maxBytes', async () => {
      const { store } = await open();
      for (let n = 1; n <= 6; n++) await store.addDeadLetter(sampleLetter('bytes', n, 'b'));
      const all = await store.listDeadLetters('bytes', 100);
      const sizes = all.map((l) => deadLetterBytes(l));
      /** How many letters a list cut at `maxBytes` holds: up to and with the first over it. */
      const expected = (maxBytes: number, limit = 100) => {
        let bytes = 0;
        let count = 0;
        for (const size of sizes) {
          if (count === limit || bytes > maxBytes) break;
          bytes += size;
          count++;
        }
        return count;
      };
      const ids = async (limit: number, maxBytes: number, after?: string) =>
        (await store.listDeadLetters('bytes', limit, after, maxBytes)).map((l) => l.id);
      const size = sizes[0] as number;
      for (const maxBytes of [0, size, size * 2.5, size * 3, size * 100]) {
        expect(await ids(100, maxBytes)).toEqual(all.slice(0, expected(maxBytes)).map((l) => l.id));
      }
      // Always one letter, however small the cut; the count still bounds a list under a large one.
      expect(await ids(100, 0)).toHaveLength(1);
      expect(await ids(2, size * 100)).toEqual(all.slice(0, 2).map((l) => l.id));
      // Paging on after a cut list reads each letter once.
      const paged: string[] = [];
      for (let after: string | undefined; ;) {
        const page = await ids(100, size * 1.5, after);
        if (page.length === 0) break;
        paged.push(...page);
        after = page[page.length - 1];
      }
      expect(paged).toEqual(all.map((l) => l.id));
    });

    it('trims the oldest dead letters over the age, count and bytes limits, per subscription', async () => {
      const { store } = await open();
      const hour = 3_600_000;
      const now = Date.now();
      const letter = (subscription: string, n: number, at: number): NewDeadLetter => ({
        ...sampleLetter(subscription, n, 't'),
        deadLetteredAt: at,
      });
      const added = [];
      for (let n = 1; n <= 8; n++)
        added.push(await store.addDeadLetter(letter('capped', n, n <= 2 ? now - 3 * hour : now)));
      for (let n = 1; n <= 3; n++) await store.addDeadLetter(letter('other', n, now - 3 * hour));
      const weight = deadLetterBytes(added[0]!);
      const ids = async (subscription: string) =>
        (await store.listDeadLetters(subscription, 100)).map((l) => l.event.attributes['id']);
      const none = { maxAgeMs: 0, maxLetters: 0, maxBytes: 0 };

      expect(await store.trimDeadLetters(none, now)).toEqual([]);
      expect(await store.countDeadLetters('capped')).toBe(8);

      // Age first: both old letters of 'capped' and all of 'other'; reported per subscription.
      const byAge = await store.trimDeadLetters({ ...none, maxAgeMs: hour }, now);
      const bySubscription = (a: { subscription: string }, b: { subscription: string }) =>
        a.subscription.localeCompare(b.subscription);
      expect([...byAge].sort(bySubscription)).toEqual([
        { subscription: 'capped', reason: 'max-age', letters: 2, bytes: 2 * weight },
        { subscription: 'other', reason: 'max-age', letters: 3, bytes: 3 * weight },
      ]);
      expect(await ids('capped')).toEqual(['t3', 't4', 't5', 't6', 't7', 't8']);
      expect(await store.countDeadLetters('other')).toBe(0);

      // A letter that is gone can still be named in a delete (a redrive settling a trimmed letter).
      await store.deleteDeadLetters('capped', [added[0]!.id]);

      expect(await store.trimDeadLetters({ ...none, maxLetters: 4 }, now)).toEqual([
        { subscription: 'capped', reason: 'max-letters', letters: 2, bytes: 2 * weight },
      ]);
      expect(await ids('capped')).toEqual(['t5', 't6', 't7', 't8']);

      expect(await store.trimDeadLetters({ ...none, maxBytes: 3 * weight - 1 }, now)).toEqual([
        { subscription: 'capped', reason: 'max-bytes', letters: 2, bytes: 2 * weight },
      ]);
      expect(await ids('capped')).toEqual(['t7', 't8']);
      expect(await store.countDeadLetters('capped')).toBe(2);

      // Several limits at once: each removed letter is counted once, under the first limit that removes it.
      await store.addDeadLetter(letter('capped', 9, now));
      const mixed = await store.trimDeadLetters({ maxAgeMs: hour, maxLetters: 2, maxBytes: weight }, now);
      expect(mixed).toEqual([
        { subscription: 'capped', reason: 'max-letters', letters: 1, bytes: weight },
        { subscription: 'capped', reason: 'max-bytes', letters: 1, bytes: weight },
      ]);
      expect(await ids('capped')).toEqual(['t9']);
    });

    it('finds the first sequence stored at or after a time', async () => {
      const { store } = await open();
      await store.append([{ event: sampleEvent('t1') }]);
      await sleep(30);
      const middle = Date.now();
      await sleep(5);
      const [later] = await store.append([{ event: sampleEvent('t2') }]);
      expect(await store.sequenceAt(middle)).toBe(later?.sequence);
      expect(await store.sequenceAt(0)).toBe(1);
      expect(await store.sequenceAt(Date.now() + 60_000)).toBe((await store.stats()).last + 1);
    });

    it('applies retention by count without ever reusing a sequence', async () => {
      const h = await open({ retention: { maxEvents: 3 } });
      for (let i = 0; i < 6; i++) await h.store.append([{ event: sampleEvent(`r${i}`) }]);
      await h.applyRetention();
      const left = await h.store.read(0, 100);
      expect(left.map((e) => e.event.attributes['id'])).toEqual(['r3', 'r4', 'r5']);
      const stats = await h.store.stats();
      expect(stats.first).toBe(left[0]?.sequence);
      expect(stats.events).toBe(3);
      const [next] = await h.store.append([{ event: sampleEvent('r6') }]);
      expect(next?.sequence).toBe(stats.last + 1);
    });

    it('applies retention by bytes and by age', async () => {
      const h = await open({ retention: { maxBytes: 1000 } });
      for (let i = 0; i < 20; i++) await h.store.append([{ event: sampleEvent(`b${i}`) }]);
      await h.applyRetention();
      const stats = await h.store.stats();
      expect(stats.bytes).toBeLessThanOrEqual(1000);
      expect(stats.events).toBeGreaterThan(0);
      expect(stats.events).toBeLessThan(20);
      await h.cleanup();
      const aged = await open({ retention: { maxAgeMs: 200 } });
      await aged.store.append([{ event: sampleEvent('old') }]);
      await sleep(300);
      await aged.store.append([{ event: sampleEvent('new') }]);
      await aged.applyRetention();
      expect((await aged.store.read(0, 10)).map((e) => e.event.attributes['id'])).toEqual(['new']);
    });
  });
}
