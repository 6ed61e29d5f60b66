// What `--durability fsync` rests on, checked at the system-call level rather than by a process kill
// (which cannot tell fsync from no fsync: the page cache survives it). The broker runs with the fsync
// probe (test/infra/fsync-probe, an LD_PRELOAD library) that logs every fsync/fdatasync it completes.
// The claim: every 202 is preceded by a completed sync of the segment file that holds the event (the
// embedded store's event log; SQLite holds only its index, see src/store/embedded/segment-log.ts).
// Publishing one event at a time, the segment sync count read when a 202 arrives must exceed the count
// read before the request was sent. `buffered` is the control: there a 202 comes without a sync, which
// shows the probe tells the two apart.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { publish, publishBatch } from '../harness/client.js';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { fsyncProbeEnv, readSyncLog } from '../infra/fsync-probe/probe.js';

const PUBLISHES = 20;
const MIB = 1 << 20;

const brokers: BrokerProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const broker of brokers) await broker.stop('SIGKILL');
  for (const dir of dirs) removeDir(dir);
});

interface SyncTrace {
  /** Per acknowledged publish: segment syncs completed between sending it and its 202. */
  readonly walSyncsPerAck: number[];
  /** Files synced (segments, the database, its WAL, the data directory…), for the log line. */
  readonly files: Set<string>;
}

/** A broker on a fresh data directory, run with the fsync probe logging to `logFile`. */
async function probedBroker(
  args: readonly string[],
): Promise<{ broker: BrokerProcess; scratch: string; dataDir: string; logFile: string }> {
  const scratch = mkdtempSync(path.join(tmpdir(), 'herald-fsync-'));
  dirs.push(scratch);
  const logFile = path.join(scratch, 'syncs.log');
  const dataDir = path.join(scratch, 'data');
  const broker = await startBroker({ dataDir, args, env: fsyncProbeEnv(logFile) });
  brokers.push(broker);
  return { broker, scratch, dataDir, logFile };
}

async function publishAndTrace(durability: string, writer: string): Promise<SyncTrace> {
  const { broker, scratch, dataDir, logFile } = await probedBroker([
    '--durability',
    durability,
    '--store-writer',
    writer,
  ]);
  const segments = path.join(dataDir, 'default.segments');
  const walSyncs = () =>
    readSyncLog(logFile).filter(
      (r) => path.dirname(r.file) === segments && r.file.endsWith('.seg') && r.rc === 0,
    ).length;
  const walSyncsPerAck: number[] = [];
  for (let i = 0; i < PUBLISHES; i++) {
    const before = walSyncs();
    // With the auto writer, batches (>= 64 events) commit on the writer thread and single events inline;
    // inline, a group holding a batch or fewer than 16 requests syncs on libuv's pool, and a larger
    // group of single events (many publishers at once) in place: each kind of group comes in turn.
    if ((writer === 'auto' || writer === 'inline') && i % 3 === 0) {
      await publishBatch(
        broker.url,
        Array.from({ length: 100 }, (_, k) => ({ id: `fsync-${i}-${k}` })),
      );
    } else if (i % 3 === 1) {
      // Counted as one: syncs between sending the first and the last 202.
      await Promise.all(Array.from({ length: 48 }, (_, k) => publish(broker.url, { id: `fsync-${i}-${k}` })));
    } else {
      await publish(broker.url, { id: `fsync-${i}` }); // throws unless 202
    }
    walSyncsPerAck.push(walSyncs() - before);
  }
  const files = new Set(readSyncLog(logFile).map((r) => path.relative(scratch, r.file)));
  await broker.stop('SIGKILL');
  console.log(
    `[fsync probe, --durability ${durability}, ${writer} writer] segment syncs between request and 202: ` +
      `${walSyncsPerAck.join(',')}; files synced: ${[...files].sort().join(', ')}`,
  );
  return { walSyncsPerAck, files };
}

/**
 * Publishes ~1.5 MiB in batches, so the log moves into its first spare segment (1 MiB) and prepares the
 * next two (4 and 16 MiB), and returns the sizes at which each spare file was synced, per file.
 */
async function spareSyncSizes(): Promise<Map<string, number[]>> {
  const { broker, logFile } = await probedBroker(['--durability', 'fsync']);
  const data = 'x'.repeat(1000);
  for (let i = 0; i < 16; i++) {
    await publishBatch(
      broker.url,
      Array.from({ length: 100 }, (_, k) => ({ id: `spare-${i}-${k}`, data })),
    );
  }
  const sizes = (): Map<string, number[]> => {
    const bySpare = new Map<string, number[]>();
    for (const r of readSyncLog(logFile)) {
      if (r.rc !== 0 || !/^spare-\d+\.tmp$/.test(path.basename(r.file))) continue;
      bySpare.set(r.file, [...(bySpare.get(r.file) ?? []), r.size]);
    }
    return bySpare;
  };
  // The spares are prepared in the background: wait until one of 4 MiB or more was synced to its end.
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && ![...sizes().values()].some((s) => Math.max(...s) >= 4 * MIB)) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await broker.stop('SIGKILL');
  return sizes();
}

describe('--durability applies what it claims, seen at the fsync level', () => {
  it('fsync: a spare segment is synced a MiB at a time, so a group commit never waits behind more', async () => {
    const bySpare = await spareSyncSizes();
    console.log(
      `[fsync probe] spare segments' sizes at each sync: ${[...bySpare]
        .map(([file, sizes]) => `${path.basename(file)} ${sizes.map((b) => b / MIB).join(',')} MiB`)
        .join('; ')}`,
    );
    const largest = Math.max(...[...bySpare.values()].map((sizes) => Math.max(...sizes)));
    expect(largest).toBeGreaterThanOrEqual(4 * MIB);
    for (const sizes of bySpare.values()) {
      // Each sync covers at most the MiB written since the one before it.
      const steps = sizes.map((size, i) => size - (i === 0 ? 0 : (sizes[i - 1] as number)));
      expect(steps.filter((step) => step > MIB)).toEqual([]);
    }
  });

  it('fsync (inline writer, batches and single events in turn): every 202 follows a completed sync of the segment holding the event', async () => {
    const trace = await publishAndTrace('fsync', 'inline');
    expect(trace.walSyncsPerAck.filter((n) => n < 1)).toEqual([]);
  });

  it('fsync (--store-writer thread): every 202 follows a completed sync of the segment holding the event', async () => {
    const trace = await publishAndTrace('fsync', 'thread');
    expect(trace.walSyncsPerAck.filter((n) => n < 1)).toEqual([]);
  });

  it('fsync (--store-writer auto, batches and single events in turn): every 202 follows a completed sync of the segment holding the event', async () => {
    const trace = await publishAndTrace('fsync', 'auto');
    expect(trace.walSyncsPerAck.filter((n) => n < 1)).toEqual([]);
  });

  it('buffered: acknowledges without syncing the segment (the probe can tell the modes apart)', async () => {
    const trace = await publishAndTrace('buffered', 'inline');
    expect(trace.walSyncsPerAck.filter((n) => n === 0).length).toBeGreaterThan(PUBLISHES / 2);
  });
});
