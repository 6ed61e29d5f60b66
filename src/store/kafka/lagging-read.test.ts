import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafkaCluster } from '../../../test/infra/kafka/server.js';
import type { KafkaCluster } from '../../../test/infra/kafka/server.js';
import { sampleEvent } from '../testing/conformance.js';
import { BootstrapBrokers } from './bootstrap.js';
import type { ClientSettings, FetchedPage } from './client.js';
import { AdminClient, PartitionReader, SerialProducer, ensureTopic } from './client.js';
import { EventLog } from './event-log.js';

// A node behind the log's end answers a fetch with what it has: after a leader election the new leader's
// high watermark is its follower's, one fetch round behind what the old leader served, and a follower
// reached with stale metadata serves its own log. Kafka shows it only in a race (the failover test in
// test/kafka/replicas.test.ts met it: a subscription taken over skipped one event, its catch-up read
// answered empty at the event and it moved on to the shared tail). Here the fetches reach one real Kafka
// node, and the reader answers for a while as the node behind would: the records from `lagAt` on left
// out, the high watermark `lagAt`.
class LaggingReader extends PartitionReader {
  lagAt: number | undefined;
  /** Fetches still to be answered from behind; then the node has caught up. */
  lagFetches = 0;
  laggingAnswers = 0;
  leadersForgotten = 0;

  override async fetch(
    topic: string,
    offset: number,
    maxWaitMs: number,
    maxBytes?: number,
  ): Promise<FetchedPage> {
    const page = await super.fetch(topic, offset, maxWaitMs, maxBytes);
    const lagAt = this.lagAt;
    if (lagAt === undefined || this.lagFetches <= 0) return page;
    this.lagFetches--;
    this.laggingAnswers++;
    const records = page.records.filter((r) => r.offset < lagAt);
    const last = records[records.length - 1];
    return {
      records,
      next: last === undefined ? Math.min(offset, page.next) : last.offset + 1,
      highWatermark: lagAt,
      logStartOffset: page.logStartOffset,
    };
  }

  override forgetLeader(topic: string): void {
    this.leadersForgotten++;
    super.forgetLeader(topic);
  }
}

let kafka: KafkaCluster;
let topics = 0;
const open: Array<{ close(): Promise<void> } | { stop(): Promise<void> }> = [];

beforeAll(async () => {
  kafka = await startKafkaCluster(1);
}, 120_000);

afterAll(async () => {
  for (const client of open.reverse()) await ('close' in client ? client.close() : client.stop());
  await kafka?.stop();
});

/** An event log on a new topic of its own, read through a LaggingReader; five events appended. */
async function logWithFiveEvents(): Promise<{ log: EventLog; reader: LaggingReader }> {
  const topic = `lagging-${process.pid}-${++topics}`;
  const settings: ClientSettings = {
    brokers: new BootstrapBrokers([kafka.bootstrap]),
    clientId: `lagging-${topics}`,
    security: {},
    requestTimeoutMs: 5_000,
  };
  const admin = new AdminClient(settings);
  const reader = new LaggingReader(settings, 'read');
  const producer = new SerialProducer(settings, 'events', 1 << 20);
  open.push(admin, reader, producer);
  await admin.run('creating the topic', (a) => ensureTopic(a, topic, 1, {}));
  const log = new EventLog({
    settings,
    topic,
    producer,
    reader,
    admin,
    dedupeWindowMs: 0,
    retention: { maxAgeMs: 0, maxEvents: 0, maxBytes: 0 },
    maxBatchBytes: 1 << 20,
    followWaitMs: 100,
  });
  await log.start();
  open.push(log);
  const appended = await log.append([1, 2, 3, 4, 5].map((n) => ({ event: sampleEvent(`e${n}`) })));
  expect(appended.map((a) => a.sequence)).toEqual([1, 2, 3, 4, 5]);
  return { log, reader };
}

describe('the kafka event log read from a node behind the end it has seen', () => {
  it('reads the events once the node caught up, instead of answering that there are none', async () => {
    const { log, reader } = await logWithFiveEvents();
    // The node has the first three records only (offsets 0-2) for the next three fetches.
    reader.lagAt = 3;
    reader.lagFetches = 3;
    const events = await log.read(4, 10);
    expect(events.map((e) => [e.sequence, e.event.attributes['id']])).toEqual([
      [4, 'e4'],
      [5, 'e5'],
    ]);
    expect(reader.laggingAnswers).toBe(3);
    // Each answer from behind sent the reader to ask for the leader again.
    expect(reader.leadersForgotten).toBe(3);
    expect(log.laggingReads).toBe(3);
  }, 60_000);

  it('answers a short page where the node ends, and the rest on the next read', async () => {
    const { log, reader } = await logWithFiveEvents();
    reader.lagAt = 3;
    reader.lagFetches = 1;
    expect((await log.read(1, 10)).map((e) => e.sequence)).toEqual([1, 2, 3]);
    expect((await log.read(4, 10)).map((e) => e.sequence)).toEqual([4, 5]);
  }, 60_000);

  it('fails as unavailable while the node stays behind, and never answers empty', async () => {
    const { log, reader } = await logWithFiveEvents();
    reader.lagAt = 3;
    reader.lagFetches = Number.POSITIVE_INFINITY;
    await expect(log.read(4, 10)).rejects.toMatchObject({ code: 'HERALD_STORE_UNAVAILABLE' });
    reader.lagFetches = 0;
    expect((await log.read(4, 10)).map((e) => e.sequence)).toEqual([4, 5]);
  }, 60_000);

  it('answers empty at the end of the log', async () => {
    const { log, reader } = await logWithFiveEvents();
    expect(await log.read(6, 10)).toEqual([]);
    expect(reader.laggingAnswers).toBe(0);
    expect(log.laggingReads).toBe(0);
  }, 60_000);
});
