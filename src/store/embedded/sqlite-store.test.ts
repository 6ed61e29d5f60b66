import { copyFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { describeStoreConformance, sampleEvent } from '../testing/conformance.js';
import type { StoreHarnessOptions } from '../testing/conformance.js';
import type { StoredEvent } from '../types.js';
import { EmbeddedEventStore } from './sqlite-store.js';
import { SegmentLog } from './segment-log.js';
import { INDEX_BATCH_BLOCKS } from './event-blocks.js';
import { parseStructured } from '../../cloudevents/index.js';

/** The compiled writer thread (`npm test` builds first; a worker cannot run the TypeScript source). */
const WRITER_SCRIPT = new URL('../../../dist/store/embedded/writer-thread.js', import.meta.url);
const CHECKPOINT_SCRIPT = new URL('../../../dist/store/embedded/checkpoint-thread.js', import.meta.url);

function openEmbedded(
  options: StoreHarnessOptions,
  dir = mkdtempSync(path.join(tmpdir(), 'herald-store-')),
  writer: 'inline' | 'thread' | 'auto' = 'inline',
) {
  const make = () =>
    new EmbeddedEventStore({
      dataDir: dir,
      writer,
      writerScript: WRITER_SCRIPT,
      checkpointScript: CHECKPOINT_SCRIPT,
      cores: 2,
      maintenanceIntervalMs: 0,
      ...(options.dedupeWindowMs === undefined ? {} : { dedupeWindowMs: options.dedupeWindowMs }),
      ...(options.retention === undefined ? {} : { retention: options.retention }),
    });
  let store = make();
  return {
    dir,
    get store() {
      return store;
    },
    async reopen() {
      await store.close();
      store = make();
      return store;
    },
    applyRetention() {
      store.runMaintenance();
      return Promise.resolve();
    },
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describeStoreConformance('embedded', (options) => Promise.resolve(openEmbedded(options)));
describeStoreConformance('embedded, writer thread', (options) =>
  Promise.resolve(openEmbedded(options, undefined, 'thread')),
);
describeStoreConformance('embedded, auto writer on two cores', (options) =>
  Promise.resolve(openEmbedded(options, undefined, 'auto')),
);

describe('embedded store', () => {
  it('forgets expired dedupe keys a slice per turn of the event loop, not all in one', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    let clock = 0;
    const store = new EmbeddedEventStore({
      dataDir: dir,
      durability: 'buffered',
      dedupeWindowMs: 1_000,
      maintenanceIntervalMs: 0,
      now: () => clock,
    });
    try {
      for (let batch = 0; batch < 40; batch++) {
        await store.append(
          Array.from({ length: 1_000 }, (_, i) => ({ event: sampleEvent(`e-${batch}-${i}`) })),
        );
      }
      const dedupe = (store as unknown as { dedupe: { size: number } }).dedupe;
      expect(dedupe.size).toBe(40_000);
      clock = 5_000;
      store.runMaintenance();
      // One slice (16,384 keys) now, the rest on later turns.
      expect(dedupe.size).toBe(40_000 - 16_384);
      await new Promise((resolve) => setImmediate(resolve));
      expect(dedupe.size).toBe(40_000 - 2 * 16_384);
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      expect(dedupe.size).toBe(0);
      // An expired key is stored again.
      expect(await store.append([{ event: sampleEvent('e-0-0') }])).toEqual([
        { sequence: 40_001, duplicate: false },
      ]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('while another process holds the write lock, accepts groups only while their index rows may wait, then reports the store unavailable and stores nothing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    const store = new EmbeddedEventStore({ dataDir: dir, busyTimeoutMs: 50, maintenanceIntervalMs: 0 });
    const other = new Database(store.file);
    other.exec('BEGIN IMMEDIATE');
    // Each group's records are in the segment and its index row waits (one block a group).
    for (let i = 1; i <= INDEX_BATCH_BLOCKS; i++) {
      const [outcome] = await store.append([{ event: sampleEvent(`accepted-${i}`) }]);
      expect(outcome?.sequence).toBe(i);
    }
    // The next group first commits the waiting rows, which the lock refuses: nothing of it is written.
    await expect(store.append([{ event: sampleEvent('locked') }])).rejects.toMatchObject({
      code: 'HERALD_STORE_UNAVAILABLE',
    });
    other.exec('ROLLBACK');
    other.close();
    const [outcome] = await store.append([{ event: sampleEvent('after') }]);
    expect(outcome?.sequence).toBe(INDEX_BATCH_BLOCKS + 1);
    const ids = (await store.read(0, 1_000)).map((e) => e.event.attributes['id']);
    expect(ids).toEqual([
      ...Array.from({ length: INDEX_BATCH_BLOCKS }, (_, i) => `accepted-${i + 1}`),
      'after',
    ]);
    await store.close();
    // And the index says so on its own.
    const db = new Database(store.file, { readonly: true });
    expect(db.prepare('SELECT MAX(last_seq) AS last FROM event_blocks').get()).toEqual({
      last: INDEX_BATCH_BLOCKS + 1,
    });
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('commits appends issued in one turn of the event loop in one transaction', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    const store = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.append([{ event: sampleEvent(`g${i}`) }])));
    expect(store.commits).toBe(1);
    for (let i = 0; i < 5; i++) await store.append([{ event: sampleEvent(`s${i}`) }]);
    expect(store.commits).toBe(6);
    expect((await store.stats()).events).toBe(105);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('with the auto writer on two cores, commits batches on the thread as soon as it is idle, and single events inline however many', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    const open = (cores: number) =>
      new EmbeddedEventStore({
        dataDir: dir,
        writer: 'auto',
        cores,
        writerScript: WRITER_SCRIPT,
        maintenanceIntervalMs: 0,
      });
    const batch = (prefix: string) =>
      Array.from({ length: 100 }, (_, i) => ({ event: sampleEvent(`${prefix}${i}`) }));
    let store = open(2);
    // Two batches in one turn: the first is committed at once, the second while the first commits.
    await Promise.all([store.append(batch('a')), store.append(batch('b'))]);
    expect([store.commits, store.threadCommits]).toEqual([2, 2]);
    for (let i = 0; i < 5; i++) await store.append([{ event: sampleEvent(`s${i}`) }]);
    expect([store.commits, store.threadCommits]).toEqual([7, 2]);
    // Many single events make a large group, but no batch: inline.
    const singles = Array.from({ length: 70 }, (_, i) => ({ event: sampleEvent(`m${i}`) }));
    await Promise.all(singles.map((input) => store.append([input])));
    expect([store.commits, store.threadCommits]).toEqual([8, 2]);
    await store.append(batch('c'));
    expect([store.commits, store.threadCommits]).toEqual([9, 3]);
    const ids = (stored: StoredEvent[]) => stored.map((e) => e.event.attributes['id']);
    const expected = [
      ...batch('a').map((input) => input.event.attributes['id']),
      ...batch('b').map((input) => input.event.attributes['id']),
      ...['s0', 's1', 's2', 's3', 's4'],
      ...singles.map((input) => input.event.attributes['id']),
      ...batch('c').map((input) => input.event.attributes['id']),
    ];
    expect(ids(await store.read(1, 1000))).toEqual(expected);
    await store.close();
    // On one core the same appends commit inline, the two batches of one turn in one group.
    store = open(1);
    expect(ids(await store.read(1, 1000))).toEqual(expected);
    await Promise.all([store.append(batch('d')), store.append(batch('e'))]);
    expect([store.commits, store.threadCommits]).toEqual([1, 0]);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("commits single events' waiting index rows before a batch's rows go in on the writer thread, so a crash loses neither", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    const crashDir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    const open = (dataDir: string) =>
      new EmbeddedEventStore({
        dataDir,
        writer: 'auto',
        cores: 2,
        writerScript: WRITER_SCRIPT,
        maintenanceIntervalMs: 0,
      });
    const store = open(dir);
    // Single events commit inline: their index rows wait (the timer that would commit them is held
    // back, so they are still waiting however slow the machine). Then a batch commits on the thread.
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    try {
      for (let i = 0; i < 3; i++) await store.append([{ event: sampleEvent(`single-${i}`) }]);
      await store.append(Array.from({ length: 100 }, (_, i) => ({ event: sampleEvent(`batch-${i}`) })));
    } finally {
      vi.useRealTimers();
    }
    expect(store.threadCommits).toBe(1);
    // What a crash now leaves behind: recovery reads the segment from the last indexed block on.
    for (const name of ['default.db', 'default.db-wal']) {
      copyFileSync(path.join(dir, name), path.join(crashDir, name));
    }
    cpSync(path.join(dir, 'default.segments'), path.join(crashDir, 'default.segments'), { recursive: true });
    await store.close();
    const recovered = open(crashDir);
    const ids = (await recovered.read(1, 1_000)).map((stored) => stored.event.attributes['id']);
    expect(ids).toEqual([
      ...Array.from({ length: 3 }, (_, i) => `single-${i}`),
      ...Array.from({ length: 100 }, (_, i) => `batch-${i}`),
    ]);
    await recovered.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(crashDir, { recursive: true, force: true });
  });

  it("syncs a small group of single events on libuv's pool and a large one in place", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    const store = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
    const inPlace = vi.spyOn(SegmentLog.prototype, 'write');
    const onPool = vi.spyOn(SegmentLog.prototype, 'writeAsync');
    try {
      // A lone event (events arriving at their own pace): the event loop goes on while it syncs.
      await store.append([{ event: sampleEvent('lone') }]);
      expect([inPlace.mock.calls.length, onPool.mock.calls.length]).toEqual([0, 1]);
      // Forty publishers waiting at once: their group syncs in place.
      const many = Array.from({ length: 40 }, (_, i) => store.append([{ event: sampleEvent(`m${i}`) }]));
      await Promise.all(many);
      expect([inPlace.mock.calls.length, onPool.mock.calls.length]).toEqual([1, 1]);
      expect((await store.read(1, 100)).length).toBe(41);
    } finally {
      inPlace.mockRestore();
      onPool.mockRestore();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('syncs a large group on the pool while a reader waits for appends', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    const store = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
    const inPlace = vi.spyOn(SegmentLog.prototype, 'write');
    const onPool = vi.spyOn(SegmentLog.prototype, 'writeAsync');
    const stop = new AbortController();
    try {
      // A subscription's tail waiting for the next event: the event loop has deliveries to make.
      const woken = store.waitForAppend(0, stop.signal);
      const many = Array.from({ length: 40 }, (_, i) => store.append([{ event: sampleEvent(`m${i}`) }]));
      await Promise.all(many);
      await woken;
      expect([inPlace.mock.calls.length, onPool.mock.calls.length]).toEqual([0, 1]);
      // Nobody waiting any more: the next large group syncs in place again.
      await Promise.all(
        Array.from({ length: 40 }, (_, i) => store.append([{ event: sampleEvent(`n${i}`) }])),
      );
      expect([inPlace.mock.calls.length, onPool.mock.calls.length]).toEqual([1, 1]);
      expect((await store.read(1, 100)).length).toBe(80);
    } finally {
      stop.abort();
      inPlace.mockRestore();
      onPool.mockRestore();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lets a group wait a few turns of the event loop while more appends keep arriving', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    const store = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
    const appends: Promise<unknown>[] = [];
    // One publish per turn, as closed-loop publishers answered by the last commit send again.
    for (let turn = 0; turn < 6; turn++) {
      appends.push(store.append([{ event: sampleEvent(`t${turn}`) }]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(appends);
    expect(store.commits).toBe(1);
    // A steady stream does not hold a group back for ever: it is committed after a bounded wait.
    let stop = false;
    let sent = 0;
    const stream = (async () => {
      while (!stop) {
        void store.append([{ event: sampleEvent(`s${sent++}`) }]);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const [first] = await store.append([{ event: sampleEvent('waited') }]);
    stop = true;
    await stream;
    expect(first?.sequence).toBeGreaterThan(6);
    expect(store.commits).toBeGreaterThan(1);
    await store.close();
    expect((await new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 }).stats()).events).toBe(
      6 + sent + 1,
    );
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves recently appended events from memory exactly as the database returns them', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    let store = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
    // Binary data that views part of a large buffer, as a socket read gives it: copied, not kept whole.
    const socketRead = Buffer.alloc(128 * 1024, 'x');
    socketRead.write('payload', 4);
    await store.append([
      {
        event: sampleEvent('m1'),
        trace: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      },
      { event: { ...sampleEvent('m2'), data: socketRead.subarray(4, 11), dataKind: 3 } },
    ]);
    await store.append([{ event: sampleEvent('m1') }, { event: sampleEvent('m3') }]);
    const fromMemory = await store.read(1, 10);
    expect(fromMemory.map((e) => e.sequence)).toEqual([1, 2, 3]);
    socketRead.fill(0);
    expect(Buffer.from(fromMemory[1]!.event.data!).toString()).toBe('payload');
    expect(fromMemory[1]!.event.data!.buffer.byteLength).toBe('payload'.length);
    // The database gives data as a Buffer, memory as the Uint8Array ingress made; the bytes are equal.
    // (Read back, an event also keeps its attributes' text: a rendering aid, not part of the event.)
    const bytes = (events: StoredEvent[]) =>
      events.map((e) => ({
        ...e,
        event: {
          attributes: e.event.attributes,
          data: Buffer.from(e.event.data ?? []),
          dataKind: e.event.dataKind,
        },
      }));
    await store.close();
    store = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
    expect(bytes(await store.read(1, 10))).toEqual(bytes(fromMemory));
    expect(bytes(await store.read(2, 1))).toEqual(bytes(fromMemory.slice(1, 2)));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the attributes as the producer sent them, and never a text another event derived from it left behind', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    let store = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
    const sent = (id: string) =>
      parseStructured(
        'application/cloudevents+json',
        Buffer.from(
          `{ "data" : {"k": 1}, "specversion":"1.0", "id":"${id}","source":"/s","type":"t","n" : 10 }`,
        ),
      );
    const original = sent('p1');
    const derived = { ...sent('p2'), attributes: { ...original.attributes, id: 'p2', extra: 'yes' } };
    await store.append([{ event: original }, { event: derived }]);
    // Kept in memory, an event from a small body keeps its text, as the blocks give it back.
    expect(original.attributesJson).toBeDefined();
    expect((await store.read(1, 1))[0]?.event.attributesJson).toBe(original.attributesJson);
    await store.close();
    store = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
    const read = await store.read(1, 10);
    expect(read.map((e) => ({ ...e.event.attributes }))).toEqual([
      { specversion: '1.0', id: 'p1', source: '/s', type: 't', n: 10 },
      { specversion: '1.0', id: 'p2', source: '/s', type: 't', n: 10, extra: 'yes' },
    ]);
    expect(read.map((e) => Buffer.from(e.event.data ?? []).toString())).toEqual(['{"k": 1}', '{"k": 1}']);
    // Kept in memory, an event from a large body lets go of its text (it views the whole body), and
    // its data is copied out.
    const big = parseStructured(
      'application/cloudevents+json',
      Buffer.from(`{"specversion":"1.0","id":"p3","source":"/s","type":"t","data":"${'x'.repeat(100_000)}"}`),
    );
    await store.append([{ event: big }]);
    const [fromMemory] = await store.read(3, 1);
    expect(fromMemory?.event.attributesJson).toBeUndefined();
    expect(fromMemory?.event.data?.buffer.byteLength).toBe(100_002);
    // Sizes count the bytes the block holds: the text as sent (its spaces too), and the data.
    const attributesBytes = Buffer.byteLength(
      '{  "specversion":"1.0", "id":"p1","source":"/s","type":"t","n" : 10 }',
    );
    const derivedBytes = Buffer.byteLength(JSON.stringify(derived.attributes));
    const bigBytes = Buffer.byteLength('{"specversion":"1.0","id":"p3","source":"/s","type":"t"}') + 100_002;
    expect((await store.stats()).bytes).toBe(
      attributesBytes + derivedBytes + 2 * '{"k": 1}'.length + bigBytes,
    );
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets go of appended events soon after their group is committed, so they die young', async () => {
    // An event the store keeps for hundreds of milliseconds is promoted to V8's old generation and
    // collected only by a full, event-loop-stopping collection (bench/PROFILE.md). The recent-events
    // window is what keeps events: at most twice its size (64) of the 2,000 appended here may survive.
    v8.setFlagsFromString('--expose-gc');
    const collect = vm.runInNewContext('gc') as () => void;
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    const store = new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });
    const refs: WeakRef<object>[] = [];
    for (let group = 0; group < 200; group++) {
      const events = Array.from({ length: 10 }, (_, i) => sampleEvent(`w${group}-${i}`));
      for (const event of events) refs.push(new WeakRef(event));
      await store.append(events.map((event) => ({ event })));
    }
    await new Promise((resolve) => setImmediate(resolve));
    collect();
    await new Promise((resolve) => setImmediate(resolve));
    const alive = refs.filter((ref) => ref.deref() !== undefined).length;
    expect(alive).toBeGreaterThanOrEqual(10); // the last group is always kept
    expect(alive).toBeLessThanOrEqual(128);
    // What left memory is still read, from the blocks.
    expect((await store.read(1, 3)).map((e) => e.event.attributes['id'])).toEqual(['w0-0', 'w0-1', 'w0-2']);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the counts of events and bytes right across reopens, crashes and retention', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    const truth = (file: string) => {
      const db = new Database(file, { readonly: true });
      // Every event of a block is retained and its sequences are contiguous.
      const row = db
        .prepare('SELECT SUM(last_seq - first_seq + 1) AS n, SUM(bytes) AS bytes FROM event_blocks')
        .get() as { n: number | null; bytes: number | null };
      db.close();
      return { events: row.n ?? 0, bytes: row.bytes ?? 0 };
    };
    const counts = async (s: EmbeddedEventStore) => {
      const { events, bytes } = await s.stats();
      return { events, bytes };
    };
    const crashDir = mkdtempSync(path.join(tmpdir(), 'herald-store-'));
    const open = (dataDir = dir) =>
      new EmbeddedEventStore({ dataDir, maintenanceIntervalMs: 0, retention: { maxEvents: 30 } });
    let store = open();
    for (let i = 0; i < 4; i++) {
      await store.append(Array.from({ length: 5 }, (_, j) => ({ event: sampleEvent(`a${i}-${j}`) })));
    }
    store.runMaintenance(); // saves the counts: nothing over the retention limit yet
    await store.append([{ event: sampleEvent('after-snapshot') }]);
    await store.close();
    store = open();
    expect(await counts(store)).toEqual(truth(store.file));
    // Appended after the last saved counts and never closed: a copy of the files taken now is what a
    // crash leaves behind (the segments hold every acknowledged record; the index rows of the last
    // group still wait to be committed, so the copy's index lacks them and recovery adds them).
    await store.append(Array.from({ length: 20 }, (_, j) => ({ event: sampleEvent(`b${j}`) })));
    for (const name of ['default.db', 'default.db-wal']) {
      copyFileSync(path.join(dir, name), path.join(crashDir, name));
    }
    cpSync(path.join(dir, 'default.segments'), path.join(crashDir, 'default.segments'), { recursive: true });
    await store.close();
    expect(truth(path.join(crashDir, 'default.db')).events).toBe(21);
    store = open(crashDir);
    expect(await counts(store)).toEqual(truth(store.file));
    expect((await counts(store)).events).toBe(41);
    expect((await store.read(22, 100)).map((stored) => stored.event.attributes['id'])).toEqual(
      Array.from({ length: 20 }, (_, j) => `b${j}`),
    );
    store.runMaintenance(); // retention deletes the oldest 11
    expect(await counts(store)).toEqual(truth(store.file));
    expect((await counts(store)).events).toBe(30);
    await store.append([{ event: sampleEvent('c') }]);
    await store.close();
    store = open(crashDir);
    expect(await counts(store)).toEqual(truth(store.file));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(crashDir, { recursive: true, force: true });
  });
});
