// Acceptance: a torn tail is recovered. The broker acknowledges single events (one commit each) and then
// one large batch (one group of records in the embedded store's segment file), and is SIGKILLed. Then:
// - the segment is cut in the middle of the batch's record, as a machine losing power during the write
//   would leave it: the broker must open, hold every event before the batch and nothing of it, and
//   continue the sequence;
// - or the last index commit is torn out of SQLite's write-ahead log (a machine crash after the segment
//   was synced and before the index commit reached the disk, which it does without an fsync of its own;
//   with the inline writer the batch's index rows may not have been committed at all): the broker must
//   find the records in the segment and hold every event.
import { readFileSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { readLog } from '../support/http.js';
import { SegmentLog } from '../../src/store/embedded/segment-log.js';
import type { RecoveredBlock } from '../../src/store/embedded/segment-log.js';

const SINGLES = 20;
const BATCH = 30;

const brokers: BrokerProcess[] = [];
const dataDirs = new Set<string>();
afterAll(async () => {
  for (const broker of brokers) await broker.stop('SIGKILL');
  for (const dir of dataDirs) removeDir(dir);
});

async function start(writer: string, dataDir?: string): Promise<BrokerProcess> {
  const broker = await startBroker({
    args: ['--durability', 'fsync', '--store-writer', writer],
    ...(dataDir === undefined ? {} : { dataDir }),
  });
  brokers.push(broker);
  dataDirs.add(broker.dataDir);
  return broker;
}

const event = (id: string, data: unknown) => ({
  specversion: '1.0',
  id,
  source: '/herald/torn',
  type: 't',
  data,
});

async function publish(broker: BrokerProcess, body: unknown, batch: boolean): Promise<void> {
  const response = await request(`${broker.url}/events`, {
    method: 'POST',
    headers: {
      'content-type': batch ? 'application/cloudevents-batch+json' : 'application/cloudevents+json',
    },
    body: JSON.stringify(body),
  });
  await response.body.text();
  expect(response.statusCode).toBe(202);
}

/**
 * Cuts the WAL in the middle of the last frame of its last complete commit (SQLite WAL format: a 32-byte
 * header with the page size and salts, then frames of a 24-byte header and a page; a commit's last frame
 * has a non-zero database size). Frames whose salts differ from the header's are left over from before a
 * WAL restart and are not part of the log. Returns the number of frames in the torn commit.
 */
function tearLastCommit(wal: string): number {
  const bytes = readFileSync(wal);
  const pageSize = bytes.readUInt32BE(8);
  const frameSize = 24 + pageSize;
  const commits: number[] = [];
  for (let frame = 0; 32 + (frame + 1) * frameSize <= bytes.length; frame++) {
    const at = 32 + frame * frameSize;
    if (!bytes.subarray(at + 8, at + 16).equals(bytes.subarray(16, 24))) break;
    if (bytes.readUInt32BE(at + 4) !== 0) commits.push(frame);
  }
  const last = commits.at(-1);
  if (last === undefined) throw new Error('the WAL holds no commit');
  truncateSync(wal, 32 + last * frameSize + 24 + pageSize / 2);
  return last - (commits.at(-2) ?? -1);
}

/**
 * Cuts the segment in the middle of the record holding `sequence` (the first of a group): that record
 * and every one after it are gone. The record is found in the segment as recovery reads it (its index
 * row may not have been committed when the broker was killed). Returns the bytes of the payload cut.
 */
async function tearRecordOf(dataDir: string, sequence: number): Promise<number> {
  const log = new SegmentLog({ dir: path.join(dataDir, 'default.segments'), sync: false });
  const records: RecoveredBlock[] = [];
  log.recover(undefined, 1, (record) => records.push(record));
  await log.close();
  const record = records.find((candidate) => candidate.row[0] === sequence);
  expect(record).toBeDefined();
  const { location, row } = record as RecoveredBlock;
  truncateSync(log.fileOf(location.segment), location.payloadAt + Math.floor(row[5].byteLength / 2));
  return row[5].byteLength;
}

async function publishThenKill(
  writer: string,
): Promise<{ broker: BrokerProcess; singles: string[]; batch: string[] }> {
  const first = await start(writer);
  const singles = Array.from({ length: SINGLES }, (_, i) => `single-${i}`);
  for (const id of singles) await publish(first, event(id, { id }), false);
  const batch = Array.from({ length: BATCH }, (_, i) => `batch-${i}`);
  await publish(
    first,
    batch.map((id) => event(id, { id, pad: 'x'.repeat(2_000) })),
    true,
  );
  expect(await first.stop('SIGKILL')).toBe('SIGKILL');
  return { broker: first, singles, batch };
}

async function tornTail(writer: string): Promise<void> {
  const { broker: first, singles } = await publishThenKill(writer);
  // The batch's 60 KB are one group: the torn record is the batch's, not a single event's.
  expect(await tearRecordOf(first.dataDir, SINGLES + 1)).toBeGreaterThan(30_000);

  const second = await start(writer, first.dataDir);
  const log = await readLog(second.adminUrl);
  expect(log.map((entry) => entry.event['id'])).toEqual(singles);
  const sequences = log.map((entry) => entry.sequence);
  expect(sequences).toEqual(Array.from({ length: SINGLES }, (_, i) => i + 1));

  await publish(second, event('after-tear', null), false);
  const after = await readLog(second.adminUrl);
  expect(after.at(-1)?.event['id']).toBe('after-tear');
  expect(after.at(-1)?.sequence).toBe(SINGLES + 1);
  await second.stop();
  // And it opens again cleanly after the recovery.
  const third = await start(writer, first.dataDir);
  expect((await readLog(third.adminUrl)).map((entry) => entry.event['id'])).toEqual([
    ...singles,
    'after-tear',
  ]);
  await third.stop();
}

async function lostIndexCommit(writer: string): Promise<void> {
  const { broker: first, singles, batch } = await publishThenKill(writer);
  expect(tearLastCommit(path.join(first.dataDir, 'default.db-wal'))).toBeGreaterThan(0);
  const second = await start(writer, first.dataDir);
  const log = await readLog(second.adminUrl);
  expect(log.map((entry) => entry.event['id'])).toEqual([...singles, ...batch]);
  expect(log.map((entry) => entry.sequence)).toEqual(
    Array.from({ length: SINGLES + BATCH }, (_, i) => i + 1),
  );
  await publish(second, event('after-recovery', null), false);
  expect((await readLog(second.adminUrl)).at(-1)?.sequence).toBe(SINGLES + BATCH + 1);
  await second.stop();
}

describe('torn tail after SIGKILL', () => {
  it('recovers a segment cut inside its last record (inline writer)', async () => {
    await tornTail('inline');
  });

  it('recovers a segment cut inside its last record (writer thread)', async () => {
    await tornTail('thread');
  });

  it('indexes again the records whose index commit was lost (inline writer)', async () => {
    await lostIndexCommit('inline');
  });

  it('indexes again the records whose index commit was lost (writer thread)', async () => {
    await lostIndexCommit('thread');
  });
});
