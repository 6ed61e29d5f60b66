import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DataKind, eventToJson, eventToJsonBytes } from '../../cloudevents/index.js';
import { sampleEvent } from '../testing/conformance.js';
import type { StoredEvent } from '../types.js';
import { tempDirs } from '../../testing/temp-dirs.js';
import { EmbeddedEventStore } from './sqlite-store.js';
import { EVENT_BLOCKS_SCHEMA, INSERT_BLOCK, migrateLegacyEvents } from './event-blocks.js';

const dataDir = tempDirs('herald-blocks-');

function open(dir: string, options: Partial<ConstructorParameters<typeof EmbeddedEventStore>[0]> = {}) {
  return new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0, ...options });
}

/**
 * What the blocks table holds, read with SQL: events, bytes and the first sequence of each block. The
 * store's waiting index rows are committed first (`stats` reads the index).
 */
async function blocksOf(
  store: EmbeddedEventStore,
): Promise<{ events: number; bytes: number; firsts: number[] }> {
  await store.stats();
  const db = new Database(store.file, { readonly: true });
  const totals = db
    .prepare('SELECT SUM(last_seq - first_seq + 1) AS n, SUM(bytes) AS bytes FROM event_blocks')
    .get() as { n: number | null; bytes: number | null };
  const firsts = db
    .prepare('SELECT first_seq FROM event_blocks ORDER BY first_seq')
    .pluck()
    .all() as number[];
  db.close();
  return { events: totals.n ?? 0, bytes: totals.bytes ?? 0, firsts };
}

const ids = (events: StoredEvent[]) => events.map((e) => e.event.attributes['id']);

/** The schema and rows of a data directory written before blocks (one `events` row per event). */
const LEGACY_SCHEMA = `
CREATE TABLE events (
  seq INTEGER PRIMARY KEY,
  stored_at INTEGER NOT NULL,
  attrs TEXT NOT NULL,
  data BLOB,
  data_kind INTEGER NOT NULL,
  trace TEXT,
  size INTEGER NOT NULL,
  dedupe_key TEXT
);
CREATE INDEX events_stored_at ON events(stored_at);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
`;

/** A data directory holding a database with the layout written before blocks (one `events` row per event). */
function legacyDatabase() {
  const dir = dataDir();
  const file = path.join(dir, 'default.db');
  const legacy = new Database(file);
  legacy.pragma('journal_mode = WAL');
  legacy.exec(LEGACY_SCHEMA);
  const insert = legacy.prepare(
    'INSERT INTO events (seq, stored_at, attrs, data, data_kind, trace, size, dedupe_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  return { dir, file, legacy, insert };
}

describe('embedded store: event blocks', () => {
  it('stores one block per commit group and reads from any sequence inside or across blocks', async () => {
    const dir = dataDir();
    let store = open(dir);
    // 600 events of ~300 bytes in one group: more than one block's worth of payload.
    const big = Array.from({ length: 600 }, (_, i) => ({
      event: {
        ...sampleEvent(`big-${i}`),
        data: new Uint8Array(250).fill(i % 256),
        dataKind: DataKind.Binary,
      },
    }));
    await store.append(big);
    await store.append([{ event: sampleEvent('small-0') }, { event: sampleEvent('small-1') }]);
    const { firsts } = await blocksOf(store);
    expect(firsts.length).toBeGreaterThan(2);
    expect(firsts.at(-1)).toBe(601);
    await store.close();
    store = open(dir); // the recent-events window is empty: every read below decodes blocks
    const all = await store.read(1, 1000);
    expect(ids(all)).toEqual([...big.map((b) => b.event.attributes['id']), 'small-0', 'small-1']);
    expect(all.map((e) => e.sequence)).toEqual(Array.from({ length: 602 }, (_, i) => i + 1));
    expect(Array.from(all[300]?.event.data ?? [])).toEqual(Array.from(new Uint8Array(250).fill(300 % 256)));
    for (const boundary of firsts.slice(1)) {
      const around = await store.read(boundary - 2, 4);
      expect(around.map((e) => e.sequence)).toEqual([boundary - 2, boundary - 1, boundary, boundary + 1]);
    }
    expect(ids(await store.read(600, 2))).toEqual(['big-599', 'small-0']);
    expect(await store.read(603, 10)).toEqual([]);
    // A duplicate of an event stored in the middle of a block is recognised after the reopen.
    expect(await store.append([{ event: sampleEvent('big-345') }])).toEqual([
      { sequence: 346, duplicate: true },
    ]);
    await store.close();
  });

  it('cuts through a block on retention: keeps exactly the newest events and the exact counts', async () => {
    const dir = dataDir();
    let store = open(dir, { retention: { maxEvents: 4 } });
    await store.append(Array.from({ length: 10 }, (_, i) => ({ event: sampleEvent(`r${i}`) })));
    const before = await blocksOf(store);
    expect(before.firsts).toEqual([1]);
    store.runMaintenance();
    expect(ids(await store.read(0, 100))).toEqual(['r6', 'r7', 'r8', 'r9']);
    const after = await blocksOf(store);
    expect(after.firsts).toEqual([7]);
    const stats = await store.stats();
    expect(stats).toEqual({ first: 7, last: 10, events: 4, bytes: after.bytes });
    expect(after.bytes).toBe(Math.round((before.bytes * 4) / 10)); // equal-sized events
    await store.close();
    store = open(dir, { retention: { maxEvents: 4 } });
    expect(await store.stats()).toEqual(stats);
    expect(ids(await store.read(0, 100))).toEqual(['r6', 'r7', 'r8', 'r9']);
    const [next] = await store.append([{ event: sampleEvent('r10') }]);
    expect(next?.sequence).toBe(11);
    await store.close();
  });

  it('retains by bytes to the event inside a block', async () => {
    const dir = dataDir();
    const store = open(dir);
    await store.append(Array.from({ length: 10 }, (_, i) => ({ event: sampleEvent(`b${i}`) })));
    const perEvent = (await blocksOf(store)).bytes / 10;
    await store.close();
    const limited = open(dir, { retention: { maxBytes: perEvent * 3 + 1 } });
    limited.runMaintenance();
    expect(ids(await limited.read(0, 100))).toEqual(['b7', 'b8', 'b9']);
    expect(await limited.stats()).toMatchObject({ first: 8, events: 3, bytes: perEvent * 3 });
    await limited.close();
  });

  it('moves a database written before blocks into blocks on open, losing nothing', async () => {
    const { dir, file, legacy, insert } = legacyDatabase();
    const now = Date.now();
    const rows: Array<[number, number, string, Buffer | null, number, string | null]> = [];
    // Retention had deleted sequences 1–4; groups of events share a time; one with no data, one with a
    // trace, non-ASCII attributes; the last rows are inside the dedupe window.
    for (let seq = 5; seq <= 2_600; seq++) {
      const storedAt = seq > 2_590 ? now - 1_000 : now - 3_600_000 + Math.floor(seq / 7) * 1_000;
      const attrs = JSON.stringify({ specversion: '1.0', id: `old-${seq}`, source: '/légacy', type: 't' });
      const data = seq % 11 === 0 ? null : Buffer.from(`{"n":${seq}}`);
      const trace = seq % 13 === 0 ? JSON.stringify({ traceparent: `00-${seq}` }) : null;
      rows.push([seq, storedAt, attrs, data, seq % 11 === 0 ? 0 : DataKind.Json, trace]);
      insert.run(
        seq,
        storedAt,
        attrs,
        data,
        rows.at(-1)![4],
        trace,
        attrs.length + (data?.length ?? 0),
        `/légacy old-${seq}`,
      );
    }
    // The high-water mark was persisted by retention above the last row (retention deleted the newest).
    legacy.prepare("INSERT INTO meta (key, value) VALUES ('last_sequence', 2601)").run();
    const legacyBytes = (legacy.prepare('SELECT SUM(size) AS b FROM events').get() as { b: number }).b;
    legacy.close();

    const store = open(dir, { dedupeWindowMs: 60_000 });
    const read = await store.read(0, 10_000);
    expect(read.map((e) => e.sequence)).toEqual(rows.map((r) => r[0]));
    read.forEach((stored, i) => {
      const [seq, storedAt, attrs, data, dataKind, trace] = rows[i]!;
      const { attributesJson, ...event } = stored.event;
      expect({ ...stored, event }).toEqual({
        sequence: seq,
        storedAt,
        event: { attributes: JSON.parse(attrs) as object, data: data ?? undefined, dataKind },
        trace: trace === null ? undefined : (JSON.parse(trace) as object),
      });
      // The attributes' text read back with them, which delivery copies instead of serialising.
      expect(attributesJson?.of).toBe(stored.event.attributes);
      expect(JSON.parse(Buffer.from(eventToJsonBytes(stored.event)).toString('utf8'))).toEqual(
        JSON.parse(eventToJson(stored.event)),
      );
    });
    expect(await store.stats()).toEqual({ first: 5, last: 2_601, events: 2_596, bytes: legacyBytes });
    expect(await store.sequenceAt(now - 2_000)).toBe(2_591);
    // The dedupe window was rebuilt from the migrated events, and sequences continue above the mark.
    expect(await store.append([{ event: sampleEvent('old-2600', { source: '/légacy' }) }])).toEqual([
      { sequence: 2_600, duplicate: true },
    ]);
    expect(await store.append([{ event: sampleEvent('new') }])).toEqual([
      { sequence: 2_602, duplicate: false },
    ]);
    await store.close();
    const db = new Database(file, { readonly: true });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    db.close();
    expect(tables).not.toContain('events');
  });

  it('resumes a conversion that stopped part-way (a crash between its chunks) without losing or repeating events', async () => {
    const { dir, legacy, insert } = legacyDatabase();
    for (let seq = 1; seq <= 2_000; seq++) {
      const attrs = JSON.stringify({ specversion: '1.0', id: `e${seq}`, source: '/s', type: 't' });
      insert.run(seq, 1_000 + Math.floor(seq / 10), attrs, null, 0, null, attrs.length, `/s e${seq}`);
    }
    // The first conversion dies in its third chunk of 500: the first two are committed.
    legacy.exec(EVENT_BLOCKS_SCHEMA);
    const insertBlock = legacy.prepare(INSERT_BLOCK);
    expect(() =>
      migrateLegacyEvents(
        legacy,
        (block) => {
          if (block[0] > 1_000) throw new Error('killed');
          insertBlock.run(...block);
        },
        500,
      ),
    ).toThrow('killed');
    const copied = legacy.prepare('SELECT MAX(last_seq) AS last FROM event_blocks').get() as { last: number };
    expect(copied.last).toBe(1_000);
    legacy.close();
    const store = open(dir);
    const read = await store.read(0, 10_000);
    expect(read.map((e) => e.sequence)).toEqual(Array.from({ length: 2_000 }, (_, i) => i + 1));
    expect(read.map((e) => e.event.attributes['id'])).toEqual(read.map((e) => `e${e.sequence}`));
    expect((await store.stats()).events).toBe(2_000);
    await store.close();
  });
});
