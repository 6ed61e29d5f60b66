// Acceptance: nothing acknowledged is lost. Several keep-alive clients publish concurrently; the broker is
// SIGKILLed while requests are in flight and restarted on the same data directory. Every event that got
// a 202 must be in the log exactly once, sequences strictly increasing, batches all-or-nothing.
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { readLog } from '../support/http.js';

const CLIENTS = 8;
/** SIGKILL once this many requests have been acknowledged. */
const KILL_AFTER_ACKS = 300;
/** Every BATCH_EVERY-th request of a client is a batch of BATCH_SIZE events. */
const BATCH_EVERY = 5;
const BATCH_SIZE = 3;

const brokers: BrokerProcess[] = [];
const dataDirs = new Set<string>();

afterAll(async () => {
  for (const b of brokers) await b.stop('SIGKILL');
  for (const dir of dataDirs) removeDir(dir);
});

async function start(durability: string, dataDir?: string, writer = 'inline'): Promise<BrokerProcess> {
  const b = await startBroker({
    args: ['--durability', durability, '--store-writer', writer],
    ...(dataDir === undefined ? {} : { dataDir }),
  });
  brokers.push(b);
  dataDirs.add(b.dataDir);
  return b;
}

interface Run {
  /** Ids of every event whose request was answered 202. */
  readonly acked: Set<string>;
  /** Every id sent, by request: one id, or the ids of a batch. */
  readonly requests: string[][];
  readonly unexpected: string[];
  inFlightAtKill: number;
}

async function publishUntilKilled(broker: BrokerProcess, batchSize: number): Promise<Run> {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const run: Run = { acked: new Set(), requests: [], unexpected: [], inFlightAtKill: 0 };
  let acknowledgedRequests = 0;
  let inFlight = 0;
  let killed = false;

  const client = async (c: number) => {
    for (let n = 0; !killed; n++) {
      const isBatch = n % BATCH_EVERY === BATCH_EVERY - 1;
      const ids = isBatch
        ? Array.from({ length: batchSize }, (_, k) => `c${c}-r${n}-e${k}`)
        : [`c${c}-r${n}`];
      run.requests.push(ids);
      const event = (id: string) => ({
        specversion: '1.0',
        id,
        source: `/herald/durability/client-${c}`,
        type: 'dev.herald.durability',
        data: { client: c, request: n },
      });
      inFlight++;
      try {
        const response = await request(`${broker.url}/events`, {
          method: 'POST',
          dispatcher: agent,
          headers: {
            'content-type': isBatch ? 'application/cloudevents-batch+json' : 'application/cloudevents+json',
          },
          body: JSON.stringify(isBatch ? ids.map(event) : event(ids[0]!)),
        });
        await response.body.text();
        if (response.statusCode === 202) {
          for (const id of ids) run.acked.add(id);
          acknowledgedRequests++;
        } else {
          run.unexpected.push(`${ids[0]}: ${response.statusCode}`);
        }
      } catch {
        return; // the broker died under this request
      } finally {
        inFlight--;
      }
      if (!killed && acknowledgedRequests >= KILL_AFTER_ACKS) {
        killed = true;
        run.inFlightAtKill = inFlight;
        broker.child.kill('SIGKILL');
      }
    }
  };

  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  await agent.destroy();
  return run;
}

async function crashAndVerify(
  durability: 'fsync' | 'buffered',
  writer = 'inline',
  batchSize = BATCH_SIZE,
): Promise<void> {
  const first = await start(durability, undefined, writer);
  const run = await publishUntilKilled(first, batchSize);
  expect(await first.stop('SIGKILL')).toBe('SIGKILL');
  expect(run.unexpected).toEqual([]);
  expect(run.inFlightAtKill).toBeGreaterThan(0);

  const second = await start(durability, first.dataDir, writer);
  const log = await readLog(second.adminUrl);
  const storedIds = log.map((entry) => entry.event['id'] as string);
  const stored = new Set(storedIds);
  const sent = new Set(run.requests.flat());

  const duplicates = storedIds.length - stored.size;
  const lost = [...run.acked].filter((id) => !stored.has(id));
  const phantoms = storedIds.filter((id) => !sent.has(id));
  const partialBatches = run.requests.filter((ids) => {
    const present = ids.filter((id) => stored.has(id)).length;
    return present !== 0 && present !== ids.length;
  });
  const sequences = log.map((entry) => entry.sequence);
  const increasing = sequences.every((s, i) => i === 0 || s > sequences[i - 1]!);

  console.log(
    `[durability ${durability}, ${writer} writer, batches of ${batchSize}] requests sent ${run.requests.length}, in flight at SIGKILL ${run.inFlightAtKill}; ` +
      `events acknowledged ${run.acked.size}, stored after restart ${log.length} ` +
      `(${log.length - run.acked.size} stored without a 202), lost ${lost.length}, duplicates ${duplicates}, ` +
      `partial batches ${partialBatches.length}`,
  );

  expect(run.acked.size).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
  expect(lost).toEqual([]);
  expect(duplicates).toBe(0);
  expect(phantoms).toEqual([]);
  expect(partialBatches).toEqual([]);
  expect(increasing).toBe(true);

  // The restarted broker continues the sequence; nothing is reused.
  const response = await request(`${second.url}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({
      specversion: '1.0',
      id: 'after-restart',
      source: '/herald/durability',
      type: 't',
    }),
  });
  await response.body.text();
  expect(response.statusCode).toBe(202);
  const after = await readLog(second.adminUrl);
  expect(after.at(-1)!.event['id']).toBe('after-restart');
  expect(after.at(-1)!.sequence).toBeGreaterThan(sequences.at(-1) ?? 0);
  await second.stop();
}

describe('durability across SIGKILL', () => {
  it('loses no acknowledged event with --durability fsync (the default)', async () => {
    await crashAndVerify('fsync');
  });

  it('loses no acknowledged event with --durability buffered (a process crash, not a machine crash)', async () => {
    await crashAndVerify('buffered');
  });

  it('loses no acknowledged event with --store-writer thread (commits on a worker thread)', async () => {
    await crashAndVerify('fsync', 'thread');
  });

  it("loses no acknowledged event with batches of 100 on the inline writer (their groups sync on libuv's pool)", async () => {
    await crashAndVerify('fsync', 'inline', 100);
  });
});
