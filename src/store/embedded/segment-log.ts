import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
  writevSync,
} from 'node:fs';
import { open, statfs } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { HeraldError } from '../../errors/index.js';
import type { EventBlockRow } from './block-codec.js';

/** `fdatasync` on libuv's pool, while the event loop goes on. */
const fdatasyncOnPool = promisify(fdatasync);
/**
 * The embedded store's event payloads, in append-only segment files beside the database.
 *
 * @remarks Why not SQLite: a group committed as a SQLite row costs ~35 `pwrite`s (two per 4 KiB WAL
 * frame, then the checkpoint copying every page again into a database file that grows) and ~170 µs of
 * CPU here; the same bytes written once with one `writev` into a segment that was filled with zeros
 * ahead of time, then `fdatasync`ed, cost ~55 µs (an overwrite needs no block allocation, so the sync
 * writes no metadata). SQLite keeps the index of the blocks (sequence range, time, dedupe hashes, and
 * where each payload lies) in commits that need no `fsync` of their own: a block's record is synced
 * before its index row is written, and on open the records after the last indexed one are indexed
 * again (bench/PROFILE.md, "Issue #15, eighth round").
 *
 * A record is a 40-byte header, the block's dedupe hashes and its payload. Its checksum is a CRC-32
 * seeded with the previous record's, so a record left over from a write that was undone (or torn by a
 * crash) does not continue the chain, whatever the bytes around it.
 */
export const RECORD_HEADER_BYTES = 40;
const MAGIC = 0x31524548; // "HER1", little-endian
/** The high bit of a header's event count marks the last record of a group; the rest is the count. */
const ENDS_GROUP = 0x8000_0000;
const COUNT_MASK = 0x7fff_ffff;

/** The first spare segment's size (small: a store of a few events stays small); each next one is four times larger, up to `MAX_SEGMENT_BYTES`. */
const FIRST_SEGMENT_BYTES = 1 << 20;
const MAX_SEGMENT_BYTES = 64 << 20;
/**
 * A spare is written and synced a MiB at a time. Synced whole, a 64 MiB spare kept the disk busy for
 * ~120 ms, and a group commit's `fdatasync` waited behind it with the event loop blocked; synced a MiB
 * at a time, such a commit waited 6 ms at most (bench/PROFILE.md, "Issue #15, eleventh round").
 */
const ZEROS = new Uint8Array(1 << 20);
/**
 * The size of the next spare: `wanted`, or a quarter of it, and so on down to `FIRST_SEGMENT_BYTES`, the
 * first that takes at most half of the `free` bytes of the disk; undefined when not even that one does.
 *
 * @remarks A spare is filled until it is whole: one larger than the free space filled the disk to its
 * last block before it failed, every `SPARE_RETRY_MS`, and meanwhile SQLite's commits (index rows,
 * cursors, dead letters), the segment being written and every other process on the disk failed — a
 * publisher got a 503 for an event there was room for (test/durability/disk-full.test.ts). Half leaves
 * the rest of the disk to them.
 */
function spareSize(wanted: number, free: number): number | undefined {
  let bytes = wanted;
  while (bytes * 2 > free && bytes > FIRST_SEGMENT_BYTES) bytes /= 4;
  return bytes * 2 > free ? undefined : bytes;
}
/** How long after a failed spare the next one is tried. */
const SPARE_RETRY_MS = 1_000;
/** Segments kept open for reading at most (a replay of a long log reads many, once each). */
const OPEN_READERS = 32;

/** The end of the last record: where the next one goes, and the checksum it continues. */
export interface LogPosition {
  readonly segment: number;
  readonly end: number;
  readonly crc: number;
}

/** Where a block's record put its payload, and the chain's checksum after it. */
export interface BlockLocation {
  readonly segment: number;
  readonly payloadAt: number;
  readonly crc: number;
}

/** A group's records, placed at the end of the log and not yet written. */
export interface PlacedGroup {
  readonly blocks: readonly EventBlockRow[];
  readonly locations: readonly BlockLocation[];
  readonly file: string;
  readonly segment: number;
  readonly position: number;
  /** Where the group's last record ends. */
  readonly end: number;
  /** The group's record headers, one after the other (moved to the writer thread with the blocks). */
  readonly headers: Uint8Array;
  /** The chain's checksum before the group. */
  readonly crcBefore: number;
}

/** A record read back while recovering: the block and where it lies. */
export interface RecoveredBlock {
  readonly row: EventBlockRow;
  readonly location: BlockLocation;
  /** The last record of its group (the flag in the high bit of the header's event count). */
  readonly endsGroup: boolean;
  /** The chain's checksum before this record. */
  readonly crcBefore: number;
}

function segmentName(segment: number): string {
  return `${String(segment).padStart(20, '0')}.seg`;
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a placed group at its position and, with `sync`, waits for the disk. `fds` caches the open
 * segment (the caller's: the event loop and the writer thread each keep their own).
 */
export function writeGroup(fds: Map<string, number>, group: PlacedGroup, sync: boolean): void {
  const fd = writeRecords(fds, group);
  if (sync) fdatasyncSync(fd);
}

/** Writes a placed group's records at its position (not synced); returns the segment's descriptor. */
function writeRecords(fds: Map<string, number>, group: PlacedGroup): number {
  let fd = fds.get(group.file);
  if (fd === undefined) {
    for (const [file, open] of fds) {
      closeSync(open);
      fds.delete(file);
    }
    fd = openSync(group.file, 'r+');
    fds.set(group.file, fd);
  }
  const buffers: Uint8Array[] = [];
  group.blocks.forEach((block, i) => {
    buffers.push(
      group.headers.subarray(i * RECORD_HEADER_BYTES, (i + 1) * RECORD_HEADER_BYTES),
      block[4],
      block[5],
    );
  });
  let position = group.position;
  while (buffers.length > 0) {
    let written = writevSync(fd, buffers, position);
    position += written;
    // A short write (rare for files): drop what went out and write the rest.
    while (written > 0 && buffers.length > 0) {
      const first = buffers[0] as Uint8Array;
      if (written >= first.byteLength) {
        written -= first.byteLength;
        buffers.shift();
      } else {
        buffers[0] = first.subarray(written);
        written = 0;
      }
    }
  }
  return fd;
}

export function closeSegments(fds: Map<string, number>): void {
  for (const fd of fds.values()) closeSync(fd);
  fds.clear();
}

export interface SegmentLogOptions {
  readonly dir: string;
  /** `fdatasync` every group (`--durability fsync`). */
  readonly sync: boolean;
}

/** The segment files: placing groups at the end, reading payloads, recovery and deletion. */
export class SegmentLog {
  readonly dir: string;
  private readonly sync: boolean;
  /** The segment being written (0: none yet), where its next record goes, and its size. */
  private segment = 0;
  private position = 0;
  private capacity = 0;
  private crc = 0;
  /** A zero-filled, synced file waiting to become the next segment. */
  private spare: { file: string; capacity: number } | undefined;
  private preparing: Promise<void> | undefined;
  private nextSpareBytes = FIRST_SEGMENT_BYTES;
  /** After a spare failed to be prepared, none is tried before this time. */
  private spareRetryAt = 0;
  private spareCount = 0;
  private broken: Error | undefined;
  private closed = false;
  /** Open segments for reading, by number. */
  private readonly readers = new Map<number, number>();
  /** The event loop's open segment for writing (the inline writer's). */
  readonly writers = new Map<string, number>();
  /** Segments started without a spare ready (their writes extend the file: slower syncs). */
  unpreparedSegments = 0;

  constructor(options: SegmentLogOptions) {
    this.dir = options.dir;
    this.sync = options.sync;
    // A new directory's entry is synced too, or a machine crash could lose the segments with it.
    if (mkdirSync(this.dir, { recursive: true }) !== undefined) syncDirectory(path.dirname(this.dir));
  }

  fileOf(segment: number): string {
    return path.join(this.dir, segmentName(segment));
  }

  /** Segment numbers present, ascending. */
  segments(): number[] {
    return readdirSync(this.dir)
      .filter((name) => /^\d{20}\.seg$/.test(name))
      .map((name) => Number(name.slice(0, 20)))
      .sort((a, b) => a - b);
  }

  /**
   * Reads the groups after `from` that continue the chain with `nextSequence`, hands each block of every
   * whole group to `index`, and makes the end of the last whole group the end of the log. A group cut
   * short (a crash during its write: never acknowledged) is left out entirely, so that a batch is stored
   * all or nothing. Segments after the end, and spares left by a previous run, are deleted: nothing in
   * them continues the log.
   */
  recover(from: LogPosition | undefined, nextSequence: number, index: (block: RecoveredBlock) => void): void {
    for (const name of readdirSync(this.dir))
      if (name.endsWith('.tmp')) unlinkSync(path.join(this.dir, name));
    const present = this.segments();
    let segment = from?.segment ?? present[0] ?? 0;
    let position = from?.end ?? 0;
    let crc = from?.crc ?? 0;
    let expected = nextSequence;
    // The records read of the group being read, and where it started.
    let group: RecoveredBlock[] = [];
    let at = { segment, position };
    for (;;) {
      let record = this.readRecord(at.segment, at.position, crc, expected);
      if (record === undefined && group.length === 0) {
        // A group that did not fit went to a later segment, from its start: the next one, or one after
        // it when a group that opened the next one was undone (its first header erased).
        for (const next of present) {
          if (next <= at.segment) continue;
          record = this.readRecord(next, 0, crc, expected);
          if (record !== undefined) break;
        }
      }
      if (record === undefined) break;
      group.push(record);
      at = {
        segment: record.location.segment,
        position: record.location.payloadAt + record.row[5].byteLength,
      };
      crc = record.location.crc;
      expected = record.row[1] + 1;
      if (record.endsGroup) {
        for (const block of group) index(block);
        group = [];
        segment = at.segment;
        position = at.position;
      }
    }
    crc = group[0]?.crcBefore ?? crc;
    for (const n of present) if (n > segment) this.remove(n);
    this.segment = segment;
    this.position = position;
    this.crc = crc;
    this.capacity = segment === 0 ? 0 : this.sizeOf(segment);
    // The first spare is prepared when the first group is placed, not here: a store opened only to
    // be read creates no files behind its caller's back.
  }

  private sizeOf(segment: number): number {
    const fd = this.reader(segment);
    return fd === undefined ? 0 : fstatSync(fd).size;
  }

  private reader(segment: number): number | undefined {
    let fd = this.readers.get(segment);
    if (fd !== undefined) {
      // Most recently used last: the map's first entry is the one to close.
      this.readers.delete(segment);
      this.readers.set(segment, fd);
      return fd;
    }
    try {
      fd = openSync(this.fileOf(segment), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    this.readers.set(segment, fd);
    if (this.readers.size > OPEN_READERS) {
      const [oldest, oldestFd] = this.readers.entries().next().value as [number, number];
      closeSync(oldestFd);
      this.readers.delete(oldest);
    }
    return fd;
  }

  private readExactly(fd: number, length: number, at: number): Buffer | undefined {
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, at + done);
      if (n === 0) return undefined;
      done += n;
    }
    return out;
  }

  /** The record at `at` if it is whole and continues the chain (`seed`, `expected` first sequence). */
  private readRecord(
    segment: number,
    at: number,
    seed: number,
    expected: number,
  ): RecoveredBlock | undefined {
    const fd = segment === 0 ? undefined : this.reader(segment);
    if (fd === undefined) return undefined;
    const header = this.readExactly(fd, RECORD_HEADER_BYTES, at);
    if (header === undefined || header.readUInt32LE(0) !== MAGIC) return undefined;
    const firstSeq = header.readDoubleLE(8);
    const counted = header.readUInt32LE(16);
    const count = counted & COUNT_MASK;
    const keysLength = header.readUInt32LE(32);
    const payloadLength = header.readUInt32LE(36);
    if (firstSeq !== expected || count === 0 || keysLength !== count * 4) return undefined;
    if (at + RECORD_HEADER_BYTES + keysLength + payloadLength > fstatSync(fd).size) return undefined;
    const body = this.readExactly(fd, keysLength + payloadLength, at + RECORD_HEADER_BYTES);
    if (body === undefined) return undefined;
    const crc = crc32(body, crc32(header.subarray(8), seed));
    if (crc !== header.readUInt32LE(4)) return undefined;
    const row: EventBlockRow = [
      firstSeq,
      firstSeq + count - 1,
      header.readDoubleLE(24),
      header.readUInt32LE(20),
      body.subarray(0, keysLength),
      body.subarray(keysLength),
    ];
    return {
      row,
      location: { segment, payloadAt: at + RECORD_HEADER_BYTES + keysLength, crc },
      endsGroup: counted !== count,
      crcBefore: seed,
    };
  }

  /**
   * Whether an indexed block's record is whole where the index says (its header names its first
   * sequence and checksum, and its payload fits in the file). Checked for the last indexed block on
   * open: with `buffered` durability a machine crash can keep an index row and lose its record.
   */
  holds(firstSeq: number, keysLength: number, payloadLength: number, location: BlockLocation): boolean {
    const fd = this.reader(location.segment);
    if (fd === undefined) return false;
    const at = location.payloadAt - keysLength - RECORD_HEADER_BYTES;
    if (at < 0 || location.payloadAt + payloadLength > fstatSync(fd).size) return false;
    const header = this.readExactly(fd, RECORD_HEADER_BYTES, at);
    return (
      header !== undefined &&
      header.readUInt32LE(0) === MAGIC &&
      header.readDoubleLE(8) === firstSeq &&
      header.readUInt32LE(4) === location.crc
    );
  }

  /**
   * A block's payload, read with its record's header and dedupe hashes and checked against the chain
   * (`seed` before the record, `crc` after it, both from the index): a record damaged on the disk since
   * it was written (not a torn tail: recovery handles those) is refused.
   */
  readCheckedPayload(
    segment: number,
    payloadAt: number,
    keysLength: number,
    payloadLength: number,
    seed: number,
    crc: number,
  ): Buffer {
    const start = payloadAt - keysLength - RECORD_HEADER_BYTES;
    const record = this.readPayload(segment, start, RECORD_HEADER_BYTES + keysLength + payloadLength);
    if (crc32(record.subarray(8), seed) !== crc) {
      throw new HeraldError(
        'HERALD_LOG_CORRUPT',
        `the record at ${start} in segment ${segmentName(segment)} does not match its checksum: the file was damaged after it was written`,
      );
    }
    return record.subarray(RECORD_HEADER_BYTES + keysLength);
  }

  /**
   * A block's payload, read from its segment. The index says it was written there, so a segment file
   * gone or ending before it was cut short or removed since: damage, like a record that fails its checksum.
   */
  readPayload(segment: number, at: number, length: number): Buffer {
    const fd = this.reader(segment);
    const payload = fd === undefined ? undefined : this.readExactly(fd, length, at);
    if (payload === undefined) {
      throw new HeraldError(
        'HERALD_LOG_CORRUPT',
        fd === undefined
          ? `segment ${segmentName(segment)} is missing, with the record at ${at} it held: the file was removed after it was written`
          : `segment ${segmentName(segment)} ends before the record at ${at}: the file was cut short after it was written`,
      );
    }
    return payload;
  }

  /**
   * Places a group's blocks at the end of the log: their headers and checksums, and where each payload
   * goes. The whole group goes in one segment; when it does not fit, in the next one.
   */
  place(blocks: readonly EventBlockRow[]): PlacedGroup {
    if (this.broken !== undefined) {
      throw new HeraldError(
        'HERALD_STORE_UNAVAILABLE',
        `the event log cannot write: ${this.broken.message}`,
        {
          cause: this.broken,
          retryAfter: 1,
        },
      );
    }
    let total = 0;
    for (const block of blocks) total += RECORD_HEADER_BYTES + block[4].byteLength + block[5].byteLength;
    if (this.segment === 0 || this.position + total > this.capacity) this.startSegment(total);
    // Its own memory (not Node's shared pool): it is moved to the writer thread.
    const headers = Buffer.allocUnsafeSlow(RECORD_HEADER_BYTES * blocks.length);
    const locations: BlockLocation[] = [];
    const crcBefore = this.crc;
    const position = this.position;
    let at = position;
    let crc = crcBefore;
    blocks.forEach((block, i) => {
      const header = headers.subarray(i * RECORD_HEADER_BYTES, (i + 1) * RECORD_HEADER_BYTES);
      header.writeUInt32LE(MAGIC, 0);
      header.writeDoubleLE(block[0], 8);
      header.writeUInt32LE(block[1] - block[0] + 1 + (i === blocks.length - 1 ? ENDS_GROUP : 0), 16);
      header.writeUInt32LE(block[3], 20);
      header.writeDoubleLE(block[2], 24);
      header.writeUInt32LE(block[4].byteLength, 32);
      header.writeUInt32LE(block[5].byteLength, 36);
      crc = crc32(block[5], crc32(block[4], crc32(header.subarray(8), crc)));
      header.writeUInt32LE(crc, 4);
      const payloadAt = at + RECORD_HEADER_BYTES + block[4].byteLength;
      locations.push({ segment: this.segment, payloadAt, crc });
      at = payloadAt + block[5].byteLength;
    });
    this.position = at;
    this.crc = crc;
    if (this.position * 2 > this.capacity) this.prepareSpare();
    return {
      blocks,
      locations,
      file: this.fileOf(this.segment),
      segment: this.segment,
      position,
      end: at,
      headers,
      crcBefore,
    };
  }

  /** Writes a placed group from the event loop. */
  write(group: PlacedGroup): void {
    writeGroup(this.writers, group, this.sync);
  }

  /**
   * Writes a placed group from the event loop and syncs it on libuv's pool: the promise settles once the
   * records are on disk, and the event loop runs meanwhile.
   */
  writeAsync(group: PlacedGroup): Promise<void> {
    const fd = writeRecords(this.writers, group);
    if (!this.sync) return Promise.resolve();
    return fdatasyncOnPool(fd);
  }

  /**
   * Undoes a group that failed to write: the next group goes where it went, and its first header is
   * zeroed so that recovery cannot take what reached the file for part of the log. If even that fails,
   * the log refuses further groups (the store answers 503) until the broker restarts and recovers.
   *
   * @remarks A group at the end of a file it extended (a segment started without a spare) is cut off
   * instead: truncating needs no room. Zeroing its header extended the file, and on a disk full to the
   * last block that failed too: every event was refused until a restart (test/durability/disk-full.test.ts).
   */
  rewind(group: PlacedGroup): void {
    this.segment = group.segment;
    this.position = group.position;
    this.crc = group.crcBefore;
    try {
      const fd = openSync(group.file, 'r+');
      try {
        if (fstatSync(fd).size <= group.end) ftruncateSync(fd, group.position);
        else writeSync(fd, ZEROS, 0, RECORD_HEADER_BYTES, group.position);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      this.broken = error instanceof Error ? error : new Error(String(error));
    }
  }

  /**
   * Stops the log: a group whose write may or may not have happened (the writer thread failed) cannot be
   * undone, so nothing more is written until the broker restarts and recovers what is there.
   */
  fail(error: Error): void {
    this.broken ??= error;
  }

  /** Moves to the next segment: the spare when it is ready and large enough, else a new empty file. */
  private startSegment(total: number): void {
    const segment = this.segment + 1;
    const file = this.fileOf(segment);
    const spare = this.spare;
    if (spare !== undefined && spare.capacity >= total) {
      this.spare = undefined;
      renameSync(spare.file, file);
      this.capacity = spare.capacity;
    } else {
      // Writes to this file extend it, so it holds this group only, and the next group moves on again.
      closeSync(openSync(file, 'w'));
      this.capacity = total;
      this.unpreparedSegments++;
    }
    syncDirectory(this.dir);
    this.segment = segment;
    this.position = 0;
    this.prepareSpare();
  }

  /**
   * Fills a spare segment with zeros and syncs it, off the event loop, unless one is ready or coming;
   * each MiB is synced as it is written (`ZEROS`), so the group commits' syncs never queue behind more.
   */
  private prepareSpare(): void {
    if (this.spare !== undefined || this.preparing !== undefined || this.closed) return;
    if (Date.now() < this.spareRetryAt) return;
    const wanted = this.nextSpareBytes;
    const file = path.join(this.dir, `spare-${this.spareCount++}.tmp`);
    this.preparing = (async () => {
      const disk = await statfs(this.dir);
      const bytes = spareSize(wanted, disk.bavail * disk.bsize);
      if (bytes === undefined) throw new Error('no room for a spare segment');
      const handle = await open(file, 'w');
      try {
        for (let done = 0; done < bytes; done += ZEROS.byteLength) {
          await handle.write(ZEROS, 0, Math.min(ZEROS.byteLength, bytes - done));
          if (this.sync) await handle.datasync();
        }
      } finally {
        await handle.close();
      }
      if (this.closed) rmSync(file, { force: true });
      else this.spare = { file, capacity: bytes };
      // A smaller spare than wanted (little room) does not grow the next one.
      if (bytes === wanted) this.nextSpareBytes = Math.min(bytes * 4, MAX_SEGMENT_BYTES);
    })()
      .catch(() => {
        // A full or failing disk, or too little room for a spare: the part written goes, and the next
        // try waits (groups meanwhile start segments without a spare, only slower).
        rmSync(file, { force: true });
        this.spareRetryAt = Date.now() + SPARE_RETRY_MS;
      })
      .finally(() => {
        this.preparing = undefined;
      });
  }

  /** Deletes the segments below `segment` (never the one being written). */
  removeBelow(segment: number): void {
    for (const n of this.segments()) if (n < segment && n < this.segment) this.remove(n);
  }

  private remove(segment: number): void {
    const fd = this.readers.get(segment);
    if (fd !== undefined) closeSync(fd);
    this.readers.delete(segment);
    unlinkSync(this.fileOf(segment));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.preparing;
    if (this.spare !== undefined) rmSync(this.spare.file, { force: true });
    this.spare = undefined;
    closeSegments(this.writers);
    for (const fd of this.readers.values()) closeSync(fd);
    this.readers.clear();
  }
}
