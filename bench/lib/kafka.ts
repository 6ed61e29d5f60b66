// SPDX-License-Identifier: Apache-2.0
// A single Kafka node for scenario (g), started the way test/infra/kafka/server.ts does (the jars fetched
// by test/infra/kafka/build.sh, KRaft combined mode, 127.0.0.1 only, a temporary data directory, a small
// heap), plus the direct-produce baseline with the client Herald uses (@platformatic/kafka).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Placement } from './processes.js';
import { SERVER_CORE, spawnProcess } from './processes.js';

const KAFKA_VERSION = process.env['KAFKA_VERSION'] ?? '4.1.1';

/** The directory of the fetched Kafka jars, or undefined when test/infra/kafka/build.sh has not run. */
export function kafkaHome(): string | undefined {
  const override = process.env['HERALD_KAFKA_HOME'];
  const cache = process.env['HERALD_CACHE'] ?? path.join(homedir(), '.cache', 'herald');
  const home =
    override !== undefined && override !== '' ? override : path.join(cache, `kafka-${KAFKA_VERSION}`);
  return existsSync(path.join(home, 'libs')) ? home : undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface KafkaHandle {
  readonly bootstrap: string;
  stop(): Promise<void>;
}

export async function startKafka(home: string, placement: Placement): Promise<KafkaHandle> {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-bench-kafka-'));
  const [port, controller] = [await freePort(), await freePort()];
  const config = path.join(dir, 'server.properties');
  writeFileSync(
    config,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controller}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${path.join(dir, 'data')}`,
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'auto.create.topics.enable=false',
      '',
    ].join('\n'),
  );
  const jvm = ['-Xms256m', '-Xmx512m', '-XX:+UseSerialGC', '-cp', `${path.join(home, 'libs')}/*`];
  const format = spawnSync(
    'java',
    [...jvm, 'kafka.tools.StorageTool', 'format', '-t', 'aGVyYWxkLWJlbmNoLWthZg', '-c', config],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (format.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`formatting the Kafka node failed: ${format.stderr}`);
  }
  const child = spawnProcess('kafka', 'java', [...jvm, 'kafka.Kafka', config], placement, SERVER_CORE);
  const bootstrap = `127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await child.stop(10_000);
    rmSync(dir, { recursive: true, force: true });
  };
  const { Admin } = await import('@platformatic/kafka');
  const deadline = Date.now() + 90_000;
  for (;;) {
    const admin = new Admin({ clientId: 'herald-bench', bootstrapBrokers: [bootstrap], retries: 0 });
    try {
      const metadata = await admin.metadata({ topics: [], forceUpdate: true });
      if (metadata.brokers.size > 0) break;
    } catch {
      // not up yet
    } finally {
      await admin.close().catch(() => undefined);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error('Kafka did not start within 90 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return { bootstrap, stop };
}

export interface DirectProduceResult {
  readonly messagesPerSec: number;
  readonly produced: number;
  readonly batch: number;
}

/**
 * Produces `size`-byte records with `@platformatic/kafka` to a fresh single-partition topic, idempotent
 * with acks=all (what Herald's store uses), `batch` records per request. One request is in flight at a
 * time: that client numbers an idempotent producer's batches only when an answer arrives.
 */
export async function directProduce(
  bootstrap: string,
  size: number,
  durationSec: number,
  batch = 256,
): Promise<DirectProduceResult> {
  const { Admin, Producer, ProduceAcks } = await import('@platformatic/kafka');
  const admin = new Admin({ clientId: 'herald-bench-admin', bootstrapBrokers: [bootstrap] });
  const topic = `bench-${Date.now()}`;
  await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
  const producer = new Producer({
    clientId: 'herald-bench-producer',
    bootstrapBrokers: [bootstrap],
    idempotent: true,
    acks: ProduceAcks.ALL,
  });
  try {
    const value = Buffer.alloc(size, 120);
    const messages = Array.from({ length: batch }, () => ({ topic, partition: 0, value }));
    const run = async (ms: number): Promise<number> => {
      let produced = 0;
      const end = performance.now() + ms;
      while (performance.now() < end) {
        await producer.send({ messages });
        produced += batch;
      }
      return produced;
    };
    await run(1_000);
    const start = performance.now();
    const produced = await run(durationSec * 1000);
    const elapsed = (performance.now() - start) / 1000;
    return { messagesPerSec: produced / elapsed, produced, batch };
  } finally {
    await producer.close();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.close();
  }
}
