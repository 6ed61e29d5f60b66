import { afterAll, beforeAll, expect, it } from 'vitest';
import { startKafkaCluster } from '../../../test/infra/kafka/server.js';
import type { KafkaCluster } from '../../../test/infra/kafka/server.js';
import { sampleEvent } from '../testing/conformance.js';
import type { AppendOutcome } from '../types.js';
import { createKafkaStore } from './kafka-store.js';

// Three real Kafka nodes: a record the leader wrote but has not committed needs in-sync replicas to wait for.
let cluster: KafkaCluster;

beforeAll(async () => {
  cluster = await startKafkaCluster(3);
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('stores an event once when its retry comes while the first copy waits beyond the high watermark', async () => {
  const store = createKafkaStore({
    brokers: cluster.bootstrap,
    brokerName: `suspects-${process.pid}`,
    replicationFactor: 3,
    requestTimeoutMs: 1_000,
  });
  let stopped: number | undefined;
  try {
    await store.whenReady();
    await store.append([{ event: sampleEvent('warm') }]);
    const leader = await cluster.leaderOf(store.eventsTopic);
    // Not the first bootstrap node either: a fresh client asks it for metadata, and one that hangs (rather
    // than refuses the connection) would keep every replaced client of the store from starting.
    const replica = cluster.nodes.find((node) => node.nodeId !== leader && node !== cluster.nodes[0]);
    stopped = replica?.pid;
    if (stopped === undefined) throw new Error('no replica to stop');
    // An in-sync replica stops: the leader writes the event but acks=all waits for that replica until it
    // leaves the in-sync set (replica.lag.time.max.ms, 6 s here), longer than the store waits for the
    // produce. The append answers 503 and the publisher retries it on the same replica, as
    // src/client/publisher.ts does, until it is acknowledged.
    process.kill(stopped, 'SIGSTOP');
    let outcome: AppendOutcome | undefined;
    let refused = 0;
    const deadline = Date.now() + 60_000;
    while (outcome === undefined && Date.now() < deadline) {
      try {
        [outcome] = await store.append([{ event: sampleEvent('once') }]);
      } catch (error) {
        expect(error).toMatchObject({ code: 'HERALD_STORE_UNAVAILABLE' });
        refused++;
        await sleep(100);
      }
    }
    process.kill(stopped, 'SIGCONT');
    stopped = undefined;
    expect(refused).toBeGreaterThan(0); // the first attempt was ambiguous, or nothing was tested
    expect(outcome).toBeDefined();
    const copies = (await store.read(1, 100)).filter((e) => e.event.attributes['id'] === 'once');
    expect(copies.map((e) => e.sequence)).toEqual([outcome?.sequence]);
  } finally {
    if (stopped !== undefined) process.kill(stopped, 'SIGCONT');
    await store.close();
  }
}, 180_000);
