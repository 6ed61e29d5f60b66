// Acceptance: a batch is all or nothing and nothing acknowledged is lost, whenever the broker dies.
// The broker is SIGKILLed at many pseudo-random moments (a seeded generator: the seed is in the test
// name; HERALD_KILL_SEED=n replays a run) while several clients publish batches of random sizes, so
// kills land inside group commits (one commit holds several requests' batches) as well as between them.
// The broker is restarted on the same data directory after each kill; at the end every batch id must
// have all of its events or none, and every acknowledged batch all of them, each exactly once.
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, startBroker } from '../harness/processes.js';
import type { BrokerProcess } from '../harness/processes.js';
import { readLog } from '../support/http.js';

const KILLS = 12;
const CLIENTS = 4;
const MAX_BATCH = 25;
const SEED = Number(process.env['HERALD_KILL_SEED'] ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const brokers: BrokerProcess[] = [];
let dataDir: string | undefined;
afterAll(async () => {
  for (const broker of brokers) await broker.stop('SIGKILL');
  if (dataDir !== undefined) removeDir(dataDir);
});

interface Batch {
  readonly id: string;
  readonly size: number;
  acked: boolean;
}

/** Publishes random-sized batches from CLIENTS connections; SIGKILLs after `killAfterAcks` acks plus `killDelayMs`. */
async function publishUntilKilled(
  broker: BrokerProcess,
  round: number,
  random: () => number,
  batches: Batch[],
): Promise<void> {
  const killAfterAcks = 1 + Math.floor(random() * 40);
  const killDelayMs = Math.floor(random() * 15);
  const sizes = Array.from({ length: 10_000 }, () => 1 + Math.floor(random() * MAX_BATCH));
  let next = 0;
  let acks = 0;
  let killing = false;
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const client = async (c: number) => {
    for (let n = 0; !killing || broker.child.exitCode === null; n++) {
      if (broker.child.signalCode !== null) return;
      const batch: Batch = { id: `r${round}-c${c}-b${n}`, size: sizes[next++ % sizes.length]!, acked: false };
      batches.push(batch);
      const events = Array.from({ length: batch.size }, (_, k) => ({
        specversion: '1.0',
        id: `${batch.id}-e${k}`,
        source: `/herald/random-kills/${batch.id}`,
        type: 'dev.herald.random-kills',
        data: { batch: batch.id, size: batch.size },
      }));
      try {
        const response = await request(`${broker.url}/events`, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/cloudevents-batch+json' },
          body: JSON.stringify(events),
        });
        await response.body.text();
        if (response.statusCode !== 202) throw new Error(`batch ${batch.id}: ${response.statusCode}`);
        batch.acked = true;
        acks++;
      } catch (error) {
        if (broker.child.signalCode !== null || killing) return; // the broker died under this request
        throw error;
      }
      if (!killing && acks >= killAfterAcks) {
        killing = true;
        setTimeout(() => broker.child.kill('SIGKILL'), killDelayMs);
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  await agent.destroy();
  await broker.stop('SIGKILL');
}

describe('batches across many SIGKILLs', () => {
  it(`every batch is all or nothing and every acknowledged batch is stored (${KILLS} kills, seed ${SEED})`, async () => {
    const random = seeded(SEED);
    const batches: Batch[] = [];
    for (let round = 0; round < KILLS; round++) {
      const broker = await startBroker({
        args: ['--durability', 'fsync'],
        ...(dataDir === undefined ? {} : { dataDir }),
      });
      brokers.push(broker);
      dataDir = broker.dataDir;
      await publishUntilKilled(broker, round, random, batches);
    }
    const final = await startBroker({ dataDir: dataDir! });
    brokers.push(final);
    const log = await readLog(final.adminUrl);
    await final.stop();

    const stored = new Map<string, number>();
    const ids = new Set<string>();
    let duplicates = 0;
    for (const entry of log) {
      const id = `${String(entry.event['source'])}#${String(entry.event['id'])}`;
      if (ids.has(id)) duplicates++;
      ids.add(id);
      const batch = String(entry.event['source']).split('/').pop()!;
      stored.set(batch, (stored.get(batch) ?? 0) + 1);
    }
    const partial = batches
      .filter((b) => (stored.get(b.id) ?? 0) !== 0 && stored.get(b.id) !== b.size)
      .map((b) => `${b.id}: ${stored.get(b.id)} of ${b.size}`);
    const lost = batches.filter((b) => b.acked && stored.get(b.id) !== b.size).map((b) => b.id);
    const unacknowledgedStored = batches.filter((b) => !b.acked && stored.get(b.id) === b.size).length;
    const sequences = log.map((entry) => entry.sequence);
    console.log(
      `[random kills, seed ${SEED}] ${KILLS} kills, ${batches.length} batches sent, ` +
        `${batches.filter((b) => b.acked).length} acknowledged, ${unacknowledgedStored} stored without a 202, ` +
        `${log.length} events stored; partial batches ${partial.length}, lost ${lost.length}, duplicates ${duplicates}`,
    );
    expect(partial).toEqual([]);
    expect(lost).toEqual([]);
    expect(duplicates).toBe(0);
    expect(sequences.every((s, i) => i === 0 || s > sequences[i - 1]!)).toBe(true);
    expect(batches.filter((b) => b.acked).length).toBeGreaterThanOrEqual(KILLS);
  }, 300_000);
});
