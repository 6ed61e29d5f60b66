// SPDX-License-Identifier: Apache-2.0
// nats-server for scenario (e), started the way test/infra/nats/server.ts does (the binary built by
// test/infra/nats/build.sh, 127.0.0.1 only, a temporary JetStream store directory), plus the direct
// `@nats-io/jetstream` async-publish baseline.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Placement } from './processes.js';
import { SERVER_CORE, spawnProcess } from './processes.js';

/** The nats-server binary, or undefined when it has not been built. */
export function natsServerBinary(): string | undefined {
  // The bench reads the same override as the test infrastructure; config/ is for the broker only.
  const override = process.env['HERALD_NATS_SERVER'];
  const cache = process.env['HERALD_CACHE'] ?? path.join(homedir(), '.cache', 'herald');
  const file = override !== undefined && override !== '' ? override : path.join(cache, 'bin', 'nats-server');
  return existsSync(file) ? file : undefined;
}

export interface NatsHandle {
  readonly url: string;
  /** User plus system CPU time of nats-server so far (ms). */
  cpuMs(): number;
  stop(): Promise<void>;
}

export async function startNats(binary: string, placement: Placement): Promise<NatsHandle> {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-bench-nats-'));
  const child = spawnProcess(
    'nats-server',
    binary,
    ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', dir],
    placement,
    SERVER_CORE,
  );
  const stop = async (): Promise<void> => {
    await child.stop(10_000);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const port = await child.waitForLine(
      (line) => /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(line)?.[1],
      20_000,
      'stderr',
    );
    return { url: `nats://127.0.0.1:${port}`, cpuMs: () => child.cpuMs(), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A direct JetStream publisher kept open across the rounds of a measurement. */
export interface DirectPublisher {
  /** Acks outstanding at a time. */
  readonly window: number;
  /** Publishes for `ms`; returns how many messages were acknowledged and over how many seconds. */
  run(ms: number): Promise<{ readonly published: number; readonly seconds: number }>;
  close(): Promise<void>;
}

/**
 * Opens a publisher of `size`-byte messages with `@nats-io/jetstream`, asynchronously, `window` acks
 * outstanding at a time, each with a `msgID` (as a broker needs for dedupe), to a file-backed stream of
 * its own.
 */
export async function openDirectPublisher(url: string, size: number, window = 256): Promise<DirectPublisher> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const stream = `BENCH_${Date.now()}`;
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    const js = jetstream(nc);
    const payload = new Uint8Array(size).fill(120);
    const subject = `${stream}.events`;
    let next = 0;
    return {
      window,
      async run(ms) {
        let published = 0;
        const start = performance.now();
        const end = start + ms;
        const worker = async (): Promise<void> => {
          while (performance.now() < end) {
            await js.publish(subject, payload, { msgID: `${stream}-${next++}` });
            published++;
          }
        };
        await Promise.all(Array.from({ length: window }, () => worker()));
        return { published, seconds: (performance.now() - start) / 1000 };
      },
      async close() {
        await jsm.streams.delete(stream).catch(() => undefined);
        await nc.close();
      },
    };
  } catch (error) {
    await nc.close();
    throw error;
  }
}
