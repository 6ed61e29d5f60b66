// A record damaged in the middle of a segment (a disk fault: one bit of an event's data or attributes
// flipped after it was written, indexed and acknowledged) is detected by the record chain's checksum when
// it is read, and refused with HERALD_LOG_CORRUPT; it is never served as if it were the event published.
// The records around it still read. A real store on disk, closed and opened again, so that the reads
// come from the segment files (not from the events the store keeps in memory).
import { closeSync, openSync, readSync, readdirSync, rmSync, truncateSync, writeSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DataKind } from '../../cloudevents/index.js';
import { tempDirs } from '../../testing/temp-dirs.js';
import { EmbeddedEventStore } from './sqlite-store.js';

const newDir = tempDirs('herald-checksum-');

const event = (i: number) => ({
  event: {
    attributes: { specversion: '1.0', id: `e${i}`, source: '/herald/checksum', type: 't' },
    data: new TextEncoder().encode(JSON.stringify({ value: 'abcdefgh'.repeat(8), i })),
    dataKind: DataKind.Json,
  },
});

const open = (dir: string) => new EmbeddedEventStore({ dataDir: dir, maintenanceIntervalMs: 0 });

/** Flips one bit of the record of the block starting at `sequence`, `from` its payload's start or end. */
function flipBit(dir: string, sequence: number, where: 'attributes' | 'data'): void {
  const db = new Database(path.join(dir, 'default.db'), { readonly: true });
  const row = db
    .prepare<[number], { segment: number; payload_at: number; payload_length: number }>(
      'SELECT segment, payload_at, payload_length FROM event_blocks WHERE first_seq = ?',
    )
    .get(sequence);
  db.close();
  if (row === undefined) throw new Error(`no block starts at ${sequence}`);
  const file = path.join(dir, 'default.segments', `${String(row.segment).padStart(20, '0')}.seg`);
  // 14: past the payload's version byte and the event's 13-byte header, in its attributes' JSON.
  const at = where === 'attributes' ? row.payload_at + 14 : row.payload_at + row.payload_length - 10;
  const fd = openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    byte[0] = (byte[0] as number) ^ 0x04;
    writeSync(fd, byte, 0, 1, at);
  } finally {
    closeSync(fd);
  }
}

describe('embedded store: a record damaged in the middle of a segment', () => {
  it.each(['data', 'attributes'] as const)(
    'one bit of its %s flipped: reading it is refused with HERALD_LOG_CORRUPT, the records around it read',
    async (where) => {
      const dir = newDir();
      const first = open(dir);
      // One group, one record each.
      for (let i = 1; i <= 10; i++) await first.append([event(i)]);
      await first.close();
      flipBit(dir, 5, where);

      const store = open(dir);
      try {
        await expect(store.read(1, 100)).rejects.toMatchObject({ code: 'HERALD_LOG_CORRUPT' });
        await expect(store.read(5, 1)).rejects.toMatchObject({ code: 'HERALD_LOG_CORRUPT' });
        const before = await store.read(1, 4);
        const after = await store.read(6, 100);
        expect([...before, ...after].map((stored) => stored.event.attributes['id'])).toEqual([
          'e1',
          'e2',
          'e3',
          'e4',
          'e6',
          'e7',
          'e8',
          'e9',
          'e10',
        ]);
        for (const stored of [...before, ...after]) {
          const i = Number(String(stored.event.attributes['id']).slice(1));
          expect(new TextDecoder().decode(stored.event.data)).toBe(
            JSON.stringify({ value: 'abcdefgh'.repeat(8), i }),
          );
        }
      } finally {
        await store.close();
      }
    },
  );

  // Cut short or removed under the running store (an operator's mistake, a restore of the wrong file):
  // the index still says the records are there. Before, this answered HERALD_INTERNAL ("segment 1 has
  // no payload at 0"), as if the broker had failed, not its data.
  it.each(['cut short', 'removed'] as const)(
    'its segment file %s under the running store: reading what it held is refused with HERALD_LOG_CORRUPT',
    async (damage) => {
      const dir = newDir();
      const store = open(dir);
      try {
        // A group each: the store keeps only its last groups in memory, the first is read from the file.
        for (let i = 1; i <= 200; i++) await store.append([event(i)]);
        const segments = path.join(dir, 'default.segments');
        // The first segment holds the first record (at 0).
        const [first] = readdirSync(segments)
          .filter((name) => name.endsWith('.seg'))
          .sort();
        if (first === undefined) throw new Error(`no segment in ${segments}`);
        const file = path.join(segments, first);
        if (damage === 'cut short') truncateSync(file, 0);
        else rmSync(file);
        const reason =
          damage === 'cut short'
            ? /^segment \d{20}\.seg ends before the record at 0: the file was cut short after it was written$/
            : /^segment \d{20}\.seg is missing, with the record at 0 it held: the file was removed after it was written$/;
        await expect(store.read(1, 1)).rejects.toMatchObject({ code: 'HERALD_LOG_CORRUPT', message: reason });
      } finally {
        await store.close();
      }
    },
  );
});
