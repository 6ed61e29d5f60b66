import { rmSync, statSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EventBlockRow } from './block-codec.js';
import { tempDirs } from '../../testing/temp-dirs.js';
import { RECORD_HEADER_BYTES, SegmentLog } from './segment-log.js';
import type { PlacedGroup, RecoveredBlock } from './segment-log.js';

const newDir = tempDirs('herald-segments-');

/** A block of `count` events from `first`, its payload `bytes` long and filled with `fill`. */
function block(first: number, count: number, bytes: number, fill: number): EventBlockRow {
  const keys = new Uint8Array(count * 4).fill(first % 251);
  return [first, first + count - 1, 1_000 + first, bytes, keys, new Uint8Array(bytes).fill(fill)];
}

function recovered(dir: string, next = 1): { log: SegmentLog; blocks: RecoveredBlock[] } {
  const log = new SegmentLog({ dir, sync: true });
  const blocks: RecoveredBlock[] = [];
  log.recover(undefined, next, (b) => blocks.push(b));
  return { log, blocks };
}

const firsts = (blocks: readonly RecoveredBlock[]) => blocks.map((b) => b.row[0]);

/** A fresh log in `dir` holding one group: sequence 1. */
function logOfOne(dir: string): SegmentLog {
  const { log } = recovered(dir);
  log.write(log.place([block(1, 1, 200, 1)]));
  return log;
}

describe('segment log', () => {
  it('recovers every whole group in order, across segments, with each payload where it says', async () => {
    const dir = newDir();
    const { log } = recovered(dir);
    const groups: PlacedGroup[] = [];
    for (const rows of [
      [block(1, 2, 3_000, 1), block(3, 1, 500, 2)],
      [block(4, 3, 10_000, 3)],
      [block(7, 1, 100, 4), block(8, 2, 70_000, 5), block(10, 1, 10, 6)],
    ]) {
      const group = log.place(rows);
      log.write(group);
      groups.push(group);
    }
    // No spare is ready when the first groups arrive, so they start segments of their own.
    expect(log.segments().length).toBeGreaterThan(1);
    await log.close();
    const again = recovered(dir);
    expect(firsts(again.blocks)).toEqual([1, 3, 4, 7, 8, 10]);
    for (const { row, location } of again.blocks) {
      const payload = again.log.readPayload(location.segment, location.payloadAt, row[5].byteLength);
      expect(payload.equals(Buffer.from(row[5]))).toBe(true);
      expect(row[4].byteLength).toBe((row[1] - row[0] + 1) * 4);
    }
    // The next group continues after the last one.
    const next = again.log.place([block(11, 1, 50, 7)]);
    again.log.write(next);
    await again.log.close();
    expect(firsts(recovered(dir).blocks)).toEqual([1, 3, 4, 7, 8, 10, 11]);
  });

  it('leaves out a group cut short, whole: a batch is stored all or nothing', async () => {
    const dir = newDir();
    const log = logOfOne(dir);
    const torn = log.place([block(2, 2, 4_000, 2), block(4, 2, 4_000, 3)]);
    log.write(torn);
    await log.close();
    // Cut inside the group's second record: its first record is whole, and must not be taken alone.
    const second = (torn.locations[1]?.payloadAt ?? 0) + 100;
    truncateSync(torn.file, second);
    const again = recovered(dir);
    expect(firsts(again.blocks)).toEqual([1]);
    // The log goes on where the torn group began.
    const group = again.log.place([block(2, 1, 10, 9)]);
    expect([group.file, group.position]).toEqual([torn.file, torn.position]);
    again.log.write(group);
    await again.log.close();
    expect(firsts(recovered(dir).blocks)).toEqual([1, 2]);
  });

  it('does not take a record left over from an undone group, even one that would fit the sequence', async () => {
    const dir = newDir();
    const log = logOfOne(dir);
    // In a spare segment, filled ahead, an undone group's first header is zeroed and the rest of it stays
    // (one undone at the end of a segment it extended is cut off instead): the spare asked for by the
    // first group is awaited, and the next group, too large for the first segment, goes into it.
    await (log as unknown as { preparing: Promise<void> | undefined }).preparing;
    // Written, then undone (its index commit failed): the same sequences are written again after it.
    const undone = log.place([block(2, 2, 300, 2), block(4, 3, 300, 3)]);
    expect(statSync(undone.file).size).toBeGreaterThan(undone.end);
    log.write(undone);
    log.rewind(undone);
    const redone = log.place([block(2, 2, 300, 4)]);
    expect(redone.position).toBe(undone.position);
    log.write(redone);
    await log.close();
    // Right after the new group lies the undone group's second record, sequences 4-6, marked as the
    // end of a group: only the checksum chain tells it apart.
    const leftover = (undone.locations[0]?.payloadAt ?? 0) + 300;
    expect(statSync(undone.file).size).toBeGreaterThan(leftover + RECORD_HEADER_BYTES);
    const again = recovered(dir);
    expect(firsts(again.blocks)).toEqual([1, 2]);
    expect(again.blocks[1]?.row[5][0]).toBe(4);
    await again.log.close();
  });

  it('cuts off a group undone at the end of a segment it extended: erasing it needs no room on the disk', async () => {
    const dir = newDir();
    const log = logOfOne(dir);
    // No spare is ready yet: the group opens a segment of its own size, written by extending it.
    const undone = log.place([block(2, 1, 5_000, 2)]);
    log.write(undone);
    expect(statSync(undone.file).size).toBe(undone.end);
    // Zeroing its header would write where a full disk refused the group (test/durability/disk-full.test.ts).
    log.rewind(undone);
    expect(statSync(undone.file).size).toBe(undone.position);
    const redone = log.place([block(2, 1, 100, 3)]);
    expect(redone.position).toBe(undone.position);
    log.write(redone);
    await log.close();
    const again = recovered(dir);
    expect(firsts(again.blocks)).toEqual([1, 2]);
    expect(again.blocks[1]?.row[5][0]).toBe(3);
    await again.log.close();
  });

  it('finds a group beyond a segment whose only group was undone', async () => {
    const dir = newDir();
    const log = logOfOne(dir);
    // No spare is ready yet: the group opens a segment of its own size, and is undone there.
    const undone = log.place([block(2, 1, 100, 2)]);
    expect(undone.segment).toBe(2);
    log.write(undone);
    log.rewind(undone);
    // Larger than what is left of that segment: it opens the next one.
    const redone = log.place([block(2, 1, 5_000, 3)]);
    expect(redone.segment).toBe(3);
    log.write(redone);
    await log.close();
    const again = recovered(dir);
    expect(firsts(again.blocks)).toEqual([1, 2]);
    expect(again.blocks[1]?.row[5].byteLength).toBe(5_000);
    await again.log.close();
  });

  it('refuses groups once an undone group could not be erased, until it recovers', async () => {
    const dir = newDir();
    const { log } = recovered(dir);
    const group = log.place([block(1, 1, 10, 1)]);
    log.write(group);
    rmSync(group.file);
    rmSync(path.dirname(group.file), { recursive: true, force: true });
    log.rewind(group);
    expect(() => log.place([block(1, 1, 10, 1)])).toThrow(/event log cannot write/);
    await log.close();
  });
});
